// The background prober against real MCP servers on loopback: each running server once per
// interval (once across replicas), never a stopped one, and the reachability axis it feeds.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postgresDb, type Db } from "../../src/data/db.ts";
import { migrate } from "../../src/data/migrate.ts";
import { SqlStore } from "../../src/data/sql-store.ts";
import { freePort, startStreamableServer, type Running } from "../../src/demo/sample-servers.ts";
import { Prober } from "../../src/fleet/prober.ts";
import type { TestConnectionDeps } from "../../src/fleet/test-connection.ts";
import { createLogger } from "../../src/log.ts";
import { insertEnvironment, insertServer } from "../../fixtures/fleet.ts";
import { describePostgres, freshPostgres, type TestDatabase } from "../helpers/postgres.ts";
import { startTestServer } from "../helpers/server.ts";
import { sqlTargets } from "../helpers/targets.ts";

const INTERVAL = 60_000;
const logger = createLogger("silent");

const deps = (db: Db): TestConnectionDeps => ({
  store: new SqlStore(db),
  dtmaPort: 30000,
  allowPrivateTargets: true,
  probeTimeoutMs: 3000,
  historyLimit: 100,
  logger,
});

async function fleet(db: Db, up: Running, downPort: number) {
  await migrate(db);
  const env = await insertEnvironment(db, { name: "probed", publicIp: "127.0.0.1" });
  const server = (name: string, status: string, port: number) =>
    insertServer(db, { env, name, status, heartbeatSecondsAgo: 1, transport: "sse", portMapping: { container_port: 8080, host_port: port } });
  return { up: await server("up", "running", up.port), down: await server("down", "running", downPort), stopped: await server("stopped", "stopped", up.port) };
}

const testsOf = async (db: Db, id: string) =>
  (await db.query<{ n: number }>("SELECT count(*)::int AS n FROM mcp_connection_tests WHERE account_tool_instance_id = $1", [id]))[0].n;

describe.each(sqlTargets)("the background prober on $name", (target) => {
  let db: Db;
  let close: () => Promise<void>;
  let up: Running;
  let ids: Awaited<ReturnType<typeof fleet>>;
  let offset = 0;
  let prober: Prober;

  beforeAll(async () => {
    up = await startStreamableServer({ name: "probed" });
    ({ db, close } = await target.open());
    ids = await fleet(db, up, await freePort());
    prober = new Prober(deps(db), { intervalMs: INTERVAL, concurrency: 4, startBudgetMs: 5000, logger, now: () => Date.now() + offset });
  });
  afterAll(async () => {
    await close?.();
    await up?.close();
  });

  it("tests each running server once per interval, and never a stopped one", async () => {
    expect(await prober.runOnce()).toEqual({ ran: true, probed: 2, failed: 1 });
    expect([await testsOf(db, ids.up), await testsOf(db, ids.down), await testsOf(db, ids.stopped)]).toEqual([1, 1, 0]);
    // Within the interval: nothing is due.
    expect(await prober.runOnce()).toEqual({ ran: true, probed: 0, failed: 0 });
    offset += INTERVAL;
    expect(await prober.runOnce()).toMatchObject({ probed: 2 });
    expect([await testsOf(db, ids.up), await testsOf(db, ids.down), await testsOf(db, ids.stopped)]).toEqual([2, 2, 0]);
  });

  it("feeds the reachability axis: REACHABLE, and UNREACHABLE after three failures in a row", async () => {
    offset += INTERVAL;
    await prober.runOnce();
    const api = await startTestServer(new SqlStore(db));
    try {
      const read = async (id: string) =>
        (await api.gql(`query($id: ID!) { server(id: $id) { reachability { status consecutiveFailures lastError lastProbeAt latencyMs } } }`, { id })).body.data
          .server.reachability;
      expect(await read(ids.up)).toMatchObject({ status: "REACHABLE", consecutiveFailures: 0, lastError: null });
      const down = await read(ids.down);
      expect(down).toMatchObject({ status: "UNREACHABLE", consecutiveFailures: 3 });
      expect(down.lastError).toMatch(/refused|reach/i);
      expect(await read(ids.stopped)).toMatchObject({ status: "UNKNOWN", consecutiveFailures: 0, lastProbeAt: null });
    } finally {
      // The API server closes the store it was given, and with it this database: close last.
      await api.app.close();
    }
  });
});

