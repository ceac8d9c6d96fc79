// Gap-free resume: a subscription resumed with an event's `cursor` (as `after`) gets every change
// committed after that event was issued, whenever its transaction began, and nothing from before.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "../../src/data/db.ts";
import { migrate } from "../../src/data/migrate.ts";
import { SqlStore } from "../../src/data/sql-store.ts";
import type { LiveFleet } from "../../src/live/fleet.ts";
import { insertEnvironment, insertServer } from "../../fixtures/fleet.ts";
import { freshPostgres, type TestDatabase } from "../helpers/postgres.ts";
import { describePostgres } from "../helpers/postgres.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { subscribeWs, wsClient } from "../helpers/subscriptions.ts";
import { sqlTargets } from "../helpers/targets.ts";
import { until } from "../helpers/wait.ts";

const SERVER_CHANGED = `subscription($after: String) { serverChanged(after: $after) { kind serverId server { name version } source cursor } }`;
const ENVIRONMENT_CHANGED = `subscription($after: String) { environmentChanged(after: $after) { kind environmentId environment { name } source cursor } }`;

describe.each(sqlTargets)("resuming with `after` on $name", (target) => {
  let db: Db;
  let close: () => Promise<void>;
  let server: TestServer & { live?: LiveFleet };
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    ({ db, close } = await target.open());
    await migrate(db);
    ids.env = await insertEnvironment(db, { name: "droplet", publicIp: "203.0.113.9" });
    ids.doomedEnv = await insertEnvironment(db, { name: "doomed-droplet", publicIp: "203.0.113.10" });
    for (const name of ["a", "b", "c"]) ids[name] = await insertServer(db, { env: ids.env, name, status: "running", heartbeatSecondsAgo: 1 });
    server = await startTestServer(new SqlStore(db), { live: { coalesceMs: 5 } });
  });
  afterAll(async () => {
    await server?.close();
    await close?.();
  });

  it("gives a cursor for now, before any event: what a query then a subscription from it would miss is replayed", async () => {
    const { body } = await server.gql<{ changeCursor: string }>("{ changeCursor }");
    const cursor = body.data!.changeCursor;
    // Committed after the cursor, before the subscription starts: a dashboard between its query and its subscription.
    await db.query("UPDATE account_tool_instances SET version = 'between' WHERE id = $1", [ids.a]);
    const client = wsClient(server.url);
    try {
      const events = subscribeWs(client, SERVER_CHANGED, { after: cursor });
      expect((await events.next()).serverChanged).toMatchObject({ kind: "UPDATED", server: { name: "a", version: "between" }, source: "REPLAY" });
      expect(await events.quiet(200)).toBe(true);
    } finally {
      await client.dispose();
    }
  });

  it("replays what changed after the cursor (servers and droplets, written and deleted), and nothing before it", async () => {
    const client = wsClient(server.url);
    const servers = subscribeWs(client, SERVER_CHANGED);
    const environments = subscribeWs(client, ENVIRONMENT_CHANGED);
    await until(() => server.live!.serverEvents.size === 1 && server.live!.environmentEvents.size === 1, "both subscriptions");
    await db.query("UPDATE account_tool_instances SET version = 'seen' WHERE id = $1", [ids.a]);
    const seen = (await servers.next()).serverChanged;
    expect(seen).toMatchObject({ kind: "UPDATED", server: { name: "a", version: "seen" }, source: "DATABASE" });
    await db.query("UPDATE account_tool_environments SET name = 'droplet-seen' WHERE id = $1", [ids.env]);
    let envSeen = (await environments.next()).environmentChanged;
    expect(envSeen).toMatchObject({ kind: "UPDATED", environment: { name: "droplet-seen" } });
    // Server events re-derived from the droplet's change carry a cursor too: take the last.
    const serverCursor = (await servers.next()).serverChanged.cursor as string;
    await client.dispose();

    // While away: one server changed, one deleted, one droplet deleted.
    await db.query("UPDATE account_tool_instances SET version = 'missed' WHERE id = $1", [ids.b]);
    await db.query("DELETE FROM account_tool_instances WHERE id = $1", [ids.c]);
    await db.query("DELETE FROM account_tool_environments WHERE id = $1", [ids.doomedEnv]);

    const again = wsClient(server.url);
    const resumed = subscribeWs(again, SERVER_CHANGED, { after: serverCursor });
    const replay = [(await resumed.next()).serverChanged, (await resumed.next()).serverChanged];
    expect(replay).toEqual([
      expect.objectContaining({ kind: "UPDATED", server: { name: "b", version: "missed" }, source: "REPLAY" }),
      expect.objectContaining({ kind: "REMOVED", server: null, source: "REPLAY" }),
    ]);
    expect(await resumed.quiet(300)).toBe(true); // not "a", delivered before the cursor
    const resumedEnvs = subscribeWs(again, ENVIRONMENT_CHANGED, { after: envSeen.cursor });
    envSeen = (await resumedEnvs.next()).environmentChanged;
    expect(envSeen).toMatchObject({ kind: "REMOVED", environment: null, source: "REPLAY" });
    expect(await resumedEnvs.quiet(300)).toBe(true);
    // Live events follow the replay.
    await db.query("UPDATE account_tool_instances SET version = 'live' WHERE id = $1", [ids.a]);
    expect((await resumed.next()).serverChanged).toMatchObject({ kind: "UPDATED", server: { version: "live" }, source: "DATABASE" });
    await again.dispose();
  });

  it("refuses a cursor it did not issue, and `after` with `since`, with BAD_USER_INPUT", async () => {
    const client = wsClient(server.url);
    for (const [variables, query] of [
      [{ after: "not-a-cursor" }, SERVER_CHANGED],
      [{ after: Buffer.from(JSON.stringify({ p: "1:2:x; DROP TABLE", t: Date.now() })).toString("base64url") }, SERVER_CHANGED],
      [{ after: Buffer.from(JSON.stringify({ p: null, t: Date.now() - 30 * 86_400_000 })).toString("base64url") }, ENVIRONMENT_CHANGED],
    ] as const) {
      await expect(subscribeWs(client, query, variables).next()).rejects.toThrow(/"code":"BAD_USER_INPUT"/);
    }
    const both = `subscription { serverChanged(after: "x", since: "2026-01-01T00:00:00Z") { kind } }`;
    await expect(subscribeWs(client, both).next()).rejects.toThrow(/not both/);
    await client.dispose();
  });
});

