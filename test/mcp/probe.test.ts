// The probe against real MCP servers built with the SDK on loopback.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { probeMcpServer } from "../../src/mcp/probe.ts";
import {
  freePort,
  startHangingServer,
  startModernServer,
  startPlainHttpServer,
  startSseOnlyServer,
  startStreamableServer,
  type Running,
} from "../../src/demo/sample-servers.ts";

describe("probeMcpServer", () => {
  const running: Running[] = [];
  let streamable: Running;
  let sse: Running;
  let hanging: Running;
  let html: Running;
  let broken: Running;
  let modern: Running;
  let future: Running;

  beforeAll(async () => {
    running.push((streamable = await startStreamableServer({ name: "weather" })));
    running.push((sse = await startSseOnlyServer()));
    running.push((hanging = await startHangingServer()));
    running.push((html = await startPlainHttpServer(200)));
    running.push((broken = await startPlainHttpServer(500)));
    running.push((modern = await startModernServer({ name: "stateless" })));
    running.push((future = await startModernServer({ supported: ["2099-01-01"] })));
  });
  afterAll(async () => {
    await Promise.all(running.map((r) => r.close()));
  });

  it("completes a Streamable HTTP handshake and reports what the server declares", async () => {
    const r = await probeMcpServer(streamable.url, { timeoutMs: 5000 });
    expect(r).toMatchObject({
      success: true,
      errorKind: null,
      transport: "STREAMABLE_HTTP",
      serverInfo: { name: "weather", version: "1.2.3" },
      tools: ["echo", "add"],
      resourceCount: 1,
      promptCount: 1,
    });
    expect(r.capabilities).toEqual(expect.arrayContaining(["tools", "resources", "prompts"]));
    expect(r.protocolVersion).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    // server/discover first: the SDK's server is of the legacy era, so the handshake follows.
    expect(r.phases.map((p) => [p.name, p.ok])).toEqual([
      ["health", true],
      ["discover", false],
      ["initialize", true],
      ["tools/list", true],
      ["resources/list", true],
      ["prompts/list", true],
      ["ping", true],
    ]);
    expect(r.latencyMs).toBeGreaterThanOrEqual(0);
  });

  it("speaks the modern era to a 2026-07-28 server: server/discover then tools/list, no handshake", async () => {
    const r = await probeMcpServer(modern.url, { timeoutMs: 5000 });
    expect(r).toMatchObject({
      success: true,
      errorKind: null,
      transport: "STREAMABLE_HTTP",
      protocolVersion: "2026-07-28",
      serverInfo: { name: "stateless", version: "2.0.0" },
      capabilities: ["tools"],
      tools: ["echo"],
    });
    expect(r.phases.map((p) => [p.name, p.ok])).toEqual([
      ["health", true],
      ["discover", true],
      ["tools/list", true],
    ]);
  });

  it("says so when a modern server speaks none of our versions (-32022), without falling back to the handshake", async () => {
    const r = await probeMcpServer(future.url, { timeoutMs: 5000 });
    expect(r).toMatchObject({ success: false, errorKind: "UNSUPPORTED_VERSION" });
    expect(r.error).toContain("2099-01-01");
    expect(r.phases.map((p) => p.name)).toEqual(["health", "discover"]);
  });

  it("probes light for the background prober: the handshake and tools/list only, straight to the era the server spoke last", async () => {
    const phases = async (url: string, eraHint?: "MODERN" | "LEGACY") =>
      (await probeMcpServer(url, { timeoutMs: 5000, light: true, eraHint })).phases.map((p) => [p.name, p.ok]);
    expect(await phases(streamable.url)).toEqual([
      ["discover", false],
      ["initialize", true],
      ["tools/list", true],
    ]);
    expect(await phases(streamable.url, "LEGACY")).toEqual([
      ["initialize", true],
      ["tools/list", true],
    ]);
    expect(await phases(modern.url, "MODERN")).toEqual([
      ["discover", true],
      ["tools/list", true],
    ]);
    // A server that became modern refuses the handshake: detected afresh, within the same budget.
    const moved = await probeMcpServer(modern.url, { timeoutMs: 5000, light: true, eraHint: "LEGACY" });
    expect(moved).toMatchObject({ success: true, protocolVersion: "2026-07-28" });
    expect(moved.phases.map((p) => p.name)).toEqual(["discover", "tools/list"]);
  });

  it("falls back to the older HTTP+SSE transport", async () => {
    const r = await probeMcpServer(sse.url, { timeoutMs: 5000 });
    expect(r).toMatchObject({ success: true, transport: "SSE", serverInfo: { name: "legacy-sse", version: "0.9.0" }, tools: ["echo", "add"] });
    expect(r.phases.filter((p) => p.name === "initialize").map((p) => p.ok)).toEqual([false, true]);
  });

  it("lists tools whose output schema is not valid JSON Schema (it never calls one, so it checks no output)", async () => {
    // A legacy server, the SDK's own (low-level Server: McpServer would build the schema from Zod).
    const http = createServer(async (req, res) => {
      const server = new Server({ name: "odd-schemas", version: "1.0.0" }, { capabilities: { tools: {} } });
      server.setRequestHandler(ListToolsRequestSchema, async () => ({
        tools: [{ name: "weird", inputSchema: { type: "object" }, outputSchema: { type: "object", properties: { n: { type: "nonsense" } } } }],
      }));
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
      res.on("close", () => void transport.close());
      await server.connect(transport);
      await transport.handleRequest(req, res);
    });
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    try {
      const r = await probeMcpServer(`http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`, { timeoutMs: 5000, light: true, eraHint: "LEGACY" });
      expect(r).toMatchObject({ success: true, tools: ["weird"] });
    } finally {
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    }
  });

  it("gives up on a server that never answers, within the timeout", async () => {
    const started = Date.now();
    const r = await probeMcpServer(hanging.url, { timeoutMs: 800, healthTimeoutMs: 200 });
    expect(r).toMatchObject({ success: false, errorKind: "TIMEOUT" });
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it("says a web server that is not MCP is not MCP", async () => {
    const r = await probeMcpServer(html.url, { timeoutMs: 3000 });
    expect(r).toMatchObject({ success: false, errorKind: "PROTOCOL", httpStatus: null });
    expect(r.error).toMatch(/^Not a working MCP server: .*content type/i);
    // Both transports were tried and both said why they failed.
    expect(r.phases.filter((p) => p.name === "initialize").map((p) => [p.ok, p.detail])).toEqual([
      [false, expect.stringMatching(/text\/html/)],
      [false, expect.stringMatching(/text\/event-stream/)],
    ]);
  });

  it("reports a failing server as SERVER_ERROR, with its status", async () => {
    const r = await probeMcpServer(broken.url, { timeoutMs: 3000 });
    expect(r).toMatchObject({ success: false, errorKind: "SERVER_ERROR", httpStatus: 500 });
  });

  it("reports a host name that does not resolve as DNS", async () => {
    const r = await probeMcpServer("http://no-such-droplet.invalid/mcp", { timeoutMs: 5000 });
    expect(r).toMatchObject({ success: false, errorKind: "DNS" });
  });

  describe("failure classes from the HTTP answer", () => {
    const servers: Array<{ close(): Promise<void> }> = [];
    afterAll(async () => {
      await Promise.all(servers.map((s) => s.close()));
    });
    const answering = async (status: number, headers: Record<string, string> = {}) => {
      const http = createServer((_req, res) => res.writeHead(status, { "content-type": "text/plain", ...headers }).end("no"));
      await new Promise<void>((r) => http.listen(0, "127.0.0.1", () => r()));
      servers.push({ close: () => new Promise<void>((r) => http.close(() => r())) });
      return `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`;
    };

    it.each([
      [
        "401 with a challenge",
        401,
        { "www-authenticate": 'Bearer resource_metadata="https://x/.well-known/oauth-protected-resource"' },
        "AUTH_REQUIRED",
        /requires authorization \(Bearer\): HTTP 401/,
      ],
      ["401 without one", 401, {}, "AUTH_REQUIRED", /HTTP 401/],
      ["403 with a challenge (insufficient scope)", 403, { "www-authenticate": 'Bearer error="insufficient_scope"' }, "AUTH_REQUIRED", /HTTP 403/],
      ["403 without a challenge", 403, {}, "HTTP_STATUS", /HTTP 403/],
      ["404 on both transports", 404, {}, "WRONG_TRANSPORT", /Neither Streamable HTTP nor SSE is served at this path \(HTTP 404\)/],
      ["405 on both transports", 405, {}, "WRONG_TRANSPORT", /HTTP 405/],
      ["503", 503, {}, "SERVER_ERROR", /The server failed: HTTP 503/],
    ] as const)("%s is %s", async (_what, status, headers, kind, message) => {
      const r = await probeMcpServer(await answering(status, headers), { timeoutMs: 3000 });
      expect(r).toMatchObject({ success: false, errorKind: kind, httpStatus: status });
      expect(r.error).toMatch(message);
    });
  });

  it("reports a refused connection", async () => {
    const r = await probeMcpServer(`http://127.0.0.1:${await freePort()}/mcp`, { timeoutMs: 3000 });
    expect(r).toMatchObject({ success: false, errorKind: "REFUSED" });
  });

  describe("hostile servers", () => {
    const hostile: Running[] = [];
    const start = async (handler: Parameters<typeof createServer>[1]) => {
      const http = createServer(handler);
      await new Promise<void>((r) => http.listen(0, "127.0.0.1", () => r()));
      const port = (http.address() as AddressInfo).port;
      const running = {
        url: `http://127.0.0.1:${port}/mcp`,
        port,
        close: () =>
          new Promise<void>((r) => {
            http.closeAllConnections();
            http.close(() => r());
          }),
      };
      hostile.push(running);
      return running;
    };
    afterAll(async () => {
      await Promise.all(hostile.map((h) => h.close()));
    });

    it("does not follow a redirect to another host", async () => {
      const s = await start((_req, res) => res.writeHead(307, { location: "http://169.254.169.254/latest/meta-data/" }).end());
      const r = await probeMcpServer(s.url, { timeoutMs: 2000 });
      expect(r).toMatchObject({ success: false, errorKind: "PROTOCOL" });
      expect(r.error).toMatch(/redirect/);
      expect(JSON.stringify(r)).not.toContain("meta-data");
    });

    it("stops reading an answer larger than the cap, well before the deadline", async () => {
      const s = await start((req, res) => {
        if (req.url === "/health") return void res.writeHead(404).end();
        res.writeHead(200, { "content-type": "application/json" });
        const chunk = Buffer.alloc(64 * 1024, 32);
        const pump = () => {
          while (res.write(chunk));
        };
        res.on("drain", pump);
        pump();
      });
      const started = Date.now();
      const r = await probeMcpServer(s.url, { timeoutMs: 5000, maxResponseBytes: 256 * 1024 });
      expect(r).toMatchObject({ success: false, errorKind: "PROTOCOL" });
      expect(r.error).toMatch(/larger than 262144 bytes/);
      expect(Date.now() - started).toBeLessThan(4000);
    });

    it("refuses an answer whose declared length is over the cap without reading it", async () => {
      const s = await start((req, res) => {
        if (req.url === "/health") return void res.writeHead(404).end();
        res.writeHead(200, { "content-type": "application/json", "content-length": String(1024 * 1024 * 1024) });
        // Only the first 64 KiB of the gigabyte it announces: the probe must not wait for the rest.
        res.write(Buffer.alloc(64 * 1024, 32));
      });
      const started = Date.now();
      const r = await probeMcpServer(s.url, { timeoutMs: 5000, maxResponseBytes: 256 * 1024 });
      expect(r).toMatchObject({ success: false, errorKind: "PROTOCOL" });
      expect(r.error).toMatch(/larger than 262144 bytes/);
      expect(Date.now() - started).toBeLessThan(4000);
    });

    it("gives up on an answer that drips forever, at the deadline", async () => {
      const s = await start((req, res) => {
        if (req.url === "/health") return void res.writeHead(404).end();
        res.writeHead(200, { "content-type": "application/json" });
        const t = setInterval(() => (res.destroyed ? clearInterval(t) : res.write(" ")), 50);
      });
      const started = Date.now();
      const r = await probeMcpServer(s.url, { timeoutMs: 700 });
      expect(r).toMatchObject({ success: false, errorKind: "TIMEOUT" });
      expect(Date.now() - started).toBeLessThan(3000);
    });
  });

  it("reports an endpoint that is not a URL", async () => {
    expect(await probeMcpServer("not a url", { timeoutMs: 1000 })).toMatchObject({ success: false, errorKind: "NO_ENDPOINT" });
  });
});
