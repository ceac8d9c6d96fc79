// Live status through real clients: graphql-ws and SSE against a started server, rows changed
// with SQL on PGlite and real Postgres.
import { encodeGlobalID } from "@pothos/plugin-relay";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { pgliteDb, type Db } from "../../src/data/db.ts";
import { migrate } from "../../src/data/migrate.ts";
import { SqlStore } from "../../src/data/sql-store.ts";
import type { LiveFleet } from "../../src/live/fleet.ts";
import { insertEnvironment, insertServer } from "../../fixtures/fleet.ts";
import { ManualClock } from "../helpers/manual-clock.ts";
import { POSTGRES_URL, describePostgres, freshPostgres, type TestDatabase } from "../helpers/postgres.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { sqlTargets } from "../helpers/targets.ts";
import { tcpProxy } from "../helpers/tcp-proxy.ts";
import { subscribeSse, subscribeWs, wsClient, type Subscription } from "../helpers/subscriptions.ts";
import { until } from "../helpers/wait.ts";

/** What a client caches a server by: its global id. */
const serverGid = (id: string) => encodeGlobalID("MCPServer", id);

const STATUS_CHANGED = `subscription($filter: ServerEventFilter, $since: DateTime) {
  serverStatusChanged(filter: $filter, since: $since) { server { name rawStatus } previous { state health } current { state health } source at } }`;
const SERVER_CHANGED = `subscription($filter: ServerEventFilter, $since: DateTime) {
  serverChanged(filter: $filter, since: $since) { kind serverId server { name rawStatus environment { name } } status { state health } source at } }`;

/** Waits until the live fleet has `n` server subscribers, so a write cannot race the subscription. */
async function subscribed(live: LiveFleet, n: number, hub: "serverEvents" | "environmentEvents" = "serverEvents") {
  await until(() => live[hub].size >= n, `${n} subscribers`);
  expect(live[hub].size).toBeGreaterThanOrEqual(n);
}

