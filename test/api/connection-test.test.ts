// testServerConnection end to end: real SDK MCP servers on loopback stand where the droplet's
// published ports would be; the result is stored, read back and published.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeGlobalID } from "@pothos/plugin-relay";
import { migrate } from "../../src/data/migrate.ts";
import { SqlStore } from "../../src/data/sql-store.ts";
import type { LiveFleet } from "../../src/live/fleet.ts";
import { freePort, startHangingServer, startModernServer, startStreamableServer, type Running } from "../../src/demo/sample-servers.ts";
import { insertEnvironment, insertServer } from "../../fixtures/fleet.ts";
import { codes, startTestServer, type TestServer } from "../helpers/server.ts";
import { subscribeWs, wsClient } from "../helpers/subscriptions.ts";
import { until } from "../helpers/wait.ts";
import { sqlTargets } from "../helpers/targets.ts";

const TEST = `mutation($id: ID!) { testServerConnection(id: $id) {
  success error errorKind httpStatus latency transport endpoint capabilities tools protocolVersion era serverInfo { name version } timestamp
  phases { name durationMs ok } } }`;

describe.each(sqlTargets)("testServerConnection on $name", (target) => {
  let server: TestServer & { live?: LiveFleet };
  let close: () => Promise<void>;
  let mcp: Running;
  let hanging: Running;
  let modern: Running;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    mcp = await startStreamableServer({ name: "weather" });
    hanging = await startHangingServer();
    modern = await startModernServer({ name: "stateless" });
    const opened = await target.open();
    close = opened.close;
    const db = opened.db;
    await migrate(db);
    const env = await insertEnvironment(db, { name: "loopback-droplet", publicIp: "127.0.0.1" });
    const noIp = await insertEnvironment(db, { name: "unprovisioned", publicIp: null });
    ids.ok = await insertServer(db, {
      env,
      name: "weather",
      status: "running",
      heartbeatSecondsAgo: 1,
      portMapping: { container_port: 8080, host_port: mcp.port },
    });
    ids.modern = await insertServer(db, {
      env,
      name: "stateless",
      status: "running",
      heartbeatSecondsAgo: 1,
      portMapping: { container_port: 8080, host_port: modern.port },
    });
    ids.hangs = await insertServer(db, {
      env,
      name: "hangs",
      status: "running",
      heartbeatSecondsAgo: 1,
      portMapping: { container_port: 8080, host_port: hanging.port },
    });
    ids.noIp = await insertServer(db, { env: noIp, name: "nowhere", status: "pending_deploy" });
    ids.stopped = await insertServer(db, {
      env,
      name: "stopped-weather",
      status: "stopped",
      heartbeatSecondsAgo: 1,
      portMapping: { container_port: 8080, host_port: mcp.port },
    });
    const refused = await freePort();
    ids.placeholderEnv = await insertServer(db, {
      env,
      name: "templated",
      status: "running",
      heartbeatSecondsAgo: 1,
      portMapping: { container_port: 8080, host_port: refused },
    });
    await db.query("UPDATE account_tool_instances SET base_config_override_json = $2::jsonb WHERE id = $1", [
      ids.placeholderEnv,
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a placeholder as users write it
      JSON.stringify({ Env: ["API_KEY=${API_KEY}", "TOKEN=sk-real-secret-value", "REGION={{ region }}"] }),
    ]);
    ids.placeholderPath = await insertServer(db, {
      env,
      name: "templated-path",
      status: "running",
      heartbeatSecondsAgo: 1,
      portMapping: { container_port: 8080, host_port: mcp.port },
    });
    await db.query("UPDATE account_tool_instances SET mcp_endpoint_path = '/{{MCP_PATH}}' WHERE id = $1", [ids.placeholderPath]);
    server = await startTestServer(new SqlStore(db), { live: { coalesceMs: 5 }, env: { MCP_PROBE_TIMEOUT_MS: "800" } });
  });

  it("says which environment variables still hold a placeholder when a test fails, by name only", async () => {
    const { body } = await server.gql(TEST, { id: ids.placeholderEnv });
    const result = body.data.testServerConnection;
    expect(result).toMatchObject({ success: false, errorKind: "PLACEHOLDER" });
    expect(result.error).toMatch(/^API_KEY, REGION still hold a placeholder \(the probe failed: Connection refused/);
    expect(JSON.stringify(body)).not.toContain("sk-real-secret-value");
  });

  it("does not probe an endpoint that still holds a placeholder", async () => {
    const { body } = await server.gql(TEST, { id: ids.placeholderPath });
    expect(body.data.testServerConnection).toMatchObject({ success: false, errorKind: "PLACEHOLDER", phases: [] });
    expect(body.data.testServerConnection.error).toMatch(/^The endpoint still holds a placeholder: http:\/\/127\.0\.0\.1:\d+\/\{\{MCP_PATH\}\}$/);
  });
  afterAll(async () => {
    await server?.close();
    await close?.();
    await mcp?.close();
    await hanging?.close();
    await modern?.close();
  });

  it("runs a real MCP handshake against the server's endpoint, stores it and publishes it", async () => {
    const client = wsClient(server.url);
    const sub = subscribeWs(client, `subscription($ids: [ID!]) { connectionTested(serverIds: $ids) { success tools } }`, { ids: [ids.ok] });
    await until(() => server.live!.connectionTests.size >= 1, "the subscription");

    const { body } = await server.gql(TEST, { id: encodeGlobalID("MCPServer", ids.ok) });
    expect(body.errors).toBeUndefined();
    const result = body.data.testServerConnection;
    expect(result).toMatchObject({
      success: true,
      error: null,
      errorKind: null,
      transport: "STREAMABLE_HTTP",
      endpoint: `http://127.0.0.1:${mcp.port}/mcp`,
      tools: ["echo", "add"],
      serverInfo: { name: "weather", version: "1.2.3" },
      era: "LEGACY",
    });
    expect(result.capabilities).toEqual(expect.arrayContaining(["prompts", "resources", "tools"]));
    expect(result.phases.map((p: any) => p.name)).toEqual(["health", "discover", "initialize", "tools/list", "resources/list", "prompts/list", "ping"]);
    expect(await sub.next()).toEqual({ connectionTested: { success: true, tools: ["echo", "add"] } });

    const history = await server.gql(`query($id: ID!) { server(id: $id) { lastConnectionTest { success timestamp } connectionTests(first: 5) { success } } }`, {
      id: ids.ok,
    });
    expect(history.body.data.server.lastConnectionTest).toEqual({ success: true, timestamp: result.timestamp });
    expect(history.body.data.server.connectionTests).toHaveLength(1);
    await sub.close();
    await client.dispose();
  });

  it("tests a server of the modern era (2026-07-28) with server/discover, and says which era answered", async () => {
    const { body } = await server.gql(TEST, { id: ids.modern });
    expect(body.errors).toBeUndefined();
    expect(body.data.testServerConnection).toMatchObject({
      success: true,
      era: "MODERN",
      protocolVersion: "2026-07-28",
      serverInfo: { name: "stateless", version: "2.0.0" },
      tools: ["echo"],
    });
    expect(body.data.testServerConnection.phases.map((p: any) => p.name)).toEqual(["health", "discover", "tools/list"]);
  });

  it("reports a server that never answers as TIMEOUT, within the configured deadline", async () => {
    const started = Date.now();
    const { body } = await server.gql(TEST, { id: ids.hangs });
    expect(body.data.testServerConnection).toMatchObject({ success: false, errorKind: "TIMEOUT" });
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it("reports NO_ENDPOINT for a server on a droplet with no address, and keeps the history newest first", async () => {
    const { body } = await server.gql(TEST, { id: ids.noIp });
    expect(body.data.testServerConnection).toMatchObject({
      success: false,
      errorKind: "NO_ENDPOINT",
      endpoint: null,
      error: "The droplet has no public IP address yet",
    });
    await server.gql(TEST, { id: ids.noIp });
    const list = await server.gql(`query($id: ID!) { server(id: $id) { connectionTests(first: 1) { errorKind } } }`, { id: ids.noIp });
    expect(list.body.data.server.connectionTests).toEqual([{ errorKind: "NO_ENDPOINT" }]);
  });

  it("answers NOT_FOUND for an unknown server and BAD_USER_INPUT for a malformed id", async () => {
    expect(codes((await server.gql(TEST, { id: "00000000-0000-4000-8000-000000000009" })).body)).toEqual(["NOT_FOUND"]);
    expect(codes((await server.gql(TEST, { id: "x" })).body)).toEqual(["BAD_USER_INPUT"]);
  });
  it("answers NOT_RUNNING for a server that is not running, without probing; probe: true tries anyway", async () => {
    const q = `mutation($id: ID!, $probe: Boolean) { testServerConnection(id: $id, probe: $probe) { success errorKind error phases { name } } }`;
    const id = encodeGlobalID("MCPServer", ids.stopped);
    const skipped = (await server.gql(q, { id })).body.data.testServerConnection;
    expect(skipped).toEqual({ success: false, errorKind: "NOT_RUNNING", error: expect.stringMatching(/not running \(stopped\)/), phases: [] });
    const probed = (await server.gql(q, { id, probe: true })).body.data.testServerConnection;
    expect(probed).toMatchObject({ success: true, errorKind: null });
  });
  it("keeps what a successful test learned on the server: tools with descriptions and schemas, capabilities, server info, when", async () => {
    const id = encodeGlobalID("MCPServer", ids.ok);
    expect((await server.gql(`mutation($id: ID!) { testServerConnection(id: $id) { success } }`, { id })).body.data.testServerConnection.success).toBe(true);
    const { body } = await server.gql(
      `query($id: ID!) { server(id: $id) { tools { name description inputSchema } capabilities discoveryMetadata discoveredAt } }`,
      { id },
    );
    const s = body.data.server;
    expect(s.tools.map((t: any) => [t.name, t.description])).toEqual([
      ["echo", "Echoes its text"],
      ["add", "Adds two numbers"],
    ]);
    expect(s.tools[0].inputSchema).toMatchObject({ type: "object", properties: { text: { type: "string" } } });
    expect(Object.keys(s.capabilities)).toEqual(expect.arrayContaining(["tools", "resources", "prompts"]));
    expect(s.discoveryMetadata).toMatchObject({ serverInfo: { name: "weather", version: "1.2.3" }, transport: "STREAMABLE_HTTP", toolCount: 2 });
    expect(s.discoveryMetadata.protocolVersion).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(new Date(s.discoveredAt).getTime()).toBeLessThanOrEqual(Date.now());
  });

  it("does not rewrite the server when a test learns the same again: no change event for dashboards, discoveredAt kept", async () => {
    const id = encodeGlobalID("MCPServer", ids.ok);
    const discoveredAt = async () => (await server.gql(`query($id: ID!) { server(id: $id) { discoveredAt } }`, { id })).body.data.server.discoveredAt;
    await server.gql(`mutation($id: ID!) { testServerConnection(id: $id) { success } }`, { id });
    const first = await discoveredAt();
    const client = wsClient(server.url);
    const sub = subscribeWs(client, `subscription($ids: [ID!]) { serverChanged(filter: { serverIds: $ids }) { kind source } }`, { ids: [id] });
    await until(() => server.live!.serverEvents.size >= 1, "the subscription");
    expect((await server.gql(`mutation($id: ID!) { testServerConnection(id: $id) { success } }`, { id })).body.data.testServerConnection.success).toBe(true);
    expect(await sub.quiet(300)).toBe(true);
    expect(await discoveredAt()).toBe(first);
    await sub.close();
    await client.dispose();
  });
});