// The case a timestamp cursor gets wrong: a transaction that began before the last delivered event
// and committed while the client was away. Needs two concurrent connections (real Postgres).
describePostgres("resuming across an open transaction (Postgres)", () => {
  let t: TestDatabase;
  let server: TestServer & { live?: LiveFleet };
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    t = await freshPostgres();
    await migrate(t.db);
    const env = await insertEnvironment(t.db, { name: "droplet", publicIp: "203.0.113.9" });
    ids.a = await insertServer(t.db, { env, name: "a", status: "running", heartbeatSecondsAgo: 1 });
    ids.slow = await insertServer(t.db, { env, name: "slow", status: "running", heartbeatSecondsAgo: 1 });
    server = await startTestServer(new SqlStore(t.db), { live: { coalesceMs: 5 } });
  });
  afterAll(async () => {
    await server?.close();
    await t?.drop();
  });

  it("replays a change whose transaction began before the cursor and committed after it; a `since` of the same event misses it", async () => {
    const writer = new pg.Client({ connectionString: t.url });
    await writer.connect();
    try {
      const client = wsClient(server.url);
      const sub = subscribeWs(client, `subscription { serverChanged { server { name version } at cursor } }`);
      await until(() => server.live!.serverEvents.size === 1, "the subscription");
      // The slow transaction begins (its updated_at will be this moment) and writes, uncommitted.
      await writer.query("BEGIN");
      await writer.query("UPDATE account_tool_instances SET version = 'late' WHERE id = $1", [ids.slow]);
      await new Promise((r) => setTimeout(r, 50));
      await t.db.query("UPDATE account_tool_instances SET version = 'seen' WHERE id = $1", [ids.a]);
      const last = (await sub.next()).serverChanged;
      expect(last.server).toEqual({ name: "a", version: "seen" });
      await client.dispose();
      await writer.query("COMMIT");
      const [{ updated_at }] = await t.db.query<{ updated_at: Date }>("SELECT updated_at FROM account_tool_instances WHERE id = $1", [ids.slow]);
      expect(updated_at.getTime()).toBeLessThan(new Date(last.at).getTime()); // the trap: written "before" the event

      const again = wsClient(server.url);
      const byCursor = subscribeWs(again, `subscription($after: String) { serverChanged(after: $after) { server { name version } source } }`, {
        after: last.cursor,
      });
      expect((await byCursor.next()).serverChanged).toEqual({ server: { name: "slow", version: "late" }, source: "REPLAY" });
      expect(await byCursor.quiet(300)).toBe(true);
      const byTime = subscribeWs(again, `subscription($since: DateTime) { serverChanged(since: $since) { server { name } } }`, { since: last.at });
      expect(await byTime.quiet(500)).toBe(true);
      await again.dispose();
    } finally {
      await writer.end();
    }
  });
});