describe.each(sqlTargets)("subscriptions on $name", (target) => {
  let db: Db;
  let close: () => Promise<void>;
  let server: TestServer & { live?: LiveFleet };
  let live: LiveFleet;
  const open: Subscription<any>[] = [];
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    ({ db, close } = await target.open());
    await migrate(db);
    ids.env = await insertEnvironment(db, { name: "live-env", publicIp: "203.0.113.50" });
    ids.a = await insertServer(db, { env: ids.env, name: "a", status: "running", heartbeatSecondsAgo: 5 });
    ids.b = await insertServer(db, { env: ids.env, name: "b", status: "running", heartbeatSecondsAgo: 5 });
    server = await startTestServer(new SqlStore(db), { live: { coalesceMs: 5 } });
    live = server.live!;
  });
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
    // Closing is asynchronous on the server: wait until every subscriber is gone.
    // A closed subscription leaves nothing behind (a resumed one once left its hub subscriber).
    await until(() => live.serverEvents.size + live.environmentEvents.size === 0, "every subscriber to be gone");
  });
  afterAll(async () => {
    await server?.close();
    await close?.();
  });

  function track<T>(s: Subscription<T>) {
    open.push(s);
    return s;
  }

  it("delivers a status change written with SQL to a graphql-ws subscriber", async () => {
    const client = wsClient(server.url);
    const before = live.serverEvents.size;
    const sub = track(subscribeWs(client, STATUS_CHANGED, { filter: { serverIds: [ids.a] } }));
    await subscribed(live, before + 1);
    await db.query("UPDATE account_tool_instances SET status_on_toolbox = 'error', instance_error_message = 'oom' WHERE id = $1", [ids.a]);
    const event = (await sub.next()).serverStatusChanged;
    expect(event).toMatchObject({
      server: { name: "a", rawStatus: "error" },
      previous: { state: "RUNNING", health: "HEALTHY" },
      current: { state: "ERROR", health: "UNHEALTHY" },
      source: "DATABASE",
    });
    await db.query("UPDATE account_tool_instances SET status_on_toolbox = 'running', last_heartbeat_from_dtma = now() WHERE id = $1", [ids.a]);
    expect((await sub.next()).serverStatusChanged.current).toEqual({ state: "RUNNING", health: "HEALTHY" });
    await client.dispose();
  });

  it("announces added, updated and removed servers, and stays quiet for invisible changes", async () => {
    const client = wsClient(server.url);
    const before = live.serverEvents.size;
    const sub = track(subscribeWs(client, SERVER_CHANGED, { filter: { environmentIds: [ids.env] } }));
    await subscribed(live, before + 1);
    await db.query("UPDATE account_tool_instances SET config_values = '{\"x\":1}' WHERE id = $1", [ids.b]);
    expect(await sub.quiet(300)).toBe(true);
    const added = await insertServer(db, { env: ids.env, name: "c", status: "deploying" });
    expect((await sub.next()).serverChanged).toMatchObject({
      kind: "ADDED",
      serverId: serverGid(added),
      server: { name: "c", environment: { name: "live-env" } },
      status: { state: "STARTING" },
      source: "DATABASE",
    });
    await db.query("UPDATE account_tool_instances SET version = '2.0.0' WHERE id = $1", [added]);
    expect((await sub.next()).serverChanged).toMatchObject({ kind: "UPDATED", serverId: serverGid(added) });
    await db.query("DELETE FROM account_tool_instances WHERE id = $1", [added]);
    expect((await sub.next()).serverChanged).toMatchObject({ kind: "REMOVED", serverId: serverGid(added), server: null, status: null });
    await client.dispose();
  });

  it("coalesces a burst of writes into one reload and still delivers each server's final state", async () => {
    const client = wsClient(server.url);
    const before = live.serverEvents.size;
    const sub = track(subscribeWs(client, STATUS_CHANGED, { filter: { environmentIds: [ids.env], states: ["STOPPED"] } }));
    await subscribed(live, before + 1);
    let statements = 0;
    const off = db.onStatement((text) => /FROM account_tool_instances s WHERE s.id = ANY/.test(text) && statements++);
    await db.query("UPDATE account_tool_instances SET status_on_toolbox = 'stopped' WHERE id = ANY($1::uuid[])", [[ids.a, ids.b]]);
    const got = [(await sub.next()).serverStatusChanged.server.name, (await sub.next()).serverStatusChanged.server.name].sort();
    off();
    expect(got).toEqual(["a", "b"]);
    expect(statements).toBe(1);
    await db.query("UPDATE account_tool_instances SET status_on_toolbox = 'running', last_heartbeat_from_dtma = now() WHERE id = ANY($1::uuid[])", [
      [ids.a, ids.b],
    ]);
    await live.settled();
    await client.dispose();
  });

  it("delivers over SSE", async () => {
    const before = live.environmentEvents.size;
    const sub = track(
      subscribeSse(server.url, `subscription($id: ID) { environmentChanged(id: $id) { kind environment { name publicIP } source } }`, { id: ids.env }),
    );
    await subscribed(live, before + 1, "environmentEvents");
    await db.query("UPDATE account_tool_environments SET name = 'renamed', public_ip_address = '203.0.113.51' WHERE id = $1", [ids.env]);
    expect((await sub.next()).environmentChanged).toEqual({ kind: "UPDATED", environment: { name: "renamed", publicIP: "203.0.113.51" }, source: "DATABASE" });
  });

  it("delivers each change to every SSE subscriber of the same subscription (one shared execution)", async () => {
    const before = live.serverEvents.size;
    const query = `subscription($ids: [ID!]) { serverChanged(filter: { serverIds: $ids }) { kind server { name version } } }`;
    const subs = [0, 1, 2].map(() => track(subscribeSse(server.url, query, { ids: [ids.a] })));
    await subscribed(live, before + 3);
    await db.query("UPDATE account_tool_instances SET version = 'sse-shared' WHERE id = $1", [ids.a]);
    for (const sub of subs) expect((await sub.next()).serverChanged).toEqual({ kind: "UPDATED", server: { name: expect.any(String), version: "sse-shared" } });
  });

  it("replays what changed while a client was away, then goes on live (since)", async () => {
    const client = wsClient(server.url);
    let before = live.serverEvents.size;
    const first = subscribeWs(client, SERVER_CHANGED, { filter: { environmentIds: [ids.env] } });
    await subscribed(live, before + 1);
    await db.query("UPDATE account_tool_instances SET version = 'v1' WHERE id = $1", [ids.a]);
    const cursor = (await first.next()).serverChanged.at;
    await first.close();
    await client.dispose();

    // While away: two changes nobody hears.
    await new Promise((r) => setTimeout(r, 20));
    await db.query("UPDATE account_tool_instances SET status_on_toolbox = 'stopping' WHERE id = $1", [ids.a]);
    await db.query("UPDATE account_tool_instances SET status_on_toolbox = 'error' WHERE id = $1", [ids.b]);
    await live.settled();

    const again = wsClient(server.url);
    before = live.serverEvents.size;
    const resumed = track(subscribeWs(again, SERVER_CHANGED, { filter: { environmentIds: [ids.env] }, since: cursor }));
    const replayed = [(await resumed.next()).serverChanged, (await resumed.next()).serverChanged];
    expect(replayed.map((e) => [e.server.name, e.server.rawStatus, e.source]).sort()).toEqual([
      ["a", "stopping", "REPLAY"],
      ["b", "error", "REPLAY"],
    ]);
    await subscribed(live, before + 1);
    await db.query("UPDATE account_tool_instances SET status_on_toolbox = 'running', last_heartbeat_from_dtma = now() WHERE id = ANY($1::uuid[])", [
      [ids.a, ids.b],
    ]);
    const liveEvents = [(await resumed.next()).serverChanged, (await resumed.next()).serverChanged];
    expect(liveEvents.every((e) => e.source === "DATABASE" && e.server.rawStatus === "running")).toBe(true);
    await again.dispose();
  });

  it("replays servers deleted while a client was away, a whole droplet's included, as REMOVED", async () => {
    const doomedEnv = await insertEnvironment(db, { name: "doomed", publicIp: "203.0.113.51" });
    const inDoomed = await insertServer(db, { env: doomedEnv, name: "c", status: "running", heartbeatSecondsAgo: 5 });
    const loose = await insertServer(db, { env: ids.env, name: "loose", status: "stopped" });
    await live.settled();
    const [{ now: cursor }] = await db.query<{ now: Date }>("SELECT now() AS now");
    await new Promise((r) => setTimeout(r, 5));
    // While away: one server deleted, and a droplet deleted with its server.
    await db.query("DELETE FROM account_tool_instances WHERE id = $1", [loose]);
    await db.query("DELETE FROM account_tool_environments WHERE id = $1", [doomedEnv]);
    await live.settled();

    const client = wsClient(server.url);
    const resumed = track(subscribeWs(client, SERVER_CHANGED, { filter: { serverIds: [inDoomed, loose, ids.a] }, since: cursor.toISOString() }));
    const replayed = [(await resumed.next()).serverChanged, (await resumed.next()).serverChanged];
    // In deletion order; two deletions within the same millisecond (PGlite's clock) tie.
    expect(replayed.map((e) => [e.serverId, e.kind, e.server, e.source]).sort()).toEqual(
      [
        [serverGid(loose), "REMOVED", null, "REPLAY"],
        [serverGid(inDoomed), "REMOVED", null, "REPLAY"],
      ].sort(),
    );
    expect(await resumed.quiet(200)).toBe(true);
    await client.dispose();
  });

  it("refuses a `since` older than the replay window with BAD_USER_INPUT", async () => {
    const client = wsClient(server.url);
    const sub = track(subscribeWs(client, SERVER_CHANGED, { since: new Date(Date.now() - 8 * 86_400_000).toISOString() }));
    await expect(sub.next()).rejects.toThrow(/replay window/);
    await client.dispose();
  });

  it("refuses a `since` older than the replay window over SSE too, with its code", async () => {
    const res = await fetch(server.url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify({ query: SERVER_CHANGED, variables: { since: new Date(Date.now() - 8 * 86_400_000).toISOString() } }),
    });
    const text = await res.text();
    const data = JSON.parse(
      text
        .split("\n")
        .find((line) => line.startsWith("data:"))!
        .slice(5),
    );
    expect(data.errors.map((e: { extensions: { code: string } }) => e.extensions.code)).toEqual(["BAD_USER_INPUT"]);
    expect(data.errors[0].message).toMatch(/replay window/);
  });

  it("refuses a malformed filter with BAD_USER_INPUT and keeps serving", async () => {
    const client = wsClient(server.url);
    const sub = track(subscribeWs(client, STATUS_CHANGED, { filter: { serverIds: ["not-an-id"] } }));
    await expect(sub.next()).rejects.toThrow(/BAD_USER_INPUT/);
    await client.dispose();
    expect((await server.gql(`{ servers(first: 1) { totalCount } }`)).body.data.servers.totalCount).toBe(2);
  });
});

