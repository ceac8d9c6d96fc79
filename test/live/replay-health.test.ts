// Resuming with `since` replays servers whose heartbeat crossed a threshold while the client was
// away (no row changed: only time passed), and not those that crossed it before or will after.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "../../src/data/db.ts";
import { migrate } from "../../src/data/migrate.ts";
import { SqlStore } from "../../src/data/sql-store.ts";
import { insertEnvironment, insertServer } from "../../fixtures/fleet.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { subscribeWs, wsClient } from "../helpers/subscriptions.ts";
import { sqlTargets } from "../helpers/targets.ts";

const STATUS_CHANGED = `subscription($since: DateTime) { serverStatusChanged(since: $since) { server { name } current { health } source } }`;

describe.each(sqlTargets)("replay of heartbeat crossings on $name", (target) => {
  let db: Db;
  let close: () => Promise<void>;
  let server: TestServer;

  beforeAll(async () => {
    ({ db, close } = await target.open());
    await migrate(db);
    const env = await insertEnvironment(db, { name: "e", publicIp: "203.0.113.5" });
    // Degraded after 60 s, unhealthy after 600 s; the client left 90 s ago.
    for (const [name, heartbeatSecondsAgo] of [
      ["crossed-degraded", 120],
      ["crossed-unhealthy", 640],
      ["still-healthy", 10],
      ["degraded-before", 400],
      ["sentinel", 1],
    ] as const) {
      await insertServer(db, { env, name, status: "running", heartbeatSecondsAgo });
    }
    // Every row was last written long before the client left: only time can have changed them.
    await db.query("SET session_replication_role = replica");
    await db.query("UPDATE account_tool_instances SET updated_at = now() - interval '1 hour'");
    await db.query("SET session_replication_role = DEFAULT");
    server = await startTestServer(new SqlStore(db), {
      live: { coalesceMs: 5 },
      env: { HEARTBEAT_DEGRADED_AFTER_MS: "60000", HEARTBEAT_UNHEALTHY_AFTER_MS: "600000" },
    });
  });
  afterAll(async () => {
    await server?.close();
    await close?.();
  });

  it("replays exactly the servers that crossed a threshold since the cursor, with their health now", async () => {
    const [{ since }] = await db.query<{ since: Date }>("SELECT now() - interval '90 seconds' AS since");
    const client = wsClient(server.url);
    const sub = subscribeWs(client, STATUS_CHANGED, { since: since.toISOString() });
    const events: Array<[string, string, string]> = [];
    // A live change after the replay marks its end: events arrive in order.
    let sentinelWritten = false;
    for (;;) {
      const e = (await sub.next()).serverStatusChanged;
      if (e.source !== "REPLAY" && !sentinelWritten) throw new Error(`a live event before the sentinel: ${JSON.stringify(e)}`);
      if (e.server.name === "sentinel" && e.source === "DATABASE") break;
      events.push([e.server.name, e.current.health, e.source]);
      if (!sentinelWritten && events.length >= 2) {
        sentinelWritten = true;
        await db.query("UPDATE account_tool_instances SET status_on_toolbox = 'stopped' WHERE instance_name_on_toolbox = 'sentinel'");
      }
    }
    expect(events.sort()).toEqual([
      ["crossed-degraded", "DEGRADED", "REPLAY"],
      ["crossed-unhealthy", "UNHEALTHY", "REPLAY"],
    ]);
    await client.dispose();
  });
});
