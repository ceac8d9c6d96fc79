// One contract, every store: the same read cases against PGlite, real Postgres, and a real Supabase
// project when SUPABASE_URL is set (a test project whose fleet tables are empty; the run deletes
// what it wrote). Cases that need SQL access (triggers, constraints, statement counts) follow.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pgliteDb, type Db } from "../../src/data/db.ts";
import { migrate } from "../../src/data/migrate.ts";
import { SqlStore } from "../../src/data/sql-store.ts";
import { SupabaseStore } from "../../src/data/supabase-store.ts";
import type { ServerRow } from "../../src/data/rows.ts";
import type { Cursor, QueryTime, RemovedServer, ServerOrderField, Store } from "../../src/data/store.ts";
import { DEFAULT_THRESHOLDS, healthOf, SERVER_HEALTH_SEVERITY, SERVER_STATE_SEVERITY, stateOf } from "../../src/domain/status.ts";
import { USER_A, insertEnvironment, insertServer, sqlFixture, type Fixture } from "../../fixtures/fleet.ts";
import { freshPostgres, postgresUp } from "../helpers/postgres.ts";
import { supabaseFixture } from "../helpers/supabase-fixture.ts";
import { ENVIRONMENTS_BY_ID, pagesTogether } from "../helpers/pages-together.ts";

const time = (): QueryTime => ({ now: new Date(), thresholds: DEFAULT_THRESHOLDS });

/** Keys in a list's order: values byte-wise or numerically, reversed when descending; no value last either way. */
function compareKeys(a: number | string | null, b: number | string | null, descending: boolean): number {
  if (a === null || b === null) return a === b ? 0 : a === null ? 1 : -1;
  const c = typeof a === "string" ? Buffer.compare(Buffer.from(a), Buffer.from(b as string)) : a - (b as number);
  return descending ? -c : c;
}
const compareIds = (a: string, b: string, descending: boolean) => (a < b ? -1 : a > b ? 1 : 0) * (descending ? -1 : 1);

interface Opened {
  store: Store;
  fixture: Fixture;
  /** Present for SQL stores. */
  db?: Db;
  close(): Promise<void>;
}
interface Target {
  name: string;
  open(): Promise<Opened>;
}

async function sqlTarget(db: Db, close: () => Promise<void>): Promise<Opened> {
  await migrate(db);
  return { store: new SqlStore(db), fixture: sqlFixture(db), db, close };
}

const targets: Target[] = [
  {
    name: "PGlite",
    async open() {
      const db = await pgliteDb(undefined);
      return sqlTarget(db, () => db.close());
    },
  },
];
if (postgresUp) {
  targets.push({
    name: "Postgres",
    async open() {
      const t = await freshPostgres();
      return sqlTarget(t.db, () => t.drop());
    },
  });
}
if (process.env.SUPABASE_URL) {
  targets.push({
    name: "Supabase",
    async open() {
      const key = process.env.SUPABASE_SERVICE_ROLE_KEY;
      if (!key) throw new Error("SUPABASE_URL is set: the Supabase contract run also needs SUPABASE_SERVICE_ROLE_KEY");
      const store = new SupabaseStore({ url: process.env.SUPABASE_URL!, key, timeoutMs: 15_000 });
      const fixture = supabaseFixture(store.client);
      if ((await store.countEnvironments({})) > 0) throw new Error("The Supabase contract run needs a test project with empty account_tool_environments");
      return { store, fixture, close: () => fixture.cleanup() };
    },
  });
}

