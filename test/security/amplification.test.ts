// Stored amplification: an MCP server (a tenant's own image) and a droplet agent decide what they
// answer, never how much of it we keep or return. The attack: a server with many huge tool names,
// tested again and again, then its whole history read at once.
import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { encodeGlobalID } from "@pothos/plugin-relay";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { signDevToken } from "../../src/auth/verify.ts";
import type { Db } from "../../src/data/db.ts";
import { migrate } from "../../src/data/migrate.ts";
import { SqlStore } from "../../src/data/sql-store.ts";
import type { LiveFleet } from "../../src/live/fleet.ts";
import { insertEnvironment, insertServer } from "../../fixtures/fleet.ts";
import { codes, startTestServer, type TestServer } from "../helpers/server.ts";
import { selectAll } from "../helpers/selection.ts";
import { subscribeWs, wsClient } from "../helpers/subscriptions.ts";
import { sqlTargets } from "../helpers/targets.ts";
import { until } from "../helpers/wait.ts";

const TOOLS = 150;
const NAME_LENGTH = 5000;

/** A real MCP server (the SDK's low-level Server) that declares 150 tools with 5,000-character names. */
async function startHostileMcpServer(): Promise<{ port: number; close(): Promise<void> }> {
  const http: HttpServer = createServer(async (req, res) => {
    if (req.url === "/health") return void res.writeHead(200).end("ok");
    const mcp = new Server({ name: "x".repeat(NAME_LENGTH), version: "1" }, { capabilities: { tools: {} } });
    mcp.setRequestHandler(ListToolsRequestSchema, async () => ({
      tools: Array.from({ length: TOOLS }, (_, i) => ({ name: `${i}-${"t".repeat(NAME_LENGTH)}`, inputSchema: { type: "object" as const } })),
    }));
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on("close", () => void mcp.close());
    await mcp.connect(transport);
    await transport.handleRequest(req, res);
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  return {
    port: (http.address() as AddressInfo).port,
    close: () => new Promise((resolve) => http.close(() => resolve())),
  };
}

/** The store, counting the replay pages it reads. */
class CountingStore extends SqlStore {
  replayPages = 0;
  override async serversChangedSince(...args: Parameters<SqlStore["serversChangedSince"]>) {
    this.replayPages++;
    return super.serversChangedSince(...args);
  }
}

const SECRET = "amplification-secret-0123456789abcdef01";
const ALICE = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";

describe.each(sqlTargets)("stored amplification on $name", (target) => {
  let db: Db;
  let close: () => Promise<void>;
  let hostile: Awaited<ReturnType<typeof startHostileMcpServer>>;
  let server: TestServer & { live?: LiveFleet };
  let serverId: string;
  let envId: string;
  let token: string;
  let store: CountingStore;

  const as = async (query: string, variables?: Record<string, unknown>) => {
    const res = await fetch(server.url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    });
    return (await res.json()) as { data?: any; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> };
  };

  beforeAll(async () => {
    hostile = await startHostileMcpServer();
    ({ db, close } = await target.open());
    await migrate(db);
    const env = (envId = await insertEnvironment(db, { name: "alice-droplet", publicIp: "127.0.0.1" }));
    await db.query("UPDATE account_tool_environments SET user_id = $1 WHERE id = $2", [ALICE, env]);
    serverId = await insertServer(db, {
      env,
      name: "hostile",
      status: "running",
      heartbeatSecondsAgo: 1,
      portMapping: { container_port: 8080, host_port: hostile.port },
    });
    token = await signDevToken(SECRET, { sub: ALICE, role: "authenticated" });
    server = await startTestServer((store = new CountingStore(db)), {
      live: { coalesceMs: 5 },
      env: {
        AUTH_DISABLED: "false",
        SUPABASE_JWT_SECRET: SECRET,
        CONNECTION_TEST_HISTORY: "3",
        MAX_RESPONSE_BYTES: "100000",
        MAX_SUBSCRIPTIONS_PER_VIEWER: "3",
        MAX_SUBSCRIPTIONS_PER_SOCKET: "10",
      },
    });
  });
  afterAll(async () => {
    await server?.close();
    await close?.();
    await hostile?.close();
  });

  it("keeps at most 100 tool names of at most 128 characters from one test, and a bounded server name", async () => {
    const res = await as(`mutation($id: ID!) { testServerConnection(id: $id) { success tools serverInfo { name } } }`, {
      id: encodeGlobalID("MCPServer", serverId),
    });
    expect(res.errors).toBeUndefined();
    const test = res.data.testServerConnection;
    expect(test.success).toBe(true);
    expect(test.tools).toHaveLength(100);
    expect(Math.max(...test.tools.map((t: string) => t.length))).toBe(128);
    expect(test.tools[0]).toMatch(/^0-t+…$/);
    expect(test.serverInfo.name.length).toBe(200);
    const [{ bytes }] = await db.query<{ bytes: number }>(
      "SELECT max(pg_column_size(t.*))::int AS bytes FROM mcp_connection_tests t WHERE account_tool_instance_id = $1",
      [serverId],
    );
    expect(bytes).toBeLessThan(20_000);
    // And what is kept on the server from the same answer.
    const kept = await as(`query($id: ID!) { server(id: $id) { tools { name } discoveryMetadata } }`, { id: encodeGlobalID("MCPServer", serverId) });
    expect(kept.data.server.tools).toHaveLength(100);
    expect(Math.max(...kept.data.server.tools.map((t: { name: string }) => t.name.length))).toBe(128);
    expect(kept.data.server.discoveryMetadata.toolCount).toBe(TOOLS);
    expect(JSON.stringify(kept.data.server.discoveryMetadata).length).toBeLessThan(250_000);
  });

  it("keeps only the newest CONNECTION_TEST_HISTORY tests of a server", async () => {
    for (let i = 0; i < 4; i++) {
      const res = await as(`mutation($id: ID!) { testServerConnection(id: $id) { id } }`, { id: encodeGlobalID("MCPServer", serverId) });
      expect(res.errors).toBeUndefined();
    }
    const [{ n }] = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM mcp_connection_tests WHERE account_tool_instance_id = $1", [serverId]);
    expect(n).toBe(3);
    const read = await as(`query($id: ID!) { server(id: $id) { connectionTests(first: 100) { id } } }`, { id: encodeGlobalID("MCPServer", serverId) });
    expect(read.data.server.connectionTests).toHaveLength(3);
  });

  it("refuses a response whose stored data passes MAX_RESPONSE_BYTES, with a code naming the limit", async () => {
    // Three bounded tests (~13 KB each) fit in 100 KB; the same read repeated under aliases does not.
    const one = `connectionTests(first: 100) { tools }`;
    const fits = await as(`query($id: ID!) { server(id: $id) { ${one} } }`, { id: encodeGlobalID("MCPServer", serverId) });
    expect(fits.errors).toBeUndefined();
    const aliases = Array.from({ length: 4 }, (_, i) => `a${i}: ${one}`).join(" ");
    const tooBig = await as(`query($id: ID!) { server(id: $id) { ${aliases} } }`, { id: encodeGlobalID("MCPServer", serverId) });
    expect(codes(tooBig)).toContain("BAD_USER_INPUT");
    expect(tooBig.errors![0].extensions!.limit).toBe("responseBytes");
    expect(JSON.stringify(tooBig).length).toBeLessThan(100_000);
  });

  it("caps one viewer's open subscriptions across sockets, and frees a slot when one ends", async () => {
    const a = wsClient(server.url, { authorization: `Bearer ${token}` });
    const b = wsClient(server.url, { authorization: `Bearer ${token}` });
    const q = `subscription { serverChanged { kind } }`;
    const subs = [subscribeWs(a, q), subscribeWs(a, q), subscribeWs(b, q)];
    await until(() => server.live!.serverEvents.size === 3, "three subscriptions");
    const fourth = subscribeWs(b, q);
    await expect(fourth.next()).rejects.toThrow(/"code":"BAD_USER_INPUT","limit":"subscriptionsPerViewer"/);
    subs[0].close();
    await until(() => server.live!.serverEvents.size === 2, "a slot freed");
    const again = subscribeWs(b, q);
    await until(() => server.live!.serverEvents.size === 3, "the freed slot taken");
    for (const s of [...subs, again]) s.close();
    await a.dispose();
    await b.dispose();
    await until(() => server.live!.serverEvents.size === 0, "all closed");
  });

  // On Postgres only: the same code on PGlite takes seconds of CPU that the other suites need.
  it.skipIf(target.name === "PGlite")("pauses the replay of a subscriber that stops reading, and lets it all go when the socket closes", async () => {
    // 10,000 changed servers: a replay of 10 pages, ~30 MB of events, far more than socket buffers hold.
    await db.query(
      `WITH tools AS (INSERT INTO tool_catalog (tool_name, name, package_identifier, docker_image_url)
         SELECT 'bulk-' || i, 'bulk-' || i, 'img', 'img' FROM generate_series(1, 10000) i RETURNING id)
       INSERT INTO account_tool_instances (account_tool_environment_id, tool_catalog_id, status_on_toolbox, instance_name_on_toolbox, mcp_server_type, mcp_transport_type, mcp_endpoint_path)
       SELECT $1, id, 'running', 'bulk-' || id, 'mcp_server', 'sse', '/mcp' FROM tools`,
      [envId],
    );
    const socket = new WebSocket(server.url.replace(/^http/, "ws"), "graphql-transport-ws");
    await new Promise((resolve) => socket.once("open", resolve));
    socket.send(JSON.stringify({ type: "connection_init", payload: { authorization: `Bearer ${token}` } }));
    await new Promise((resolve) => socket.once("message", resolve));
    const pagesBefore = store.replayPages;
    socket.send(
      JSON.stringify({
        id: "1",
        type: "subscribe",
        payload: {
          query: `subscription($s: DateTime) { serverChanged(since: $s) { kind server { ${selectAll("MCPServer", 1)} } } }`,
          variables: { s: new Date(Date.now() - 60_000).toISOString() },
        },
      }),
    );
    let received = 0;
    socket.on("message", () => {
      // The client reads a few events, then stops reading from its TCP socket.
      if (++received === 50) (socket as unknown as { _socket: { pause(): void } })._socket.pause();
    });
    await until(() => received >= 50, "the first events", 20_000);
    // The server stops reading pages once the client stops reading: it waits until the previous
    // event was written before executing the next.
    let settled = -1;
    await until(
      async () => {
        const now = store.replayPages;
        const same = now === settled;
        settled = now;
        await new Promise((r) => setTimeout(r, 500));
        return same;
      },
      "the replay to pause",
      20_000,
    );
    expect(store.replayPages - pagesBefore).toBeLessThanOrEqual(6);
    socket.terminate();
    await until(() => server.live!.serverEvents.size === 0, "the subscription released");
    const after = store.replayPages;
    await new Promise((r) => setTimeout(r, 500));
    expect(store.replayPages).toBe(after);
  });
});