describe("health clock", () => {
  let db: Db;
  let server: TestServer & { live?: LiveFleet };
  const clock = new ManualClock();
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    db = await pgliteDb(undefined);
    await migrate(db);
    const env = await insertEnvironment(db, { name: "clock-env", publicIp: "203.0.113.60" });
    // Heartbeats written relative to the database's clock; the manual clock starts at the same moment.
    ids.fresh = await insertServer(db, { env, name: "fresh", status: "running", heartbeatSecondsAgo: 0 });
    for (let i = 0; i < 20; i++) await insertServer(db, { env, name: `other-${i}`, status: "running", heartbeatSecondsAgo: 60 + i });
    const [{ now }] = await db.query<{ now: Date }>("SELECT now() AS now");
    clock.advance(now.getTime() - clock.now().getTime());
    server = await startTestServer(new SqlStore(db), { live: { clock, coalesceMs: 5 } });
  });
  afterAll(async () => server?.close());

  it("keeps one timer for the whole fleet", () => {
    expect(clock.pending).toBe(1);
  });

  it("turns a running server degraded at 5 minutes and unhealthy at 15, with no write", async () => {
    const client = wsClient(server.url);
    const sub = subscribeWs(client, STATUS_CHANGED, { filter: { serverIds: [ids.fresh] } });
    await subscribed(server.live!, 1);
    clock.advance(5 * 60_000 - 1000);
    expect(await sub.quiet(100)).toBe(true);
    clock.advance(2000);
    expect((await sub.next()).serverStatusChanged).toMatchObject({
      previous: { health: "HEALTHY" },
      current: { state: "RUNNING", health: "DEGRADED" },
      source: "HEALTH_CLOCK",
    });
    clock.advance(10 * 60_000);
    expect((await sub.next()).serverStatusChanged).toMatchObject({
      previous: { health: "DEGRADED" },
      current: { health: "UNHEALTHY" },
      source: "HEALTH_CLOCK",
    });
    expect(clock.pending).toBe(0);
    await sub.close();
    await client.dispose();
  });

  it("visits each server at its own moment, and a new heartbeat moves that moment", async () => {
    const env = await insertEnvironment(db, { name: "clock-env-2", publicIp: "203.0.113.61" });
    const t0 = clock.now().getTime();
    const at = (msAgo: number) => new Date(t0 - msAgo).toISOString();
    const x = await insertServer(db, { env, name: "x", status: "running" });
    const y = await insertServer(db, { env, name: "y", status: "running" });
    await db.query("UPDATE account_tool_instances SET last_heartbeat_from_dtma = $1 WHERE id = $2", [at(4 * 60_000), x]); // degrades in 1 min
    await db.query("UPDATE account_tool_instances SET last_heartbeat_from_dtma = $1 WHERE id = $2", [at(2 * 60_000), y]); // degrades in 3 min
    await server.live!.settled();
    const client = wsClient(server.url);
    const sub = subscribeWs(client, STATUS_CHANGED, { filter: { serverIds: [x, y] } });
    await subscribed(server.live!, 1);
    clock.advance(30_000);
    // x reports in: its 1-minute deadline is gone, it degrades 5 minutes from now instead.
    await db.query("UPDATE account_tool_instances SET last_heartbeat_from_dtma = $1 WHERE id = $2", [clock.now().toISOString(), x]);
    await server.live!.settled();
    clock.advance(60_000); // x's old deadline passes: nothing
    expect(await sub.quiet(100)).toBe(true);
    clock.advance(90_000); // y's moment (3 min)
    expect((await sub.next()).serverStatusChanged).toMatchObject({ server: { name: "y" }, current: { health: "DEGRADED" }, source: "HEALTH_CLOCK" });
    clock.advance(150_000); // x's new moment (5 min after its heartbeat)
    expect((await sub.next()).serverStatusChanged).toMatchObject({ server: { name: "x" }, current: { health: "DEGRADED" }, source: "HEALTH_CLOCK" });
    expect(clock.pending).toBe(1);
    await sub.close();
    await client.dispose();
  });

  it("starts counting again when a heartbeat arrives", async () => {
    await db.query("UPDATE account_tool_instances SET last_heartbeat_from_dtma = $1 WHERE id = $2", [clock.now().toISOString(), ids.fresh]);
    await server.live!.settled();
    expect(clock.pending).toBe(1);
  });
});

