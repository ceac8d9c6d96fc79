// The live fleet summary: kept from the live fleet's cache, it must agree with the summary the
// database computes in one statement, at first and after every change, per owner.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signDevToken } from "../../src/auth/verify.ts";
import { pgliteDb, type Db } from "../../src/data/db.ts";
import { migrate } from "../../src/data/migrate.ts";
import { SqlStore } from "../../src/data/sql-store.ts";
import type { LiveFleet } from "../../src/live/fleet.ts";
import { insertEnvironment, insertServer } from "../../fixtures/fleet.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { subscribeWs, wsClient } from "../helpers/subscriptions.ts";

const SECRET = "summary-secret-0123456789abcdef0123456789";
const ALICE = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
const SUMMARY = `servers byState { state count } byHealth { health count } environments byEnvironmentStatus { status count } byRegion { region servers environments }`;

describe("fleetSummaryChanged", () => {
  let db: Db;
  let server: TestServer & { live?: LiveFleet };
  const tokens: Record<string, string> = {};
  const ids: Record<string, string> = {};

  const query = async (who: string, environmentIds?: string[]) => {
    const res = await fetch(server.url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${tokens[who]}` },
      body: JSON.stringify({
        query: `query($ids: [ID!]) { fleetSummary(filter: { environmentIds: $ids }) { ${SUMMARY} } }`,
        variables: { ids: environmentIds ?? null },
      }),
    });
    return ((await res.json()) as { data: { fleetSummary: unknown } }).data.fleetSummary;
  };

  beforeAll(async () => {
    db = await pgliteDb(undefined);
    await migrate(db);
    ids.mine = await insertEnvironment(db, { name: "alice-1", publicIp: "203.0.113.70" });
    await db.query("UPDATE account_tool_environments SET user_id = $1, region_slug = 'ams3' WHERE id = $2", [ALICE, ids.mine]);
    ids.other = await insertEnvironment(db, { name: "other", publicIp: "203.0.113.71" });
    ids.a = await insertServer(db, { env: ids.mine, name: "a", status: "running", heartbeatSecondsAgo: 1 });
    ids.b = await insertServer(db, { env: ids.mine, name: "b", status: "stopped" });
    ids.c = await insertServer(db, { env: ids.other, name: "c", status: "error" });
    tokens.alice = await signDevToken(SECRET, { sub: ALICE, role: "authenticated" });
    tokens.service = await signDevToken(SECRET, { sub: "00000000-0000-4000-8000-00000000ffff", role: "service_role" });
    server = await startTestServer(new SqlStore(db), { live: { coalesceMs: 5 }, env: { AUTH_DISABLED: "false", SUPABASE_JWT_SECRET: SECRET } });
  });
  afterAll(async () => server?.close());

  it("starts with the summary the database computes, and follows every change, for each viewer", async () => {
    const alice = wsClient(server.url, { authorization: `Bearer ${tokens.alice}` });
    const service = wsClient(server.url, { authorization: `Bearer ${tokens.service}` });
    const q = `subscription { fleetSummaryChanged { ${SUMMARY} } }`;
    const mine = subscribeWs(alice, q);
    const all = subscribeWs(service, q);
    expect((await mine.next()).fleetSummaryChanged).toEqual(await query("alice"));
    expect((await all.next()).fleetSummaryChanged).toEqual(await query("service"));
    expect(((await query("alice")) as { servers: number }).servers).toBe(2);

    // Alice's server stops: both see it; the counts still agree with the database's.
    await db.query("UPDATE account_tool_instances SET status_on_toolbox = 'stopped' WHERE id = $1", [ids.a]);
    expect((await mine.next()).fleetSummaryChanged).toEqual(await query("alice"));
    expect((await all.next()).fleetSummaryChanged).toEqual(await query("service"));

    // Another owner's change reaches the service role, not Alice.
    await db.query("DELETE FROM account_tool_instances WHERE id = $1", [ids.c]);
    expect((await all.next()).fleetSummaryChanged).toEqual(await query("service"));
    expect(await mine.quiet(300)).toBe(true);
    await alice.dispose();
    await service.dispose();
  });

  it("keeps the summary of some droplets, told only of changes to them, and only of the viewer's own", async () => {
    const service = wsClient(server.url, { authorization: `Bearer ${tokens.service}` });
    const alice = wsClient(server.url, { authorization: `Bearer ${tokens.alice}` });
    const q = `subscription($ids: [ID!]) { fleetSummaryChanged(environmentIds: $ids) { ${SUMMARY} } }`;
    const mineOnly = subscribeWs(service, q, { ids: [ids.mine] });
    const notHers = subscribeWs(alice, q, { ids: [ids.other] });
    expect((await mineOnly.next()).fleetSummaryChanged).toEqual(await query("service", [ids.mine]));
    // Another owner's droplet, asked for by Alice: empty, as the query answers her.
    const empty = (await notHers.next()).fleetSummaryChanged as { servers: number; environments: number };
    expect(empty).toEqual(await query("alice", [ids.other]));
    expect([empty.servers, empty.environments]).toEqual([0, 0]);

    await insertServer(db, { env: ids.other, name: "d", status: "running", heartbeatSecondsAgo: 1 });
    expect(await mineOnly.quiet(300)).toBe(true);
    expect(await notHers.quiet(50)).toBe(true);
    await db.query("UPDATE account_tool_instances SET status_on_toolbox = 'running', last_heartbeat_from_dtma = now() WHERE id = $1", [ids.b]);
    expect((await mineOnly.next()).fleetSummaryChanged).toEqual(await query("service", [ids.mine]));
    await service.dispose();
    await alice.dispose();
  });
});
