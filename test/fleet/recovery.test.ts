// Automatic recovery end to end: a deployed server on the DTMA simulator (a real SDK MCP server per
// container), faults injected into it, the agent's reports applied as heartbeats would, and the
// engine's rounds with an injected clock. What users see: the row, the status history, the agent.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Db } from "../../src/data/db.ts";
import { migrate } from "../../src/data/migrate.ts";
import { SqlStore } from "../../src/data/sql-store.ts";
import { DtmaSimulator } from "../../src/demo/simulator.ts";
import { freePort } from "../../src/demo/sample-servers.ts";
import { DEFAULT_RECOVERY, parseRecovery } from "../../src/domain/recovery.ts";
import { DEFAULT_THRESHOLDS } from "../../src/domain/status.ts";
import { DtmaClient } from "../../src/dtma/client.ts";
import { deployServer, type OperationDeps, refreshEnvironment, startServer, stopServer } from "../../src/fleet/operations.ts";
import { Recovery } from "../../src/fleet/recovery.ts";
import { testConnection } from "../../src/fleet/test-connection.ts";
import { createLogger } from "../../src/log.ts";
import { insertEnvironment } from "../../fixtures/fleet.ts";
import { sqlTargets } from "../helpers/targets.ts";

const KEY = "recovery-key";
const logger = createLogger("silent");

