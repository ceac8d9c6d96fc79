// Status history: every transition recorded once, by any number of replicas, and read newest first.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "../../src/data/db.ts";
import { migrate } from "../../src/data/migrate.ts";
import { SqlStore } from "../../src/data/sql-store.ts";
import type { LiveFleet } from "../../src/live/fleet.ts";
import { insertEnvironment, insertServer } from "../../fixtures/fleet.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { sqlTargets } from "../helpers/targets.ts";
import { until } from "../helpers/wait.ts";

describe.each(sqlTargets)("status history on $name", (target) => {
  let db: Db;
  let close: () => Promise<void>;
  let replicas: Array<TestServer & { live?: LiveFleet }> = [];
  const ids: Record<string, string> = {};
  const rows = async (table: string, column: string, id: string) =>
    (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE ${column} = $1`, [id]))[0].n;

  beforeAll(async () => {
    ({ db, close } = await target.open());
    await migrate(db);
    ids.env = await insertEnvironment(db, { name: "history", publicIp: "203.0.113.60" });
    ids.server = await insertServer(db, { env: ids.env, name: "h", status: "running", heartbeatSecondsAgo: 1 });
    // Two replicas on one database: each sees every change; the history keeps one copy.
    const env = { HEARTBEAT_DEGRADED_AFTER_MS: "1500", HEARTBEAT_UNHEALTHY_AFTER_MS: "2500" };
    for (let i = 0; i < 2; i++) replicas.push(await startTestServer(new SqlStore(db), { live: { coalesceMs: 5 }, env }));
  });
  afterAll(async () => {
    // The replicas share one database: the first close ends it, the second finds it closed.
    for (const r of replicas) await r.close().catch(() => undefined);
    replicas = [];
    await close?.();
  });

  it("records each state change once, with the write's time, and reads them newest first", async () => {
    for (const status of ["stopped", "running"]) {
      await db.query("UPDATE account_tool_instances SET status_on_toolbox = $1, last_heartbeat_from_dtma = now() WHERE id = $2", [status, ids.server]);
      await until(async () => (await rows("mcp_fleet_status_history", "account_tool_instance_id", ids.server)) >= (status === "stopped" ? 1 : 2), status);
    }
    const { body } = await replicas[0].gql(
      `query($id: ID!) { server(id: $id) { statusHistory { at previous { state health } current { state health } source } } }`,
      {
        id: ids.server,
      },
    );
    const history = body.data.server.statusHistory;
    expect(history.slice(0, 2).map((h: any) => [h.previous.state, h.current.state, h.source])).toEqual([
      ["STOPPED", "RUNNING", "DATABASE"],
      ["RUNNING", "STOPPED", "DATABASE"],
    ]);
    expect(new Date(history[0].at).getTime()).toBeGreaterThan(new Date(history[1].at).getTime());
    await new Promise((r) => setTimeout(r, 200)); // both replicas have written by now
    expect(await rows("mcp_fleet_status_history", "account_tool_instance_id", ids.server)).toBe(2);
  });

  it("records heartbeat ageing once, at the threshold's own moment, whichever replica's clock saw it", async () => {
    const [{ hb }] = await db.query<{ hb: Date }>("SELECT last_heartbeat_from_dtma AS hb FROM account_tool_instances WHERE id = $1", [ids.server]);
    await until(async () => (await rows("mcp_fleet_status_history", "account_tool_instance_id", ids.server)) >= 4, "degraded and unhealthy", 8000);
    await new Promise((r) => setTimeout(r, 300));
    const aged = await db.query<{ at: Date; health: string; source: string }>(
      "SELECT at, health, source FROM mcp_fleet_status_history WHERE account_tool_instance_id = $1 AND source = 'HEALTH_CLOCK' ORDER BY at",
      [ids.server],
    );
    expect(aged.map((a) => a.health)).toEqual(["DEGRADED", "UNHEALTHY"]);
    expect(new Date(aged[0].at).getTime()).toBe(new Date(hb).getTime() + 1500);
    expect(new Date(aged[1].at).getTime()).toBe(new Date(hb).getTime() + 2500);
  });

  it("records a droplet's status changes once", async () => {
    await db.query("UPDATE account_tool_environments SET status = 'unresponsive' WHERE id = $1", [ids.env]);
    await until(async () => (await rows("mcp_fleet_environment_history", "account_tool_environment_id", ids.env)) >= 1, "the droplet's change");
    await new Promise((r) => setTimeout(r, 200));
    expect(await rows("mcp_fleet_environment_history", "account_tool_environment_id", ids.env)).toBe(1);
    const { body } = await replicas[1].gql(`query($id: ID!) { environment(id: $id) { statusHistory(first: 5) { previousStatus status source } } }`, {
      id: ids.env,
    });
    expect(body.data.environment.statusHistory).toEqual([{ previousStatus: "active", status: "unresponsive", source: "DATABASE" }]);
  });

  // Each writer names itself for its own write only: a lifecycle action, an agent's report and the
  // droplet monitor, through the store's own methods; any other write (here plain SQL, run right
  // after on the same pool) is DATABASE again.
  it("says who wrote each transition: a lifecycle action, an agent's report, the monitor, or the database", async () => {
    const store = new SqlStore(db);
    const other = await insertServer(db, { env: ids.env, name: "sources", status: "running", heartbeatSecondsAgo: 1 });
    const sources = async () =>
      (
        await db.query<{ state: string; source: string }>(
          "SELECT state, source FROM mcp_fleet_status_history WHERE account_tool_instance_id = $1 ORDER BY at, id",
          [other],
        )
      ).map((h) => `${h.state}:${h.source}`);
    const recorded = (n: number, what: string) => until(async () => (await sources()).length >= n, what);
    await recorded(1, "the new server");
    await store.setServerStatus(other, "stopped");
    await recorded(2, "the lifecycle stop");
    await db.query("UPDATE account_tool_instances SET status_on_toolbox = 'running', last_heartbeat_from_dtma = now() WHERE id = $1", [other]);
    await recorded(3, "the plain write");
    await store.applyDtmaReport(ids.env, { at: new Date(), version: "1", systemMetrics: null, instances: [{ id: other, name: null, status: "stopped" }] });
    await recorded(4, "the agent's report");
    expect((await sources()).slice(1)).toEqual(["STOPPED:LIFECYCLE", "RUNNING:DATABASE", "STOPPED:AGENT_REPORT"]);
    const droplet = async () =>
      (
        await db.query<{ status: string; source: string }>(
          "SELECT status, source FROM mcp_fleet_environment_history WHERE account_tool_environment_id = $1 ORDER BY at DESC, id DESC LIMIT 1",
          [ids.env],
        )
      ).map((h) => `${h.status}:${h.source}`)[0];
    await db.query("UPDATE account_tool_environments SET status = 'active' WHERE id = $1", [ids.env]);
    await until(async () => (await droplet())?.startsWith("active:"), "the droplet active");
    await store.markEnvironmentUnresponsive(ids.env, "no answer");
    await until(async () => (await droplet()) === "unresponsive:MONITOR", "the monitor's mark");
    await db.query("UPDATE account_tool_environments SET status = 'active' WHERE id = $1", [ids.env]);
    await until(async () => (await droplet()) === "active:DATABASE", "the plain write after it");
  });

  it("shows a just-started server never heard from as UNKNOWN, and records it turning UNHEALTHY when its start grace ends", async () => {
    const fresh = await insertServer(db, { env: ids.env, name: "fresh", status: "running", heartbeatSecondsAgo: null });
    const { body } = await replicas[0].gql(`query($id: ID!) { server(id: $id) { status { state health } } }`, { id: fresh });
    expect(body.data.server.status).toEqual({ state: "RUNNING", health: "UNKNOWN" });
    const [{ started }] = await db.query<{ started: Date }>("SELECT last_started_at AS started FROM account_tool_instances WHERE id = $1", [fresh]);
    const turned = async () =>
      db.query<{ at: Date; previous_health: string | null; health: string; source: string }>(
        "SELECT at, previous_health, health, source FROM mcp_fleet_status_history WHERE account_tool_instance_id = $1 AND source = 'HEALTH_CLOCK'",
        [fresh],
      );
    await until(async () => (await turned()).length >= 1, "the end of its start grace", 8000);
    const [entry] = await turned();
    expect(entry).toMatchObject({ previous_health: "UNKNOWN", health: "UNHEALTHY", source: "HEALTH_CLOCK" });
    // At the grace's own moment (HEARTBEAT_DEGRADED_AFTER_MS after the start), whichever replica saw it.
    expect(new Date(entry.at).getTime()).toBe(new Date(started).getTime() + 1500);
  });
});
