// /metrics after real traffic: GraphQL timings, DTMA and MCP calls, subscribers, change-feed lag.
import { request as httpRequest } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pgliteDb } from "../../src/data/db.ts";
import { boundedLabel } from "../../src/metrics.ts";
import { migrate } from "../../src/data/migrate.ts";
import { SqlStore } from "../../src/data/sql-store.ts";
import { DtmaSimulator } from "../../src/demo/simulator.ts";
import { startPlainHttpServer, type Running } from "../../src/demo/sample-servers.ts";
import type { LiveFleet } from "../../src/live/fleet.ts";
import { insertEnvironment, insertServer } from "../../fixtures/fleet.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { subscribeWs, wsClient } from "../helpers/subscriptions.ts";
import { until } from "../helpers/wait.ts";

const KEY = "metrics-test-key-0123456789";

describe("/metrics", () => {
  let server: TestServer & { live?: LiveFleet };
  let sim: DtmaSimulator;
  let notMcp: Running;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    sim = await new DtmaSimulator({ shape: "A", apiKey: KEY }).start();
    const db = await pgliteDb(undefined);
    await migrate(db);
    ids.env = await insertEnvironment(db, { name: "m", publicIp: "127.0.0.1" });
    notMcp = await startPlainHttpServer(200);
    ids.server = await insertServer(db, { env: ids.env, name: "s", status: "running", heartbeatSecondsAgo: 1, portMapping: { host_port: notMcp.port } });
    server = await startTestServer(new SqlStore(db), {
      live: { coalesceMs: 5 },
      env: { DTMA_PORT: String(sim.port), DTMA_API_KEY: KEY, MCP_PROBE_TIMEOUT_MS: "1000" },
    });
  });
  afterAll(async () => {
    await server?.close();
    await sim?.stop();
    await notMcp?.close();
  });

  it("exposes request, resolver, DTMA, MCP and subscriber metrics, and no secret", async () => {
    const client = wsClient(server.url);
    const sub = subscribeWs(client, `subscription { serverChanged { kind } }`);
    await until(() => server.live!.serverEvents.size >= 1, "the subscription");
    await server.gql(`{ servers(first: 5) { totalCount } }`);
    await server.gql(`mutation($id: ID!) { refreshEnvironmentStatus(id: $id) { status } }`, { id: ids.env });
    await server.gql(`mutation($id: ID!) { testServerConnection(id: $id, probe: true) { success } }`, { id: ids.server }); // not an MCP server

    const text = await (await fetch(server.url.replace("/graphql", "/metrics"))).text();
    expect(text).toMatch(/graphql_envelop_request_duration_count\{[^}]*operationType="query"[^}]*\} [1-9]/);
    expect(text).toMatch(/graphql_yoga_http_duration_count\{[^}]*\} [1-9]/);
    expect(text).toMatch(/mcp_fleet_root_resolver_seconds_count\{field="Query.servers",outcome="ok"\} 1/);
    expect(text).toMatch(/mcp_fleet_root_resolver_seconds_count\{field="Mutation.refreshEnvironmentStatus",outcome="ok"\} 1/);
    expect(text).toMatch(/mcp_fleet_dtma_call_seconds_count\{route="GET \/status",outcome="200"\} 1/);
    expect(text).toMatch(/mcp_fleet_mcp_probe_seconds_count\{outcome="(PROTOCOL|HTTP_STATUS)"\} 1/);
    expect(text).toMatch(/mcp_fleet_subscribers\{kind="server"\} 1/);
    expect(text).toMatch(/mcp_fleet_change_feed_lag_seconds_count [1-9]/);
    expect(text).not.toContain(KEY);
    await sub.close();
    await client.dispose();
  });

  it("labels GraphQL metrics by operation, not by URL, and error paths without list indexes", async () => {
    const get = await fetch(`${server.url}?query=${encodeURIComponent("query ByGet { servers(first: 1) { edges { node { name } } } }")}`, {
      headers: { accept: "application/json", "x-graphql-yoga-csrf": "1" },
    });
    expect(get.status).toBe(200);
    await server.gql(`query Broken { servers(first: 1) { edges { node { name } } } a: server(id: "nope") { name } }`);
    // An error inside a list: its path has the item's index (servers.edges.0.node...), the label none.
    const inList = await server.gql(`query InList { servers(first: 1) { edges { node { connectionTests(first: 1000) { success } } } } }`);
    expect(inList.body.errors?.[0].path).toEqual(["servers", "edges", 0, "node", "connectionTests"]);

    const text = await (await fetch(server.url.replace("/graphql", "/metrics"))).text();
    expect(text).toMatch(/graphql_yoga_http_duration_count\{operationName="ByGet",operationType="query",method="GET",statusCode="200"\} 1/);
    expect(text).not.toMatch(/graphql_yoga_http_duration[^\n]*url=/);
    expect(text).toMatch(/graphql_envelop_error_result\{operationName="Broken",operationType="query",phase="execute",path="a"\} 1/);
    expect(text).toMatch(
      /graphql_envelop_error_result\{operationName="InList",operationType="query",phase="execute",path="servers.edges.node.connectionTests"\} 1/,
    );
    expect(text).not.toMatch(/path="[^"]*\.0\./);
  });
});

describe("/metrics with METRICS_TOKEN", () => {
  const TOKEN = "metrics-token-0123456789abcdef";
  let server: TestServer;
  beforeAll(async () => {
    const db = await pgliteDb(undefined);
    await migrate(db);
    server = await startTestServer(new SqlStore(db), { env: { METRICS_TOKEN: TOKEN } });
  });
  afterAll(async () => {
    await server?.close();
  });

  it.each(["/./metrics", "/graphql/../metrics", "/%2e/metrics", "/%2E/metrics", "/metrics/", "/metrics?x=1", "//metrics", "/graphql/%2e%2e/metrics"])(
    "refuses %s without the token, as the path the metrics plugin answers",
    async (path) => {
      const { port } = new URL(server.url);
      // Sent as written: fetch would normalise the path first.
      const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest({ host: "127.0.0.1", port: Number(port), path, method: "GET" }, (r) => {
          let body = "";
          r.on("data", (c) => (body += c));
          r.on("end", () => resolve({ status: r.statusCode ?? 0, body }));
        });
        req.on("error", reject);
        req.end();
      });
      expect(res.body).not.toContain("mcp_fleet_subscribers");
      expect(res.body).not.toContain("# HELP");
    },
  );

  it("answers only with the token, and GraphQL is unaffected", async () => {
    const url = server.url.replace("/graphql", "/metrics");
    expect((await fetch(url)).status).toBe(401);
    expect((await fetch(`${url}?x=1`, { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
    expect((await fetch(url, { headers: { authorization: `Bearer ${TOKEN}x` } })).status).toBe(401);
    const ok = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain("mcp_fleet_subscribers");
    expect((await server.gql(`{ servers(first: 1) { totalCount } }`)).body.data.servers.totalCount).toBe(0);
  });
});

describe("boundedLabel", () => {
  it("keeps the first values a client sends, then counts the rest as other", () => {
    const label = boundedLabel(3, 10);
    expect(["a", "b", "a", "c", "d", "b", "a-very-long-name"].map(label)).toEqual(["a", "b", "a", "c", "other", "b", "other"]);
  });
});
