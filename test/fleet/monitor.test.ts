// The background monitor: refreshes every droplet, a few at a time, one replica at a time.
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postgresDb, type Db } from "../../src/data/db.ts";
import { migrate } from "../../src/data/migrate.ts";
import { SqlStore } from "../../src/data/sql-store.ts";
import { DtmaClient } from "../../src/dtma/client.ts";
import { Monitor } from "../../src/fleet/monitor.ts";
import { DtmaSimulator } from "../../src/demo/simulator.ts";
import { insertEnvironment } from "../../fixtures/fleet.ts";
import { describePostgres, freshPostgres } from "../helpers/postgres.ts";
import { sqlTargets } from "../helpers/targets.ts";
import { until } from "../helpers/wait.ts";

const KEY = "monitor-key";
const logger = pino({ level: "silent" });

function monitorOn(db: Db, sim: DtmaSimulator, concurrency = 2) {
  const store = new SqlStore(db);
  const dtma = new DtmaClient({ apiKey: KEY, timeoutMs: 1000, retries: 0, maxBodyBytes: 1 << 20, logger });
  return new Monitor({ store, dtma, dtmaPort: sim.port, allowPrivateTargets: true, logger }, { intervalMs: 0, concurrency, logger });
}

describe.each(sqlTargets)("monitor on $name", (target) => {
  let db: Db;
  let close: () => Promise<void>;
  let sim: DtmaSimulator;

  beforeAll(async () => {
    ({ db, close } = await target.open());
    await migrate(db);
    sim = await new DtmaSimulator({ shape: "A", apiKey: KEY }).start();
    for (let i = 0; i < 5; i++) await insertEnvironment(db, { name: `d${i}`, publicIp: "127.0.0.1", status: "awaiting_heartbeat" });
    await insertEnvironment(db, { name: "no-address", publicIp: null });
    await insertEnvironment(db, { name: "gone", publicIp: "127.0.0.1", status: "deprovisioned" });
  });
  afterAll(async () => {
    await sim?.stop();
    await close?.();
  });

  it("refreshes every droplet that has an agent to ask, and wakes them up", async () => {
    const before = sim.requests.length;
    const round = await monitorOn(db, sim).runOnce();
    expect(round).toEqual({ ran: true, refreshed: 5, failed: 0 });
    expect(sim.requests.length - before).toBe(5);
    const rows = await db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM account_tool_environments WHERE status = 'active' AND dtma_last_known_version = '1.4.2-sim'",
    );
    expect(rows[0].n).toBe(5);
  });

  const statuses = async () =>
    (
      await db.query<{ status: string; error: string | null }>(
        "SELECT status, dtma_health_details_json->>'error' AS error FROM account_tool_environments WHERE name LIKE 'd_' ORDER BY name",
      )
    ).map((r) => [r.status, r.error]);

  it("counts droplets it could not refresh, marks them unresponsive with the reason, and revives them when their agents answer", async () => {
    sim.faults.set("*", 503);
    const round = await monitorOn(db, sim).runOnce();
    sim.faults.clear();
    expect(round).toEqual({ ran: true, refreshed: 0, failed: 5 });
    expect(await statuses()).toEqual(Array(5).fill(["unresponsive", expect.stringContaining("503")]));
    expect(await monitorOn(db, sim).runOnce()).toEqual({ ran: true, refreshed: 5, failed: 0 });
    expect(await statuses()).toEqual(Array(5).fill(["active", null]));
  });

  it.each([
    ["an answer that is not a status", "garbage"],
    ["an agent that does not answer in time", "hang"],
  ] as const)("marks a droplet unresponsive on %s", async (_what, fault) => {
    sim.faults.set("GET /status", fault);
    const round = await monitorOn(db, sim, 5).runOnce();
    sim.faults.clear();
    expect(round).toEqual({ ran: true, refreshed: 0, failed: 5 });
    expect((await statuses()).map(([status]) => status)).toEqual(Array(5).fill("unresponsive"));
    await monitorOn(db, sim).runOnce();
  });

  it("asks no more agents at once than its concurrency", async () => {
    sim.faults.set("GET /status", "hold");
    sim.peakHeld = 0;
    const before = sim.requests.length;
    let done = false;
    const round = monitorOn(db, sim, 2)
      .runOnce()
      .finally(() => (done = true));
    // Each request is answered only once released, so the held count is exact.
    while (!done) {
      await until(() => sim.heldCount > 0 || done, "a request to the agents");
      sim.release();
    }
    sim.faults.clear();
    expect(await round).toEqual({ ran: true, refreshed: 5, failed: 0 });
    expect(sim.requests.length - before).toBe(5);
    expect(sim.peakHeld).toBe(2);
  });
});

describePostgres("monitor across replicas", () => {
  it("runs on one replica at a time", async () => {
    const pgTest = await freshPostgres();
    const sim = await new DtmaSimulator({ shape: "A", apiKey: KEY }).start();
    const other = postgresDb({ connectionString: pgTest.url, maxConnections: 2, connectTimeoutMs: 2000, statementTimeoutMs: 5000 });
    try {
      await migrate(pgTest.db);
      for (let i = 0; i < 4; i++) await insertEnvironment(pgTest.db, { name: `r${i}`, publicIp: "127.0.0.1" });
      sim.faults.set("GET /status", "hold"); // keep the first round busy while the second tries
      const first = monitorOn(pgTest.db, sim, 4).runOnce();
      await until(() => sim.heldCount === 4, "the first round's requests"); // it holds the lock now
      const second = await monitorOn(other, sim, 4).runOnce();
      expect(second.ran).toBe(false);
      sim.faults.clear();
      sim.release();
      expect(await first).toEqual({ ran: true, refreshed: 4, failed: 0 });
      expect((await monitorOn(other, sim, 4).runOnce()).ran).toBe(true);
    } finally {
      await other.close();
      await sim.stop();
      await pgTest.drop();
    }
  });
});
