import { readFileSync } from "node:fs";
// The read API through HTTP against a started server, on PGlite and on real Postgres.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeGlobalID } from "@pothos/plugin-relay";
import type { Db } from "../../src/data/db.ts";
import { migrate } from "../../src/data/migrate.ts";
import { generateFleet } from "../../src/data/seed.ts";
import { SqlStore } from "../../src/data/sql-store.ts";
import { insertEnvironment, insertServer } from "../../fixtures/fleet.ts";
import { sqlTargets } from "../helpers/targets.ts";
import { codes, startTestServer, type TestServer } from "../helpers/server.ts";
import { selectAll } from "../helpers/selection.ts";

const SERVER_FIELDS = `id uuid name rawStatus serverType transport endpoint endpointProblem endpointProblemReason
  status { state health uptime lastStarted lastError heartbeatAge } capabilities discoveryMetadata lastHeartbeat createdAt updatedAt
  environment { id uuid name status publicIP privateIP region size image lastHeartbeatAt dtmaVersion systemMetrics { cpuLoadPercent memory { usedPercent } } }`;

describe.each(sqlTargets)("read API on $name", (target) => {
  let db: Db;
  let close: () => Promise<void>;
  let server: TestServer;
  let statements: string[] = [];
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    ({ db, close } = await target.open());
    await migrate(db);
    ids.env = await insertEnvironment(db, {
      name: "edge",
      publicIp: "203.0.113.9",
      privateIp: "10.1.2.3",
      metrics: { cpu_load_percent: 40, memory: { total_bytes: 100, used_bytes: 25 } },
    });
    ids.noIp = await insertEnvironment(db, { name: "fresh", status: "provisioning", publicIp: null });
    ids.running = await insertServer(db, {
      env: ids.env,
      name: "alpha",
      status: "running",
      heartbeatSecondsAgo: 30,
      portMapping: { container_port: 8080, host_port: 49152 },
    });
    ids.pending = await insertServer(db, { env: ids.noIp, name: "beta", status: "pending_deploy" });
    ids.errored = await insertServer(db, { env: ids.env, name: "gamma", status: "error", error: "image pull failed" });
    await generateFleet(db, { environments: 40, serversPerEnvironment: 5 });
    db.onStatement((text) => statements.push(text));
    // The statement-count walk below selects every field: above the default cost limit, on purpose.
    server = await startTestServer(new SqlStore(db), { env: { GRAPHQL_MAX_COST: "10000000", GRAPHQL_MAX_DEPTH: "20" } });
  });
  afterAll(async () => {
    await server?.close(); // closes the store and its database
    await close?.();
  });

  async function counted<T>(fn: () => Promise<T>): Promise<{ result: T; count: number }> {
    statements = [];
    const result = await fn();
    return { result, count: statements.length };
  }

  it("serves 100 servers with their environments in 2 SQL statements (the page, then its environments)", async () => {
    const { result, count } = await counted(() =>
      server.gql(`{ servers(first: 100) { edges { cursor node { ${SERVER_FIELDS} } } pageInfo { hasNextPage endCursor } } }`),
    );
    expect(result.body.errors).toBeUndefined();
    expect(result.body.data.servers.edges).toHaveLength(100);
    expect(new Set(result.body.data.servers.edges.map((e: any) => e.node.environment.uuid)).size).toBeGreaterThan(15);
    expect(count).toBe(2);
  });

  it("costs the same 2 statements for a page of 500, and 1 when the selection reads nothing of the droplets", async () => {
    const { result, count } = await counted(() => server.gql(`{ servers(first: 500) { edges { node { name environment { name publicIP } } } } }`));
    expect(result.body.data.servers.edges).toHaveLength(203);
    expect(count).toBe(2);
    const names = await counted(() => server.gql(`{ servers(first: 500) { edges { node { name status { state } } } } }`));
    expect(names.result.body.data.servers.edges).toHaveLength(203);
    expect(names.count).toBe(1);
  });

  it("nests servers under environments in 2 statements", async () => {
    const { result, count } = await counted(() =>
      server.gql(
        `{ environments(first: 50) { edges { node { name servers(first: 3) { edges { node { name environment { name } } } pageInfo { hasNextPage } } } } } }`,
      ),
    );
    expect(result.body.errors).toBeUndefined();
    const envs = result.body.data.environments.edges.map((e: any) => e.node);
    expect(envs).toHaveLength(42);
    const edge = envs.find((e: any) => e.name === "edge");
    expect(edge.servers.edges.map((e: any) => e.node.name)).toEqual(["alpha", "gamma"]);
    expect(envs.find((e: any) => e.name === "gen-env-00001").servers.pageInfo.hasNextPage).toBe(true);
    expect(count).toBe(2);
  });

  // Every list and connection field, at page size 100, nested: walked from the schema, so a field
  // added later is covered without anyone remembering to. No field may cost a statement per row.
  it.each(["servers", "environments", "catalog"])("reads %s(first: 100) with every field nested in a few statements, not one per row", async (root) => {
    const type = { servers: "MCPServer", environments: "Environment", catalog: "CatalogTool" }[root] as string;
    const query = (first: number) => `{ ${root}(first: ${first}) { totalCount edges { node { ${selectAll(type, 4)} } } } }`;
    const { result, count } = await counted(() => server.gql(query(100)));
    expect(result.body.errors).toBeUndefined();
    expect(result.body.data[root].edges.length).toBeGreaterThan(root === "catalog" ? 0 : 40);
    // A statement per batched field, never per row: 100 rows cost what 2 do, within a small bound.
    const few = await counted(() => server.gql(query(2)));
    expect(count, statements.join("\n---\n").slice(0, 2000)).toBe(few.count);
    expect(count).toBeLessThanOrEqual(12);
  });

  it("counts the fleet by state, health, droplet status and region in 1 statement, matching the lists", async () => {
    const { result, count } = await counted(() =>
      server.gql(
        `{ fleetSummary { servers byState { state count } byHealth { health count } environments byEnvironmentStatus { status count } byRegion { region servers environments } } }`,
      ),
    );
    expect(result.body.errors).toBeUndefined();
    expect(count).toBe(1);
    const summary = result.body.data.fleetSummary;
    const total = (await server.gql(`{ servers { totalCount } environments { totalCount } }`)).body.data;
    expect(summary.servers).toBe(total.servers.totalCount);
    expect(summary.environments).toBe(total.environments.totalCount);
    for (const { state, count: n } of summary.byState) {
      const listed = (await server.gql(`query($s: [ServerState!]) { servers(filter: { states: $s }) { totalCount } }`, { s: [state] })).body.data;
      expect(n, state).toBe(listed.servers.totalCount);
    }
    // Health moves with heartbeat age: the generated servers' ages spread over 20 minutes, so one
    // can cross a threshold between the summary and a list. Compared while the summary holds still.
    const byHealth = async () => (await server.gql("{ fleetSummary { byHealth { health count } } }")).body.data.fleetSummary.byHealth;
    for (let attempt = 1; ; attempt++) {
      const before = await byHealth();
      const listed: Record<string, number> = {};
      for (const { health } of before) {
        const page = await server.gql(`query($h: [ServerHealth!]) { servers(filter: { healths: $h }) { totalCount } }`, { h: [health] });
        listed[health] = page.body.data.servers.totalCount;
      }
      const after = await byHealth();
      if (JSON.stringify(after) !== JSON.stringify(before) && attempt < 5) continue;
      for (const { health, count } of before) expect(listed[health], health).toBe(count);
      expect(after).toEqual(before);
      break;
    }
    expect(summary.byState.reduce((n: number, c: { count: number }) => n + c.count, 0)).toBe(summary.servers);
    expect(summary.byRegion.reduce((n: number, r: { servers: number }) => n + r.servers, 0)).toBe(summary.servers);
    const filtered = (await server.gql(`query($e: [ID!]) { fleetSummary(filter: { environmentIds: $e }) { servers environments } }`, { e: [ids.env] })).body;
    expect(filtered.data.fleetSummary).toEqual({ servers: 2, environments: 1 });
  });

  it("derives status, health, endpoint and metrics for a running server", async () => {
    const { body } = await server.gql(`query($id: ID!) { server(id: $id) { ${SERVER_FIELDS} } }`, { id: ids.running });
    const s = body.data.server;
    expect(s).toMatchObject({
      uuid: ids.running,
      name: "alpha",
      rawStatus: "running",
      serverType: "MCP_SERVER",
      transport: "SSE",
      endpoint: "http://203.0.113.9:49152/mcp",
      endpointProblem: null,
      status: { state: "RUNNING", health: "HEALTHY", lastError: null },
      environment: {
        uuid: ids.env,
        name: "edge",
        status: "active",
        publicIP: "203.0.113.9",
        privateIP: "10.1.2.3",
        systemMetrics: { cpuLoadPercent: 40, memory: { usedPercent: 25 } },
      },
    });
    expect(s.status.heartbeatAge).toBeGreaterThanOrEqual(30);
    expect(s.status.uptime).toBeGreaterThanOrEqual(0);
  });

  it("explains a missing endpoint when the droplet has no address", async () => {
    const { body } = await server.gql(`query($id: ID!) { server(id: $id) { endpoint endpointProblem endpointProblemReason status { state health } } }`, {
      id: ids.pending,
    });
    expect(body.data.server).toEqual({
      endpoint: null,
      endpointProblem: "NO_PUBLIC_ADDRESS",
      endpointProblemReason: "The droplet has no public IP address yet",
      status: { state: "STARTING", health: "UNKNOWN" },
    });
  });

  it("reports an errored server unhealthy with its stored error", async () => {
    const { body } = await server.gql(`query($id: ID!) { server(id: $id) { status { state health lastError } } }`, { id: ids.errored });
    expect(body.data.server.status).toEqual({ state: "ERROR", health: "UNHEALTHY", lastError: "image pull failed" });
  });

  it("loads a single server and its environment in 2 statements", async () => {
    const { result, count } = await counted(() => server.gql(`query($id: ID!) { server(id: $id) { name environment { name } } }`, { id: ids.running }));
    expect(result.body.data.server).toEqual({ name: "alpha", environment: { name: "edge" } });
    expect(count).toBe(2);
  });

  it("reads only the columns the selection needs, through fragments, and answers the same", async () => {
    const narrow = await counted(() =>
      server.gql(`{ servers(first: 100) { edges { node { ...N } } } } fragment N on MCPServer { name ... on MCPServer { status { state } } }`),
    );
    expect(narrow.count).toBe(1);
    const select = statements.at(-1)!.slice(0, statements.at(-1)!.indexOf(" FROM "));
    expect(select).toContain("instance_error_message"); // status reads it
    for (const unread of ["mcp_server_capabilities", "mcp_discovery_metadata", "tool_catalog_id", "base_config_override_json"])
      expect(select).not.toContain(unread);
    const full = await server.gql(`{ servers(first: 100) { edges { node { name status { state } capabilities } } } }`);
    expect(narrow.result.body.data.servers.edges).toEqual(
      full.body.data.servers.edges.map((e: any) => ({ node: { name: e.node.name, status: e.node.status } })),
    );
  });

  it("reads a status's axes only when they are selected, and answers them as a full read does", async () => {
    await db.query(
      `UPDATE account_tool_instances SET mcp_fleet_desired_state = 'STOPPED', mcp_fleet_reachability = 'SLOW', mcp_fleet_risk = 'HIGH',
         mcp_fleet_recovery = '{"state":"GAVE_UP","attempts":[],"trigger":"AGENT","reason":"x","lastError":null,"since":"2026-11-27T00:00:00Z"}' WHERE id = $1`,
      [ids.running],
    );
    await counted(() => server.gql(`{ servers(first: 100) { edges { node { name status { state } } } } }`));
    for (const unread of ["mcp_fleet_desired_state", "mcp_fleet_reachability", "mcp_fleet_recovery", "mcp_fleet_risk"])
      expect(statements.at(-1)).not.toContain(unread);
    const axes = "status { desired reachability recovery risk }";
    const page = await server.gql(`{ servers(first: 100) { edges { node { uuid ...A } } } } fragment A on MCPServer { ${axes} }`);
    const one = await server.gql(`query($id: ID!) { server(id: $id) { ${axes} } }`, { id: ids.running });
    const onPage = page.body.data.servers.edges.find((e: any) => e.node.uuid === ids.running).node.status;
    expect(onPage).toEqual({ desired: "STOPPED", reachability: "SLOW", recovery: "GAVE_UP", risk: "HIGH" });
    expect(one.body.data.server.status).toEqual(onPage);
  });

  it("answers a full server after a page that read some columns, in the same request", async () => {
    const { body } = await server.gql(
      `query($id: ID!) { servers(first: 100) { edges { node { name } } } server(id: $id) { name rawStatus capabilities createdAt endpoint } }`,
      { id: ids.running },
    );
    expect(body.errors).toBeUndefined();
    expect(body.data.server).toMatchObject({ name: "alpha", rawStatus: "running", createdAt: expect.any(String) });
  });

  it("reads only the environment columns the selection needs, and answers the same", async () => {
    const narrow = await counted(() => server.gql(`{ servers(first: 100) { edges { node { name endpoint environment { name publicIP } } } } }`));
    expect(narrow.count).toBe(2);
    const select = statements.at(-1)!;
    expect(select).toContain("public_ip_address");
    for (const unread of ["dtma_health_details_json", "provisioning_error_message", "image_slug", "last_heartbeat_at"]) expect(select).not.toContain(unread);
    const full = await server.gql(
      `{ servers(first: 100) { edges { node { name endpoint capabilities environment { name publicIP systemMetrics { cpuLoadPercent } } } } } }`,
    );
    expect(full.body.errors).toBeUndefined();
    expect(narrow.result.body.data.servers.edges).toEqual(
      full.body.data.servers.edges.map((e: any) => ({
        node: { name: e.node.name, endpoint: e.node.endpoint, environment: { name: e.node.environment.name, publicIP: e.node.environment.publicIP } },
      })),
    );
    const withMetrics = await counted(() => server.gql(`{ servers(first: 100) { edges { node { name environment { systemMetrics { cpuLoadPercent } } } } } }`));
    expect(statements.at(-1)).toContain("dtma_health_details_json");
    expect(withMetrics.result.body.data.servers.edges.find((e: any) => e.node.name === "alpha").node.environment.systemMetrics).toEqual({ cpuLoadPercent: 40 });
  });

  it("answers a whole environment after a page that read some of its columns, in the same request", async () => {
    const { body } = await server.gql(
      `query($id: ID!) { servers(first: 100) { edges { node { name environment { name } } } } environment(id: $id) { name region systemMetrics { cpuLoadPercent } } server(id: "${ids.running}") { environment { systemMetrics { cpuLoadPercent } } } }`,
      { id: ids.env },
    );
    expect(body.errors).toBeUndefined();
    expect(body.data.environment).toEqual({ name: "edge", region: expect.any(String), systemMetrics: { cpuLoadPercent: 40 } });
    expect(body.data.server.environment.systemMetrics).toEqual({ cpuLoadPercent: 40 });
  });

  it.each(["Environment", "MCPServer", "MCPServerStatus"])("knows the columns every %s field reads", async (typeName) => {
    const { buildSchema } = await import("../../src/schema/index.ts");
    const { declaredReads } = await import("../../src/schema/selection.ts");
    const type = buildSchema().getType(typeName) as import("graphql").GraphQLObjectType;
    const declared = declaredReads(type);
    for (const name of Object.keys(type.getFields())) expect(declared.has(name), `${typeName}.${name} declares what it reads`).toBe(true);
  });

  it("finds a server by its global id, by its UUID and through node(id)", async () => {
    const globalId = encodeGlobalID("MCPServer", ids.running);
    const { body } = await server.gql(
      `query($g: ID!, $u: ID!) { a: server(id: $g) { name } b: server(id: $u) { id } node(id: $g) { ... on MCPServer { name } } }`,
      { g: globalId, u: ids.running },
    );
    expect(body.data).toEqual({ a: { name: "alpha" }, b: { id: globalId }, node: { name: "alpha" } });
  });

  it("gives every node its global id, and node(id) finds it again", async () => {
    const { body } = await server.gql(`query($id: ID!) { server(id: $id) { id environment { id } } }`, { id: ids.running });
    const { id, environment } = body.data.server;
    expect(id).toBe(encodeGlobalID("MCPServer", ids.running));
    expect(environment.id).toBe(encodeGlobalID("Environment", ids.env));
    const again = await server.gql(`query($a: ID!, $b: ID!) { a: node(id: $a) { id } b: node(id: $b) { id } }`, { a: id, b: environment.id });
    expect(again.body.data).toEqual({ a: { id }, b: { id: environment.id } });
  });

  it("returns null for an unknown id", async () => {
    const { body } = await server.gql(
      `{ server(id: "00000000-0000-4000-8000-00000000abcd") { name } environment(id: "00000000-0000-4000-8000-00000000abcd") { name } }`,
    );
    expect(body).toEqual({ data: { server: null, environment: null } });
  });

  it("refuses malformed ids, ids of another type and bad cursors with BAD_USER_INPUT", async () => {
    const envGlobal = encodeGlobalID("Environment", ids.env);
    const { body } = await server.gql(`query($e: ID!) { a: server(id: "1 OR 1=1") { name } b: server(id: $e) { name } }`, { e: envGlobal });
    expect(codes(body)).toEqual(["BAD_USER_INPUT", "BAD_USER_INPUT"]);
    expect(body.errors![1].message).toContain("is the id of a Environment, not a MCPServer");
    const cursor = await server.gql(`{ servers(first: 1, after: "not-a-cursor") { edges { cursor } } }`);
    expect(codes(cursor.body)).toEqual(["BAD_USER_INPUT"]);
  });

  it("refuses a page above the maximum, negative sizes and mixed directions, with a message", async () => {
    const big = await server.gql(`{ servers(first: 501) { edges { cursor } } }`);
    expect(codes(big.body)).toEqual(["BAD_USER_INPUT"]);
    expect(big.body.errors![0].message).toBe("`first` may be at most 500 (got 501); page with `after`");
    expect(codes((await server.gql(`{ servers(first: -1) { edges { cursor } } }`)).body)).toEqual(["BAD_USER_INPUT"]);
    const both = await server.gql(`{ servers(first: 5, last: 5) { edges { cursor } } }`);
    expect(both.body.errors![0]).toMatchObject({ message: "Give `first` or `last`, not both", extensions: { code: "BAD_USER_INPUT" } });
    const last = await server.gql(`{ servers(last: 501) { edges { cursor } } }`);
    expect(last.body.errors![0].message).toBe("`last` may be at most 500 (got 501); page with `before`");
  });

  it("sorts servers by health worst first, in one statement, and pages backward to the same list", async () => {
    const q = `query($first: Int, $last: Int, $after: String, $before: String) {
      servers(first: $first, last: $last, after: $after, before: $before, orderBy: { field: HEALTH }) {
        edges { cursor node { id status { health } } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`;
    type Conn = {
      edges: Array<{ cursor: string; node: { id: string; status: { health: string } } }>;
      pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string; endCursor: string };
    };
    // A server whose heartbeat crosses a threshold during the walk would move in the order (the
    // generated ones have ages all over 0-20 minutes): none is left within a minute of one, each
    // staying in its health.
    for (const [from, to, moved] of [
      [300, 240, 200],
      [900, 840, 800],
    ]) {
      await db.query(
        `UPDATE account_tool_instances SET last_heartbeat_from_dtma = now() - make_interval(secs => $3)
         WHERE last_heartbeat_from_dtma BETWEEN now() - make_interval(secs => $1) AND now() - make_interval(secs => $2)`,
        [from, to, moved],
      );
    }
    const { result, count } = await counted(() => server.gql<{ servers: Conn }>(q, { first: 500 }));
    expect(result.body.errors).toBeUndefined();
    expect(count).toBe(1);
    const all = result.body.data!.servers.edges.map((e) => ({ id: e.node.id, health: e.node.status.health }));
    const rank = ["UNHEALTHY", "DEGRADED", "UNKNOWN", "HEALTHY"];
    expect(all.map((n) => rank.indexOf(n.health))).toEqual(all.map((n) => rank.indexOf(n.health)).sort((a, b) => a - b));
    expect(all.length).toBeGreaterThan(200);
    expect(all.find((n) => n.id === encodeGlobalID("MCPServer", ids.errored))!.health).toBe("UNHEALTHY");
    // Backward by 50 from the end walks the same list; each page knows what lies on either side.
    const seen: string[] = [];
    let before: string | undefined;
    for (;;) {
      const page = (await server.gql<{ servers: Conn }>(q, { last: 50, before })).body.data!.servers;
      seen.unshift(...page.edges.map((e) => e.node.id));
      expect(page.pageInfo.hasNextPage).toBe(before !== undefined);
      if (!page.pageInfo.hasPreviousPage) break;
      before = page.pageInfo.startCursor;
    }
    expect(seen).toEqual(all.map((n) => n.id));
    // A cursor belongs to its order.
    const mixed = await server.gql(`query($after: String) { servers(first: 1, after: $after) { totalCount } }`, {
      after: result.body.data!.servers.pageInfo.endCursor,
    });
    expect(mixed.body.errors![0]).toMatchObject({
      message: "The cursor in `after` belongs to another order (HEALTH, not NAME)",
      extensions: { code: "BAD_USER_INPUT", field: "after" },
    });
  });

  it("sorts droplets by status and each droplet's servers by last heartbeat, newest first", async () => {
    const { result, count } = await counted(() =>
      server.gql<{ environments: { edges: Array<{ node: { status: string; servers: { edges: Array<{ node: { lastHeartbeat: string | null } }> } } }> } }>(
        `{ environments(first: 50, orderBy: { field: STATUS, direction: DESC }) {
            edges { node { status servers(first: 3, orderBy: { field: LAST_HEARTBEAT, direction: DESC }) { edges { node { lastHeartbeat } } } } } } }`,
      ),
    );
    expect(count).toBe(2);
    const envs = result.body.data!.environments.edges.map((e) => e.node);
    // Descending: the worst status (here provisioning, before ACTIVE in the worst-first order) last.
    expect(envs.at(-1)!.status).toBe("provisioning");
    for (const env of envs) {
      const beats = env.servers.edges.map((e) => e.node.lastHeartbeat);
      const known = beats.filter((b): b is string => b !== null);
      expect(beats.slice(0, known.length)).toEqual(known);
      expect(known).toEqual([...known].sort().reverse());
    }
  });

  it("serves the dashboard's first screen (summary, worst servers first, droplets with counts) in 4 statements", async () => {
    const document = readFileSync(new URL("../../schema/operations/dashboard.graphql", import.meta.url), "utf8");
    const { result, count } = await counted(() => server.gql(document, undefined, "DashboardFirstScreen"));
    expect(result.body.errors).toBeUndefined();
    expect(count, statements.join("\n---\n")).toBe(4);
    const data = result.body.data;
    expect(data.servers.edges[0].node.status.health).toBe("UNHEALTHY");
    // Each droplet's count is what counting its servers gives.
    const envs = data.environments.edges.map((e: any) => e.node);
    const total = envs.reduce((n: number, e: any) => n + e.servers.totalCount, 0);
    expect(total).toBe(data.fleetSummary.servers);
    const one = envs.find((e: any) => e.id === encodeGlobalID("Environment", ids.env));
    // A count alone reads no rows: one statement.
    const { result: direct, count: counting } = await counted(() =>
      server.gql(`query($id: ID!) { servers(filter: { environmentIds: [$id] }) { totalCount } }`, { id: ids.env }),
    );
    expect(counting).toBe(1);
    expect(one.servers.totalCount).toBe(direct.body.data.servers.totalCount);
    expect(one.servers.totalCount).toBe(2);
  });

  it("warns early: a server that keeps changing status is at risk, with its reasons, from its stored history", async () => {
    for (let i = 0; i < 4; i++) {
      await db.query(
        `INSERT INTO mcp_fleet_status_history (account_tool_instance_id, account_tool_environment_id, at, state, health, source)
         VALUES ($1, $2, now() - make_interval(secs => $3), $4, 'UNKNOWN', 'DATABASE')`,
        [ids.running, ids.env, i * 60, i % 2 ? "RUNNING" : "STOPPED"],
      );
    }
    const { body } = await server.gql(`query($id: ID!) { server(id: $id) { risk { level reasons { kind level detail } } environment { risk { level } } } }`, {
      id: ids.running,
    });
    expect(body.data.server.risk).toEqual({ level: "MEDIUM", reasons: [{ kind: "FLAPPING", level: "MEDIUM", detail: "4 status changes in 10 min" }] });
    expect(body.data.server.environment.risk).toEqual({ level: "NONE" });
  });

  it("refuses invalid filters with a clear error and keeps serving", async () => {
    const literal = await server.gql(`{ servers(filter: { states: [SLEEPING] }) { totalCount } }`);
    expect(codes(literal.body)).toEqual(["GRAPHQL_VALIDATION_FAILED"]);
    expect(literal.body.errors![0].message).toMatch(/"SLEEPING" does not exist in "ServerState"/);
    const variable = await server.gql(`query($f: ServerFilter) { servers(filter: $f) { totalCount } }`, { f: { states: ["SLEEPING"] } });
    expect(codes(variable.body)).toEqual(["BAD_USER_INPUT"]);
    expect(variable.body.errors![0].message).toMatch(/SLEEPING/);
    const wrongType = await server.gql(`query($n: Int) { servers(first: $n) { totalCount } }`, { n: "ten" });
    expect(codes(wrongType.body)).toEqual(["BAD_USER_INPUT"]);
    expect(wrongType.body.errors![0].message).toMatch(/Int cannot represent/);
    const long = await server.gql(`query($s: String) { servers(filter: { search: $s }) { totalCount } }`, { s: "x".repeat(201) });
    expect(codes(long.body)).toEqual(["BAD_USER_INPUT"]);
    const envIds = await server.gql(`{ servers(filter: { environmentIds: ["nope"] }) { totalCount } }`);
    expect(codes(envIds.body)).toEqual(["BAD_USER_INPUT"]);
    expect((await server.gql(`{ servers(first: 1) { totalCount } }`)).body.data.servers.totalCount).toBe(203);
  });

  it("filters and pages through the API with a stable order", async () => {
    const q = `query($after: String) { servers(first: 2, after: $after, filter: { environmentIds: ["${ids.env}"] }) { totalCount edges { node { name } } pageInfo { hasNextPage endCursor } } }`;
    const first = await server.gql(q);
    expect(first.body.data.servers.edges.map((e: any) => e.node.name)).toEqual(["alpha", "gamma"]);
    expect(first.body.data.servers.totalCount).toBe(2);
    expect(first.body.data.servers.pageInfo.hasNextPage).toBe(false);
    const filtered = await server.gql(`{ servers(filter: { healths: [UNHEALTHY], search: "gam" }) { edges { node { name } } } }`);
    expect(filtered.body.data.servers.edges.map((e: any) => e.node.name)).toEqual(["gamma"]);
  });

  it("never sends the DTMA bearer token, whatever a client selects", async () => {
    // Every field of every droplet and of its servers (the selection walks the schema).
    const { body } = await server.gql(`{ environments(first: 15) { edges { node { ${selectAll("Environment", 4)} } } } }`);
    expect(body.errors).toBeUndefined();
    const edges = body.data.environments.edges;
    expect(edges.map((e: any) => e.node.name)).toContain("edge");
    expect(edges.flatMap((e: any) => e.node.servers.edges).length).toBeGreaterThan(30);
    expect(JSON.stringify(body)).not.toMatch(/secret-token/);
  });

  it("answers liveness and readiness, and serves GraphiQL", async () => {
    const base = server.url.replace("/graphql", "");
    expect((await fetch(`${base}/health`)).status).toBe(200);
    expect(await (await fetch(`${base}/ready`)).json()).toMatchObject({ status: "ready" });
    const page = await fetch(server.url, { headers: { accept: "text/html" } });
    expect(await page.text()).toContain("graphiql");
  });
});