describe.each(targets)("store contract on $name", (target) => {
  let opened: Opened;
  let store: Store;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    opened = await target.open();
    store = opened.store;
    const f = opened.fixture;
    ids.envA = await f.environment({
      name: "alpha",
      publicIp: "203.0.113.1",
      privateIp: "10.0.0.1",
      dropletId: "9007199254740993",
      metrics: { cpu_load_percent: 5 },
    });
    ids.envB = await f.environment({ name: "beta", status: "unresponsive", publicIp: null });
    ids.envEmpty = await f.environment({ name: null, status: "provisioning" });
    ids.healthy = await f.server({ env: ids.envA, name: "healthy", status: "running", heartbeatSecondsAgo: 10, startedSecondsAgo: 100 });
    ids.degraded = await f.server({ env: ids.envA, name: "degraded", status: "active", heartbeatSecondsAgo: 6 * 60, startedSecondsAgo: 5000 });
    ids.stale = await f.server({ env: ids.envA, name: "stale", status: "running", heartbeatSecondsAgo: 20 * 60, startedSecondsAgo: 300 });
    // Never heard from, started an hour ago: past its start grace, so UNHEALTHY.
    ids.never = await f.server({ env: ids.envB, name: "never", status: "running", heartbeatSecondsAgo: null, startedSecondsAgo: 3600 });
    ids.broken = await f.server({ env: ids.envB, name: "broken", status: "error_runtime", error: "exit 1", startedSecondsAgo: 50 });
    ids.stopped = await f.server({ env: ids.envB, name: "Stopped_100%", status: "stopped" });
    ids.unnamed = await f.server({ env: ids.envB, name: null, status: "deploying" });
    ids.tool = await f.server({ env: ids.envA, name: "plain-tool", status: "running", serverType: "standard_tool", transport: null, heartbeatSecondsAgo: 5 });
    ids.notMcp = await f.server({ env: ids.envA, name: "legacy", status: "running", serverType: null, transport: null });
  });
  afterAll(async () => opened?.close());

  const names = (rows: { name: string | null }[]) => rows.map((r) => r.name);
  const idOf = (name: string) => ids[({ "plain-tool": "tool" } as Record<string, string>)[name] ?? name];

  it("lists MCP rows only, in (name, id) byte order with unnamed rows last", async () => {
    const page = await store.listServers({}, { first: 50 }, time());
    expect(names(page.rows)).toEqual(["Stopped_100%", "broken", "degraded", "healthy", "never", "plain-tool", "stale", null]);
    expect(page.hasNextPage).toBe(false);
  });

  it("reads only the chosen columns of a page's servers and environments (and the keys); the rest are null", async () => {
    const full = await store.listServers({}, { first: 50 }, time());
    const some = await store.listServers({}, { first: 50 }, time(), { server: ["status_on_toolbox"], environment: ["name", "public_ip_address"] });
    expect(some.rows.map((r) => [r.id, r.environmentId, r.name, r.status])).toEqual(full.rows.map((r) => [r.id, r.environmentId, r.name, r.status]));
    expect(some.rows.every((r) => r.capabilities === null && r.createdAt === null)).toBe(true);
    const fullEnv = new Map(full.environments.map((e) => [e.id, e]));
    expect(some.environments.map((e) => e.id).sort()).toEqual([...fullEnv.keys()].sort());
    for (const env of some.environments) {
      const whole = fullEnv.get(env.id)!;
      expect(env).toMatchObject({ id: whole.id, userId: whole.userId, name: whole.name, publicIp: whole.publicIp });
      expect([env.status, env.region, env.healthDetails, env.createdAt, env.lastHeartbeatAt]).toEqual([null, null, null, null, null]);
    }
  });

  it("pages forward with a keyset cursor without gaps or repeats, across the null names", async () => {
    const seen: (string | null)[] = [];
    let after: Cursor | undefined;
    for (let i = 0; i < 10; i++) {
      const page = await store.listServers({}, { first: 3, after }, time());
      seen.push(...names(page.rows));
      if (!page.hasNextPage) break;
      const last = page.rows.at(-1)!;
      after = { key: last.name, id: last.id };
    }
    expect(seen).toEqual(["Stopped_100%", "broken", "degraded", "healthy", "never", "plain-tool", "stale", null]);
  });

  // Every order, both directions: one page of everything is sorted as the domain's rules say, and
  // paging forward by 3, or backward by 3 from the end, walks the same sequence.
  const SERVER_ORDERS: Array<[ServerOrderField, ((row: ServerRow, now: Date) => number | string | null) | null]> = [
    ["NAME", (r) => r.name],
    ["STATE", (r) => SERVER_STATE_SEVERITY.indexOf(stateOf(r.status))],
    ["HEALTH", (r, now) => SERVER_HEALTH_SEVERITY.indexOf(healthOf(stateOf(r.status), r.lastHeartbeatMs, now, DEFAULT_THRESHOLDS, r.lastStartedAtMs))],
    ["LAST_HEARTBEAT", (r) => r.lastHeartbeatMs],
    // Uptime ascending: the latest start first; only running servers have one.
    ["UPTIME", (r) => (stateOf(r.status) === "RUNNING" && r.lastStartedAtMs !== null ? -r.lastStartedAtMs : null)],
    ["CREATED_AT", null],
    ["UPDATED_AT", null],
  ];
  it.each(SERVER_ORDERS.flatMap(([field, key]) => [false, true].map((descending) => ({ field, key, descending }))))(
    "sorts servers by $field (descending: $descending) and pages both ways through the same sequence",
    async ({ field, key, descending }) => {
      const t = time();
      const order = { field, descending };
      const all = await store.listServers({}, { first: 50, order }, t);
      expect(all.rows).toHaveLength(8);
      if (key) {
        const expected = [...all.rows].sort((a, b) => compareKeys(key(a, t.now), key(b, t.now), descending) || compareIds(a.id, b.id, descending));
        expect(names(all.rows)).toEqual(names(expected));
      }
      const forward: string[] = [];
      let after: Cursor | undefined;
      for (let i = 0; i < 10; i++) {
        const page = await store.listServers({}, { first: 3, after, order }, t);
        forward.push(...page.rows.map((r) => r.id));
        if (!page.hasNextPage) break;
        after = { key: page.keys!.at(-1)!, id: page.rows.at(-1)!.id };
      }
      expect(forward).toEqual(all.rows.map((r) => r.id));
      const backward: string[] = [];
      let before: Cursor | undefined;
      for (let i = 0; i < 10; i++) {
        const page = await store.listServers({}, { first: 3, after: before, backward: true, order }, t);
        backward.unshift(...page.rows.map((r) => r.id));
        if (!page.hasNextPage) break;
        before = { key: page.keys![0], id: page.rows[0].id };
      }
      expect(backward).toEqual(all.rows.map((r) => r.id));
    },
  );

  it("sorts and pages each environment's servers in one call, by health worst first", async () => {
    const t = time();
    const order = { field: "HEALTH" as const, descending: false };
    const pages = await store.listServersByEnvironment([ids.envA, ids.envB], {}, { first: 2, order }, t);
    expect(names(pages.get(ids.envA)!.rows)).toEqual(["stale", "degraded"]);
    expect(names(pages.get(ids.envB)!.rows)).toEqual(["broken", "never"].sort((x, y) => compareIds(idOf(x), idOf(y), false)));
    const a = pages.get(ids.envA)!;
    const next = await store.listServersByEnvironment([ids.envA], {}, { first: 2, order, after: { key: a.keys!.at(-1)!, id: a.rows.at(-1)!.id } }, t);
    expect(names(next.get(ids.envA)!.rows)).toEqual(["healthy", "plain-tool"].sort((x, y) => compareIds(idOf(x), idOf(y), false)));
  });

  it("sorts environments by status worst first and pages backward", async () => {
    const order = { field: "STATUS" as const, descending: false };
    expect(names((await store.listEnvironments({}, { first: 10, order })).rows)).toEqual(["beta", null, "alpha"]);
    const last = await store.listEnvironments({}, { first: 2, order, backward: true });
    expect(names(last.rows)).toEqual([null, "alpha"]);
    expect(last.hasNextPage).toBe(true);
    const before = await store.listEnvironments({}, { first: 2, order, backward: true, after: { key: last.keys![0], id: last.rows[0].id } });
    expect(names(before.rows)).toEqual(["beta"]);
    expect(before.hasNextPage).toBe(false);
  });

  it("filters by state through every status that means it", async () => {
    expect(names((await store.listServers({ states: ["RUNNING"] }, { first: 50 }, time())).rows)).toEqual([
      "degraded",
      "healthy",
      "never",
      "plain-tool",
      "stale",
    ]);
    expect(names((await store.listServers({ states: ["ERROR", "STARTING"] }, { first: 50 }, time())).rows)).toEqual(["broken", null]);
  });

  it("filters by health at the request's time, in the query", async () => {
    const t = time();
    expect(names((await store.listServers({ healths: ["HEALTHY"] }, { first: 50 }, t)).rows)).toEqual(["healthy", "plain-tool"]);
    expect(names((await store.listServers({ healths: ["DEGRADED"] }, { first: 50 }, t)).rows)).toEqual(["degraded"]);
    expect(names((await store.listServers({ healths: ["UNHEALTHY"] }, { first: 50 }, t)).rows)).toEqual(["broken", "never", "stale"]);
    expect(names((await store.listServers({ healths: ["UNKNOWN"] }, { first: 50 }, t)).rows)).toEqual(["Stopped_100%", null]);
  });

  it("counts a running server not yet heard from as UNKNOWN within its start grace, UNHEALTHY after, in the query", async () => {
    const t = time();
    const inGrace = { now: new Date(Date.now() - 3595_000 + 60_000), thresholds: DEFAULT_THRESHOLDS }; // a minute after its start
    expect(names((await store.listServers({ healths: ["UNKNOWN"] }, { first: 50 }, inGrace)).rows)).toContain("never");
    expect(names((await store.listServers({ healths: ["UNHEALTHY"] }, { first: 50 }, inGrace)).rows)).not.toContain("never");
    expect(names((await store.listServers({ healths: ["UNHEALTHY"] }, { first: 50 }, t)).rows)).toContain("never");
  });

  it("sees a server degrade as time passes, without any write", async () => {
    const later = { now: new Date(Date.now() + 5 * 60_000), thresholds: DEFAULT_THRESHOLDS };
    expect(names((await store.listServers({ healths: ["DEGRADED"] }, { first: 50 }, later)).rows)).toEqual(["degraded", "healthy", "plain-tool"]);
    const muchLater = { now: new Date(Date.now() + 10 * 60_000), thresholds: DEFAULT_THRESHOLDS };
    expect(names((await store.listServers({ healths: ["HEALTHY", "DEGRADED"] }, { first: 50 }, muchLater)).rows)).toEqual(["healthy", "plain-tool"]);
  });

  it("filters by environment, server type and name search (LIKE wildcards are literal)", async () => {
    expect(names((await store.listServers({ environmentIds: [ids.envB] }, { first: 50 }, time())).rows)).toEqual(["Stopped_100%", "broken", "never", null]);
    expect(names((await store.listServers({ serverTypes: ["standard_tool"] }, { first: 50 }, time())).rows)).toEqual(["plain-tool"]);
    expect(names((await store.listServers({ search: "STOPPED_100%" }, { first: 50 }, time())).rows)).toEqual(["Stopped_100%"]);
    expect(names((await store.listServers({ search: "_" }, { first: 50 }, time())).rows)).toEqual(["Stopped_100%"]);
  });

  it("combines filters and counts what they match", async () => {
    const filter = { environmentIds: [ids.envA], healths: ["HEALTHY" as const, "UNHEALTHY" as const], serverTypes: ["mcp_server" as const] };
    expect(names((await store.listServers(filter, { first: 50 }, time())).rows)).toEqual(["healthy", "stale"]);
    expect(await store.countServers(filter, time())).toBe(2);
    expect(await store.countServers({}, time())).toBe(8);
  });

  it("loads servers by id in key order, with null for unknown and non-MCP ids", async () => {
    const rows = await store.serversByIds([ids.stale, "00000000-0000-4000-8000-000000000000", ids.healthy, ids.notMcp]);
    expect(rows.map((r) => r?.name ?? null)).toEqual(["stale", null, "healthy", null]);
  });

  it("reads every server column with the right types", async () => {
    const [row] = await store.serversByIds([ids.broken]);
    expect(row).toMatchObject({
      id: ids.broken,
      environmentId: ids.envB,
      status: "error_runtime",
      errorMessage: "exit 1",
      serverType: "mcp_server",
      transport: "sse",
      endpointPath: "/mcp",
    });
    expect(row!.createdAt).toBeInstanceOf(Date);
    expect(row!.lastHeartbeatMs).toBeNull();
  });

  it("pages servers per environment", async () => {
    const pages = await store.listServersByEnvironment([ids.envB, ids.envA, ids.envEmpty], {}, { first: 2 }, time());
    expect(names(pages.get(ids.envA)!.rows)).toEqual(["degraded", "healthy"]);
    expect(pages.get(ids.envA)!.hasNextPage).toBe(true);
    expect(names(pages.get(ids.envB)!.rows)).toEqual(["Stopped_100%", "broken"]);
    expect(pages.get(ids.envEmpty)).toMatchObject({ rows: [], hasNextPage: false });
  });

  it("reads environments with addresses as plain text and never the bearer token", async () => {
    const [env] = await store.environmentsByIds([ids.envA]);
    expect(env).toMatchObject({
      name: "alpha",
      publicIp: "203.0.113.1",
      privateIp: "10.0.0.1",
      doDropletId: "9007199254740993",
      status: "active",
      healthDetails: { cpu_load_percent: 5 },
    });
    expect(JSON.stringify(env)).not.toContain("secret-token");
  });

  it("lists, filters and counts environments", async () => {
    const all = await store.listEnvironments({}, { first: 10 });
    expect(all.rows.map((e) => e.name)).toEqual(["alpha", "beta", null]);
    const page = await store.listEnvironments({}, { first: 1, after: { key: "alpha", id: ids.envA } });
    expect(page.rows.map((e) => e.name)).toEqual(["beta"]);
    expect(page.hasNextPage).toBe(true);
    expect((await store.listEnvironments({ statuses: ["unresponsive", "provisioning"] }, { first: 10 })).rows.map((e) => e.id)).toEqual([
      ids.envB,
      ids.envEmpty,
    ]);
    expect(await store.countEnvironments({ search: "ALP" })).toBe(1);
  });
});

