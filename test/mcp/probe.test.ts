// The probe against real MCP servers built with the SDK on loopback.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { probeMcpServer } from "../../src/mcp/probe.ts";
import { freePort, startHangingServer, startPlainHttpServer, startSseOnlyServer, startStreamableServer, type Running } from "../../src/mcp/sample-servers.ts";

describe("probeMcpServer", () => {
  const running: Running[] = [];
  let streamable: Running;
  let sse: Running;
  let hanging: Running;
  let html: Running;
  let broken: Running;

  beforeAll(async () => {
    running.push((streamable = await startStreamableServer({ name: "weather" })));
    running.push((sse = await startSseOnlyServer()));
    running.push((hanging = await startHangingServer()));
    running.push((html = await startPlainHttpServer(200)));
    running.push((broken = await startPlainHttpServer(500)));
  });
  afterAll(async () => {
    await Promise.all(running.map((r) => r.close()));
  });

  it("completes a Streamable HTTP handshake and reports what the server declares", async () => {
    const r = await probeMcpServer(streamable.url, { timeoutMs: 5000 });
    expect(r).toMatchObject({
      success: true, errorKind: null, transport: "STREAMABLE_HTTP", serverInfo: { name: "weather", version: "1.2.3" },
      tools: ["echo", "add"], resourceCount: 1, promptCount: 1,
    });
    expect(r.capabilities).toEqual(expect.arrayContaining(["tools", "resources", "prompts"]));
    expect(r.protocolVersion).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(r.phases.map((p) => [p.name, p.ok])).toEqual([["health", true], ["initialize", true], ["tools/list", true], ["resources/list", true], ["prompts/list", true], ["ping", true]]);
    expect(r.latencyMs).toBeGreaterThanOrEqual(0);
  });

  it("falls back to the older HTTP+SSE transport", async () => {
    const r = await probeMcpServer(sse.url, { timeoutMs: 5000 });
    expect(r).toMatchObject({ success: true, transport: "SSE", serverInfo: { name: "legacy-sse", version: "0.9.0" }, tools: ["echo", "add"] });
    expect(r.phases.filter((p) => p.name === "initialize").map((p) => p.ok)).toEqual([false, true]);
  });

  it("gives up on a server that never answers, within the timeout", async () => {
    const started = Date.now();
    const r = await probeMcpServer(hanging.url, { timeoutMs: 800, healthTimeoutMs: 200 });
    expect(r).toMatchObject({ success: false, errorKind: "TIMEOUT" });
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it("says a web server that is not MCP is not MCP", async () => {
    const r = await probeMcpServer(html.url, { timeoutMs: 3000 });
    expect(r.success).toBe(false);
    expect(["PROTOCOL", "HTTP_STATUS"]).toContain(r.errorKind);
    expect(r.error).toBeTruthy();
  });

  it("reports the HTTP status of a failing server", async () => {
    const r = await probeMcpServer(broken.url, { timeoutMs: 3000 });
    expect(r).toMatchObject({ success: false, errorKind: "HTTP_STATUS", httpStatus: 500 });
  });

  it("reports a refused connection", async () => {
    const r = await probeMcpServer(`http://127.0.0.1:${await freePort()}/mcp`, { timeoutMs: 3000 });
    expect(r).toMatchObject({ success: false, errorKind: "REFUSED" });
  });

  it("reports an endpoint that is not a URL", async () => {
    expect(await probeMcpServer("not a url", { timeoutMs: 1000 })).toMatchObject({ success: false, errorKind: "NO_ENDPOINT" });
  });
});