describe.each(sqlTargets)("a paced round of the prober on $name", (target) => {
  let db: Db;
  let close: () => Promise<void>;
  let up: Running;
  let ids: Awaited<ReturnType<typeof fleet>>;

  beforeAll(async () => {
    up = await startStreamableServer({ name: "paced" });
    ({ db, close } = await target.open());
    ids = await fleet(db, up, await freePort());
    // The up server was tested before, and spoke the legacy era.
    await new Prober(deps(db), { intervalMs: INTERVAL, concurrency: 4, startBudgetMs: 5000, logger }).runOnce();
  });
  afterAll(async () => {
    await close?.();
    await up?.close();
  });

  it("probes light, and a paced round spreads its probes over 80% of the interval; stop() ends one at once", async () => {
    const paced = new Prober(deps(db), { intervalMs: 1000, concurrency: 4, startBudgetMs: 5000, logger, now: () => Date.now() + 5000 });
    const started = Date.now();
    expect(await paced.runOnce(true)).toMatchObject({ probed: 2 });
    const times = await db.query<{ t: Date; phases: Array<{ name: string }> }>(
      `SELECT tested_at AS t, phases FROM mcp_connection_tests WHERE account_tool_instance_id = ANY($1::uuid[]) AND tested_at >= $2 ORDER BY tested_at`,
      [[ids.up, ids.down], new Date(started).toISOString()],
    );
    // Two due: the second starts 400 ms (0.8 x 1000 / 2) after the first.
    expect(times[1].t.getTime() - times[0].t.getTime()).toBeGreaterThanOrEqual(380);
    // Light: no GET /health, resources, prompts or ping; the up server spoke legacy last time, so no discovery either.
    expect(times.map((r) => r.phases.map((p) => p.name)).sort()).toEqual([["discover"], ["initialize", "tools/list"]].sort());
    // A paced round of a long interval is cut short by stop().
    const slow = new Prober(deps(db), { intervalMs: 600_000, concurrency: 1, startBudgetMs: 5000, logger, now: () => Date.now() + INTERVAL * 20 });
    const round = slow.runOnce(true);
    await new Promise((r) => setTimeout(r, 100));
    const stopping = Date.now();
    await slow.stop();
    await round;
    expect(Date.now() - stopping).toBeLessThan(2000);
  });
});

describePostgres("probers of two replicas", () => {
  let t: TestDatabase;
  let other: Db;
  let up: Running;
  let ids: Awaited<ReturnType<typeof fleet>>;

  beforeAll(async () => {
    up = await startStreamableServer({ name: "probed" });
    t = await freshPostgres();
    ids = await fleet(t.db, up, await freePort());
    // A second replica: its own pool on the same database.
    other = postgresDb({ connectionString: t.url, maxConnections: 4, connectTimeoutMs: 3000, statementTimeoutMs: 10_000, listenerName: "other" });
  });
  afterAll(async () => {
    await other?.close();
    await t?.drop();
    await up?.close();
  });

  it("test each server once between them, whichever holds the lock", async () => {
    const options = { intervalMs: INTERVAL, concurrency: 4, startBudgetMs: 5000, logger };
    const rounds = await Promise.all([new Prober(deps(t.db), options).runOnce(), new Prober(deps(other), options).runOnce()]);
    expect(rounds.reduce((n, r) => n + r.probed, 0)).toBe(2);
    expect([await testsOf(t.db, ids.up), await testsOf(t.db, ids.down), await testsOf(t.db, ids.stopped)]).toEqual([1, 1, 0]);
  });
});