describe.each(targets.filter((t) => t.name !== "Supabase"))("SQL store on $name", (target) => {
  let opened: Opened;
  let store: Store;
  const ids: Record<string, string> = {};
  const names = (rows: { name: string | null }[]) => rows.map((r) => r.name);

  beforeAll(async () => {
    opened = await target.open();
    store = opened.store;
    const f = opened.fixture;
    ids.envA = await f.environment({ name: "alpha", publicIp: "203.0.113.1" });
    ids.envB = await f.environment({ name: "beta" });
    ids.envEmpty = await f.environment({ name: null });
    ids.healthy = await f.server({ env: ids.envA, name: "healthy", status: "running", heartbeatSecondsAgo: 10 });
    ids.degraded = await f.server({ env: ids.envA, name: "degraded", status: "active", heartbeatSecondsAgo: 6 * 60 });
    await f.server({ env: ids.envA, name: "stale", status: "running", heartbeatSecondsAgo: 20 * 60 });
    await f.server({ env: ids.envB, name: "broken", status: "error_runtime" });
    ids.stopped = await f.server({ env: ids.envB, name: "Stopped_100%", status: "stopped" });
  });
  afterAll(async () => opened?.close());

  it("records when a server starts, so uptime is real", async () => {
    const [running] = await store.serversByIds([ids.healthy]);
    expect(running!.lastStartedAtMs).toBeTypeOf("number");
    await opened.db!.query("UPDATE account_tool_instances SET status_on_toolbox = 'stopped' WHERE id = $1", [ids.stopped]);
    const [before] = await store.serversByIds([ids.stopped]);
    expect(before!.lastStartedAtMs).toBeNull();
    await opened.db!.query("UPDATE account_tool_instances SET status_on_toolbox = 'running' WHERE id = $1", [ids.stopped]);
    const [after] = await store.serversByIds([ids.stopped]);
    expect(after!.lastStartedAtMs).toBeTypeOf("number");
    expect(after!.updatedAt.getTime()).toBeGreaterThanOrEqual(before!.updatedAt.getTime());
    // A restart (stopped, then running again) moves it; staying running does not.
    await opened.db!.query("UPDATE account_tool_instances SET last_started_at = '2020-01-01T00:00:00Z' WHERE id = $1", [ids.stopped]);
    await opened.db!.query("UPDATE account_tool_instances SET status_on_toolbox = 'active' WHERE id = $1", [ids.stopped]);
    expect((await store.serversByIds([ids.stopped]))[0]!.lastStartedAtMs).toBe(Date.parse("2020-01-01T00:00:00Z"));
    await opened.db!.query("UPDATE account_tool_instances SET status_on_toolbox = 'stopped' WHERE id = $1", [ids.stopped]);
    expect((await store.serversByIds([ids.stopped]))[0]!.lastStartedAtMs).toBe(Date.parse("2020-01-01T00:00:00Z"));
    await opened.db!.query("UPDATE account_tool_instances SET status_on_toolbox = 'running' WHERE id = $1", [ids.stopped]);
    const [restarted] = await store.serversByIds([ids.stopped]);
    expect(restarted!.lastStartedAtMs!).toBeGreaterThanOrEqual(after!.lastStartedAtMs!);
    await opened.db!.query("UPDATE account_tool_instances SET status_on_toolbox = 'stopped' WHERE id = $1", [ids.stopped]);
  });

  it("pages servers per environment in one statement", async () => {
    let statements = 0;
    const off = opened.db!.onStatement(() => statements++);
    const pages = await store.listServersByEnvironment([ids.envB, ids.envA, ids.envEmpty], {}, { first: 2 }, time());
    off();
    expect(statements).toBe(1);
    expect(names(pages.get(ids.envA)!.rows)).toEqual(["degraded", "healthy"]);
    expect(pages.get(ids.envA)!.hasNextPage).toBe(true);
    expect(names(pages.get(ids.envB)!.rows)).toEqual(["Stopped_100%", "broken"]);
    expect(pages.get(ids.envEmpty)).toMatchObject({ rows: [], hasNextPage: false });
  });

  const environmentStatements = (texts: string[]) => texts.filter((t) => t.includes(ENVIRONMENTS_BY_ID)).length;

  it("reads the environments of pages that finish together in one statement, and gives each page only its own", async () => {
    const together = new SqlStore(pagesTogether(opened.db!, 3).db);
    const texts: string[] = [];
    const off = opened.db!.onStatement((t) => texts.push(t));
    const [a, b, both] = await Promise.all([
      together.listServers({ environmentIds: [ids.envA] }, { first: 10 }, time()),
      together.listServers({ environmentIds: [ids.envB] }, { first: 10 }, time()),
      together.listServers({}, { first: 10 }, time()),
    ]);
    expect(environmentStatements(texts)).toBe(1);
    expect(a.environments.map((e) => e.id)).toEqual([ids.envA]);
    expect(b.environments.map((e) => e.id)).toEqual([ids.envB]);
    expect(both.environments.map((e) => e.id).sort()).toEqual([ids.envA, ids.envB].sort());
    expect(a.environments[0]).toMatchObject({ name: "alpha", publicIp: "203.0.113.1" });
    // A page alone still reads its own, in a statement of its own.
    texts.length = 0;
    const alone = await store.listServers({ environmentIds: [ids.envB] }, { first: 10 }, time());
    off();
    expect(environmentStatements(texts)).toBe(1);
    expect(alone.environments.map((e) => e.id)).toEqual([ids.envB]);
  });

  it("fails every page that shared a failed environments statement, and reads the next ones afresh", async () => {
    const gated = pagesTogether(opened.db!, 2);
    const together = new SqlStore(gated.db);
    gated.failNextEnvironments();
    const pages = await Promise.allSettled([
      together.listServers({ environmentIds: [ids.envA] }, { first: 10 }, time()),
      together.listServers({ environmentIds: [ids.envB] }, { first: 10 }, time()),
    ]);
    expect(pages.map((p) => p.status)).toEqual(["rejected", "rejected"]);
    expect(pages.map((p) => (p as PromiseRejectedResult).reason.message)).toEqual(["the environments statement failed", "the environments statement failed"]);
    const next = await together.listServers({ environmentIds: [ids.envA] }, { first: 10 }, time());
    expect(next.environments.map((e) => e.id)).toEqual([ids.envA]);
  });

  it("keeps the upstream constraints: one instance per catalog tool per environment", async () => {
    const [row] = await opened.db!.query<{ tool_catalog_id: string }>("SELECT tool_catalog_id FROM account_tool_instances WHERE id = $1", [ids.healthy]);
    await expect(
      opened.db!.query(
        "INSERT INTO account_tool_instances (account_tool_environment_id, tool_catalog_id, mcp_server_type, mcp_transport_type) VALUES ($1, $2, 'mcp_server', 'sse')",
        [ids.envA, row.tool_catalog_id],
      ),
    ).rejects.toThrow(/uq_account_env_tool/);
  });

  it("keeps the upstream CHECKs: an MCP server needs a transport, and 'http' is not one", async () => {
    await expect(insertServer(opened.db!, { env: ids.envA, name: "x", status: "running", transport: null })).rejects.toThrow(/chk_mcp_server_required_fields/);
    await expect(insertServer(opened.db!, { env: ids.envA, name: "y", status: "running", transport: "http" })).rejects.toThrow(/mcp_transport_type_check/);
  });

  it("refuses status values outside the upstream enum", async () => {
    await expect(opened.db!.query("UPDATE account_tool_instances SET status_on_toolbox = 'starting_on_toolbox' WHERE id = $1", [ids.healthy])).rejects.toThrow(
      /invalid input value for enum/,
    );
  });

  it("remembers deleted MCP servers for replay: one by one and a whole droplet's, with the owner, paged without repeats", async () => {
    const db = opened.db!;
    const [{ now: since }] = await db.query<{ now: Date }>("SELECT now() - interval '1 millisecond' AS now");
    const doomedEnv = await insertEnvironment(db, { name: "doomed" });
    const inDoomed = [];
    for (let i = 0; i < 3; i++) inDoomed.push(await insertServer(db, { env: doomedEnv, name: `d${i}`, status: "running" }));
    const single = await insertServer(db, { env: ids.envA, name: "single", status: "stopped" });
    const legacy = await insertServer(db, { env: ids.envA, name: "legacy-2", status: "running", serverType: null, transport: null });
    await db.query("DELETE FROM account_tool_instances WHERE id = ANY($1::uuid[])", [[single, legacy]]);
    await db.query("DELETE FROM account_tool_environments WHERE id = $1", [doomedEnv]); // cascades to its servers

    const seen: string[] = [];
    let after: RemovedServer["cursor"] | undefined;
    for (;;) {
      const page = await store.serversRemovedSince({ position: null, at: since }, { first: 2, after });
      seen.push(...page.rows.map((r) => r.id));
      for (const r of page.rows) expect(r).toMatchObject({ userId: USER_A, removedAt: expect.any(Date) });
      if (!page.hasNextPage) break;
      after = page.rows[page.rows.length - 1].cursor;
    }
    // Not the non-MCP row; every MCP one exactly once, the single deletion first.
    expect(seen).toHaveLength(4);
    expect(seen[0]).toBe(single);
    expect(new Set(seen)).toEqual(new Set([single, ...inDoomed]));
    const envOf = new Map((await store.serversRemovedSince({ position: null, at: since }, { first: 10 })).rows.map((r) => [r.id, r.environmentId]));
    expect(envOf.get(inDoomed[0])).toBe(doomedEnv);

    expect((await store.serversRemovedSince({ position: null, at: since }, { first: 10 }, "22222222-2222-4222-8222-222222222222")).rows).toEqual([]);
    expect((await store.serversRemovedSince({ position: null, at: new Date(Date.now() + 60_000) }, { first: 10 })).rows).toEqual([]);
  });

  it("reads timestamps to the millisecond as the database holds them (microseconds truncated), in pages and by id", async () => {
    const db = opened.db!;
    await db.query(
      "UPDATE account_tool_instances SET last_heartbeat_from_dtma = '2026-11-25 08:00:00.123987+00', last_started_at = '1969-07-20 20:17:40.5009+00' WHERE id = $1",
      [ids.healthy],
    );
    const expected = { lastHeartbeatMs: Date.parse("2026-11-25T08:00:00.123Z"), lastStartedAtMs: Date.parse("1969-07-20T20:17:40.500Z") };
    const [byId] = await store.serversByIds([ids.healthy]);
    const inPage = (await store.listServers({ ids: [ids.healthy] }, { first: 1 }, time())).rows[0];
    for (const row of [byId!, inPage]) expect({ lastHeartbeatMs: row.lastHeartbeatMs, lastStartedAtMs: row.lastStartedAtMs }).toEqual(expected);
    const [{ updated_at }] = await db.query<{ updated_at: Date }>("SELECT updated_at FROM account_tool_instances WHERE id = $1", [ids.healthy]);
    expect(inPage.updatedAt).toEqual(updated_at);
  });

  it("applies migrations once: a second run changes nothing", async () => {
    expect(await migrate(opened.db!)).toEqual([]);
  });
});