describePostgres("change feed on Postgres", () => {
  let pgTest: TestDatabase;
  let one: TestServer & { live?: LiveFleet };
  let two: TestServer & { live?: LiveFleet };
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    pgTest = await freshPostgres();
    await migrate(pgTest.db);
    ids.env = await insertEnvironment(pgTest.db, { name: "pg-env", publicIp: "203.0.113.70" });
    ids.s = await insertServer(pgTest.db, { env: ids.env, name: "s", status: "running", heartbeatSecondsAgo: 1 });
    const { postgresDb } = await import("../../src/data/db.ts");
    // A second replica: its own pool and its own listener on the same database.
    const otherDb = postgresDb({
      connectionString: pgTest.url,
      maxConnections: 2,
      connectTimeoutMs: 3000,
      statementTimeoutMs: 5000,
      listenerName: `other-${pgTest.schema}`,
    });
    one = await startTestServer(new SqlStore(pgTest.db), { live: { coalesceMs: 5 } });
    two = await startTestServer(new SqlStore(otherDb), { live: { coalesceMs: 5 } });
  });
  afterAll(async () => {
    await two?.close();
    await one?.close();
    await pgTest?.drop();
  });

  it("delivers every change to the subscribers of both replicas", async () => {
    const c1 = wsClient(one.url);
    const c2 = wsClient(two.url);
    const s1 = subscribeWs(c1, STATUS_CHANGED, { filter: { serverIds: [ids.s] } });
    const s2 = subscribeWs(c2, STATUS_CHANGED, { filter: { serverIds: [ids.s] } });
    await subscribed(one.live!, 1);
    await subscribed(two.live!, 1);
    await pgTest.db.query("UPDATE account_tool_instances SET status_on_toolbox = 'stopped' WHERE id = $1", [ids.s]);
    expect((await s1.next()).serverStatusChanged.current.state).toBe("STOPPED");
    expect((await s2.next()).serverStatusChanged.current.state).toBe("STOPPED");
    await c1.dispose();
    await c2.dispose();
  });

  it("reconnects a lost listener and re-syncs what changed meanwhile, with no error to subscribers", async () => {
    // A replica whose database connections go through a proxy the test cuts: while it is cut the
    // listener cannot come back, so a change written then is found only by the resync.
    const proxy = await tcpProxy("127.0.0.1", Number(new URL(POSTGRES_URL).port || 5432));
    const viaProxy = new URL(pgTest.url);
    viaProxy.port = String(proxy.port);
    const { postgresDb } = await import("../../src/data/db.ts");
    const proxiedDb = postgresDb({
      connectionString: viaProxy.toString(),
      maxConnections: 2,
      connectTimeoutMs: 1000,
      statementTimeoutMs: 5000,
      listenerName: `proxied-${pgTest.schema}`,
    });
    const three = await startTestServer(new SqlStore(proxiedDb), { live: { coalesceMs: 5 } });
    const client = wsClient(three.url);
    try {
      const sub = subscribeWs(client, SERVER_CHANGED, { filter: { serverIds: [ids.s] } });
      await subscribed(three.live!, 1);
      await proxy.cut();
      await pgTest.db.query("UPDATE account_tool_instances SET status_on_toolbox = 'error', instance_error_message = 'while away' WHERE id = $1", [ids.s]);
      await proxy.restore();
      expect((await sub.next(10_000)).serverChanged).toMatchObject({ kind: "UPDATED", server: { rawStatus: "error" }, source: "RESYNC" });
      // The resync ran after LISTEN was back: the feed is live again.
      await pgTest.db.query("UPDATE account_tool_instances SET status_on_toolbox = 'running', last_heartbeat_from_dtma = now() WHERE id = $1", [ids.s]);
      expect((await sub.next(5000)).serverChanged).toMatchObject({ server: { rawStatus: "running" }, source: "DATABASE" });
    } finally {
      await client.dispose();
      await three.close();
      await proxy.close();
    }
  });
});