describe.each(sqlTargets)("automatic recovery on $name", (target) => {
  let db: Db;
  let close: () => Promise<void>;
  let sim: DtmaSimulator;
  let deps: OperationDeps;
  let envId: string;
  let offset = 0;
  const now = () => new Date(Date.now() + offset);
  const recovery = () =>
    new Recovery(deps, { intervalMs: 0, concurrency: 4, policy: DEFAULT_RECOVERY, thresholds: DEFAULT_THRESHOLDS, historyDays: 7, logger, now });
  const row = async (id: string) =>
    (
      await db.query<{ status: string; desired: string; source: string; recovery: unknown }>(
        `SELECT status_on_toolbox AS status, mcp_fleet_desired_state AS desired, mcp_fleet_write_source AS source, mcp_fleet_recovery AS recovery
         FROM account_tool_instances WHERE id = $1`,
        [id],
      )
    )[0];
  const history = async (id: string) =>
    db.query<{ state: string; source: string; detail: string | null }>(
      "SELECT state, source, detail FROM mcp_fleet_status_history WHERE account_tool_instance_id = $1 ORDER BY at, id",
      [id],
    );
  let n = 0;
  const deploy = async () => {
    const server = await deployServer(deps, {
      environmentId: envId,
      image: `ghcr.io/example/mcp-${n + 1}:1`,
      name: `srv-${++n}`,
      env: [],
      ports: [{ containerPort: 8080, hostPort: await freePort() }],
      transport: "sse",
      endpointPath: "/mcp",
    });
    return { id: server.id, name: server.name as string };
  };
  /** What a heartbeat would bring: the agent's view of every container. */
  const report = () => refreshEnvironment(deps, envId);

  beforeAll(async () => {
    ({ db, close } = await target.open());
    await migrate(db);
    sim = await new DtmaSimulator({ shape: "A", apiKey: KEY, mcpServers: true }).start();
    const store = new SqlStore(db);
    const dtma = new DtmaClient({ apiKey: KEY, timeoutMs: 2000, retries: 0, maxBodyBytes: 1 << 20, logger });
    deps = { store, dtma, dtmaPort: sim.port, allowPrivateTargets: true, logger, now };
    envId = await insertEnvironment(db, { name: "recovering", publicIp: "127.0.0.1", status: "active" });
  });
  afterAll(async () => {
    await sim?.stop();
    await close?.();
  });
  beforeEach(() => {
    sim.faults.clear();
    offset = 0;
  });

  it("starts a crashed container again, as AUTO_RECOVERY, and says it recovered", async () => {
    const s = await deploy();
    expect(await row(s.id)).toMatchObject({ status: "running", desired: "RUNNING" });
    sim.injectFault(s.name, { kind: "crash" });
    await report();
    expect(await row(s.id)).toMatchObject({ status: "stopped", desired: "RUNNING", source: "AGENT_REPORT" });

    expect(await recovery().runOnce()).toMatchObject({ ran: true, attempted: 1, failed: 0 });
    expect(sim.containers.get(s.name)?.state).toBe("running");
    const after = await row(s.id);
    expect(after).toMatchObject({ status: "running", desired: "RUNNING", source: "AUTO_RECOVERY" });
    expect(parseRecovery(after.recovery)).toMatchObject({ state: "RECOVERING", trigger: "AGENT", attempts: [expect.any(String)] });

    await report();
    expect(await recovery().runOnce()).toMatchObject({ attempted: 0, recovered: 1 });
    expect(parseRecovery((await row(s.id)).recovery)).toMatchObject({ state: "RECOVERED", reason: "recovered after 1 attempt" });
    const details = (await history(s.id)).filter((h) => h.source === "AUTO_RECOVERY").map((h) => h.detail);
    expect(details).toEqual([
      "Automatic start, attempt 1 of 5: the agent reports the container stopped, though it should run",
      "Attempt 1: the agent started the container",
      "Recovered after 1 automatic attempt",
    ]);
    // And the MCP server answers again.
    expect((await testConnection({ ...deps, probeTimeoutMs: 3000, historyLimit: 10 }, s.id)).success).toBe(true);
  });

  it("never fights a user's stop", async () => {
    const s = await deploy();
    await stopServer(deps, s.id);
    await report();
    expect(await row(s.id)).toMatchObject({ status: "stopped", desired: "STOPPED" });
    const before = sim.requests.length;
    expect(await recovery().runOnce()).toMatchObject({ attempted: 0 });
    expect(sim.containers.get(s.name)?.state).toBe("exited");
    // Only the status read of the round's other servers' ... none for this one: no start was sent.
    expect(sim.requests.slice(before).filter((r) => r.path.includes(s.name))).toEqual([]);
  });

  it("a stop written by anything else (upstream's manager, SQL) is a stop too", async () => {
    const s = await deploy();
    await db.query("UPDATE account_tool_instances SET status_on_toolbox = 'stopping' WHERE id = $1", [s.id]);
    expect(await row(s.id)).toMatchObject({ desired: "STOPPED", source: "DATABASE" });
    await db.query("UPDATE account_tool_instances SET status_on_toolbox = 'stopped' WHERE id = $1", [s.id]);
    expect(await recovery().runOnce()).toMatchObject({ attempted: 0 });
  });

  it("backs off between failing attempts, gives up after five in the window, and a person's start closes the circuit", async () => {
    const s = await deploy();
    sim.injectFault(s.name, { kind: "crash" });
    await report();
    sim.faults.set("POST /tools/:name/start", 500);
    const round = () => recovery().runOnce();
    expect(await round()).toMatchObject({ attempted: 1, failed: 1 });
    expect(parseRecovery((await row(s.id)).recovery)).toMatchObject({ state: "RECOVERING", lastError: expect.stringContaining("500") });
    // Within the backoff: nothing.
    offset = 29_000;
    expect(await round()).toMatchObject({ attempted: 0 });
    // Attempts 2..5, each after its backoff (30, 60, 120, 240 s after the one before).
    for (const wait of [30_000, 60_000, 120_000, 240_000]) {
      offset += wait;
      expect(await round()).toMatchObject({ attempted: 1, failed: 1 });
    }
    offset += 480_000;
    await report(); // the agent still reports (else its silence would block recovery instead)
    expect(await round()).toMatchObject({ attempted: 0, gaveUp: 1 });
    const gaveUp = parseRecovery((await row(s.id)).recovery);
    expect(gaveUp).toMatchObject({ state: "GAVE_UP", attempts: expect.any(Array) });
    expect(gaveUp?.reason).toMatch(/^gave up after 5 attempts in 60 min; the agent reports the container stopped, though it should run; last error: .*500$/);
    // The circuit stays open: however long one waits, nothing is sent.
    offset += 3_000_000;
    await report();
    expect(await round()).toMatchObject({ attempted: 0, gaveUp: 0 });
    // A person starts it: the record is cleared, and the next fault is recovered afresh.
    sim.faults.clear();
    await startServer(deps, s.id);
    expect(await row(s.id)).toMatchObject({ status: "running", recovery: null, source: "LIFECYCLE" });
    const details = (await history(s.id)).filter((h) => h.source === "AUTO_RECOVERY").map((h) => h.detail);
    expect(details.filter((d) => d?.match(/^Automatic (start|restart), attempt/))).toHaveLength(5);
    expect(details.filter((d) => d?.match(/^Attempt \d failed: /))).toHaveLength(5);
    expect(details.at(-1)).toMatch(/^Automatic recovery gave up: .*Start or restart the server to try again\.$/);
  });

  it("does not act on a droplet whose agent is not answering: that is the droplet's problem", async () => {
    const s = await deploy();
    sim.injectFault(s.name, { kind: "crash" });
    await report();
    await db.query("UPDATE account_tool_environments SET status = 'unresponsive' WHERE id = $1", [envId]);
    try {
      const before = sim.requests.length;
      expect(await recovery().runOnce()).toMatchObject({ attempted: 0, blocked: expect.any(Number) });
      expect(sim.requests.length).toBe(before);
      expect(parseRecovery((await row(s.id)).recovery)).toMatchObject({ state: "BLOCKED", reason: expect.stringMatching(/agent is not answering/) });
    } finally {
      await db.query("UPDATE account_tool_environments SET status = 'active' WHERE id = $1", [envId]);
    }
    expect(await recovery().runOnce()).toMatchObject({ attempted: expect.any(Number) });
    expect(sim.containers.get(s.name)?.state).toBe("running");
  });

  it("restarts a server whose MCP endpoint stopped answering after three failed tests, and calls it recovered only when a test passes", async () => {
    const s = await deploy();
    await report();
    sim.injectFault(s.name, { kind: "hang" });
    const test = () => testConnection({ ...deps, probeTimeoutMs: 300, historyLimit: 10 }, s.id);
    for (let i = 0; i < 2; i++) expect((await test()).success).toBe(false);
    expect(await recovery().runOnce()).toMatchObject({ attempted: 0 });
    expect((await test()).errorKind).toBe("TIMEOUT");
    expect(await recovery().runOnce()).toMatchObject({ attempted: 1, failed: 0 });
    expect(parseRecovery((await row(s.id)).recovery)).toMatchObject({
      state: "RECOVERING",
      trigger: "PROBE",
      reason: expect.stringMatching(/^3 connection tests failed in a row/),
    });
    // Restarted, but not yet proven: no verdict until a test says so.
    await report();
    expect(await recovery().runOnce()).toMatchObject({ attempted: 0, recovered: 0 });
    expect((await test()).success).toBe(true);
    expect(await recovery().runOnce()).toMatchObject({ recovered: 1 });
  });

  it("acts once when two replicas' rounds run at the same moment", async () => {
    const s = await deploy();
    sim.injectFault(s.name, { kind: "crash" });
    await report();
    const starts = () => sim.requests.filter((r) => r.method === "POST" && r.path === `/tools/${s.name}/start`).length;
    const before = starts();
    const rounds = await Promise.all([recovery().runOnce(), recovery().runOnce()]);
    expect(rounds.reduce((n, r) => n + r.attempted, 0)).toBe(1);
    expect(starts() - before).toBe(1);
  });

  it("leaves a server whose policy is off alone", async () => {
    const s = await deploy();
    await deps.store.setServerHealthPolicy(s.id, { autoRecovery: false });
    sim.injectFault(s.name, { kind: "crash" });
    await report();
    expect(await recovery().runOnce()).toMatchObject({ attempted: 0 });
    expect(sim.containers.get(s.name)?.state).toBe("exited");
    // Turned on again, it is recovered.
    await deps.store.setServerHealthPolicy(s.id, { autoRecovery: true });
    expect(await recovery().runOnce()).toMatchObject({ attempted: 1 });
  });
});
