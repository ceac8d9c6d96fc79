// Active health through the API, as a front end uses it: the three axes on a server, filters on
// them, status events when one changes (graphql-ws), automatic recovery's record and history, and
// the health policy mutation. The droplet is the DTMA simulator; its containers real SDK servers.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "../../src/data/db.ts";
import { migrate } from "../../src/data/migrate.ts";
import { SqlStore } from "../../src/data/sql-store.ts";
import { freePort } from "../../src/demo/sample-servers.ts";
import { DtmaSimulator } from "../../src/demo/simulator.ts";
import { DEFAULT_RECOVERY } from "../../src/domain/recovery.ts";
import { DEFAULT_THRESHOLDS } from "../../src/domain/status.ts";
import { DtmaClient } from "../../src/dtma/client.ts";
import { Recovery } from "../../src/fleet/recovery.ts";
import type { LiveFleet } from "../../src/live/fleet.ts";
import { createLogger } from "../../src/log.ts";
import { insertEnvironment } from "../../fixtures/fleet.ts";
import { codes, startTestServer, type TestServer } from "../helpers/server.ts";
import { subscribeWs, wsClient } from "../helpers/subscriptions.ts";
import { sqlTargets } from "../helpers/targets.ts";
import { until } from "../helpers/wait.ts";

const KEY = "backend-key-for-active-health-0123";
const AXES = `status { state desired reachability recovery } agent { containerState stale problem } recovery { status attempts reason nextAttemptAt } healthPolicy { autoRecovery probeBudgetMs }`;

describe.each(sqlTargets)("active health through the API on $name", (target) => {
  let db: Db;
  let close: () => Promise<void>;
  let sim: DtmaSimulator;
  let server: TestServer & { live?: LiveFleet };
  let envId: string;
  let id: string;
  const logger = createLogger("silent");

  beforeAll(async () => {
    ({ db, close } = await target.open());
    await migrate(db);
    sim = await new DtmaSimulator({ shape: "A", apiKey: KEY, mcpServers: true }).start();
    envId = await insertEnvironment(db, { name: "health-droplet", publicIp: "127.0.0.1", status: "active" });
    server = await startTestServer(new SqlStore(db), {
      live: { coalesceMs: 5 },
      env: { DTMA_PORT: String(sim.port), DTMA_API_KEY: KEY, DTMA_TIMEOUT_MS: "2000", DTMA_RETRIES: "0", MCP_PROBE_TIMEOUT_MS: "3000" },
    });
    const { body } = await server.gql(`mutation($input: DeployServerInput!) { deployServer(input: $input) { id } }`, {
      input: { environmentId: envId, image: "ghcr.io/example/health:1", name: "health", ports: [{ containerPort: 8080, hostPort: await freePort() }] },
    });
    expect(body.errors).toBeUndefined();
    id = body.data.deployServer.id;
  });
  afterAll(async () => {
    await server?.close();
    await sim?.stop();
    await close?.();
  });

  const read = async () => {
    const { body } = await server.gql(`query($id: ID!) { server(id: $id) { ${AXES} } }`, { id });
    expect(body.errors).toBeUndefined();
    return body.data.server;
  };
  const matching = async (filter: Record<string, unknown>) =>
    (await server.gql(`query($f: ServerFilter) { servers(first: 10, filter: $f) { totalCount } }`, { f: filter })).body.data.servers.totalCount;
  const test = () => server.gql(`mutation($id: ID!) { testServerConnection(id: $id) { success errorKind } }`, { id });

  it("shows the three axes of a freshly deployed server", async () => {
    expect(await read()).toEqual({
      status: { state: "RUNNING", desired: "RUNNING", reachability: "UNKNOWN", recovery: "IDLE" },
      agent: { containerState: "RUNNING", stale: true, problem: null }, // no heartbeat yet
      recovery: { status: "IDLE", attempts: 0, reason: null, nextAttemptAt: null },
      healthPolicy: { autoRecovery: true, probeBudgetMs: null },
    });
    expect(await matching({ desiredStates: ["RUNNING"], reachabilities: ["UNKNOWN"], recoveries: ["IDLE"] })).toBe(1);
    expect(await matching({ reachabilities: ["REACHABLE"] })).toBe(0);
  });

  it("sets the health policy, refusing what is out of bounds or not the viewer's", async () => {
    const set = (input: Record<string, unknown>) =>
      server.gql(`mutation($input: ServerHealthPolicyInput!) { setServerHealthPolicy(input: $input) { healthPolicy { autoRecovery probeBudgetMs } } }`, {
        input,
      });
    expect(codes((await set({ id, probeBudgetMs: 999 })).body)).toEqual(["BAD_USER_INPUT"]);
    expect(codes((await set({ id: "00000000-0000-4000-8000-000000000000", autoRecovery: false })).body)).toEqual(["NOT_FOUND"]);
    expect((await set({ id, probeBudgetMs: 1000 })).body.data.setServerHealthPolicy.healthPolicy).toEqual({ autoRecovery: true, probeBudgetMs: 1000 });
    expect((await set({ id, autoRecovery: false })).body.data.setServerHealthPolicy.healthPolicy).toEqual({ autoRecovery: false, probeBudgetMs: 1000 });
    expect((await read()).recovery.status).toBe("DISABLED");
    expect(await matching({ recoveries: ["DISABLED"] })).toBe(1);
    await set({ id, autoRecovery: true });
    expect((await read()).status.recovery).toBe("IDLE");
  });

  it("sends a status event when reachability changes (source PROBE), filterable by it, and the per-server budget bounds each test", async () => {
    const client = wsClient(server.url);
    const sub = subscribeWs(
      client,
      `subscription { serverStatusChanged(filter: { reachabilities: [REACHABLE, UNREACHABLE] }) { current { state reachability } source } }`,
    );
    await until(() => server.live!.serverEvents.size === 1, "the subscription");
    expect((await test()).body.data.testServerConnection.success).toBe(true);
    expect((await sub.next()).serverStatusChanged).toEqual({ current: { state: "RUNNING", reachability: "REACHABLE" }, source: "PROBE" });
    expect(await matching({ reachabilities: ["REACHABLE"] })).toBe(1);

    sim.injectFault("health", { kind: "hang" });
    const started = Date.now();
    for (let i = 0; i < 3; i++) expect((await test()).body.data.testServerConnection).toEqual({ success: false, errorKind: "TIMEOUT" });
    // Three tests of the 1 s budget set above, not of MCP_PROBE_TIMEOUT_MS (3 s).
    expect(Date.now() - started).toBeLessThan(3 * 2500);
    expect((await sub.next()).serverStatusChanged).toEqual({ current: { state: "RUNNING", reachability: "UNREACHABLE" }, source: "PROBE" });
    expect(await matching({ reachabilities: ["UNREACHABLE"] })).toBe(1);
    // Heard from by its agent, running: yet its health is UNHEALTHY, because MCP does not answer;
    // in the filter, the summary and the health sort alike.
    await server.gql(`mutation($id: ID!) { refreshServerStatus(id: $id) { id } }`, { id });
    const { body } = await server.gql(
      `query($id: ID!) { server(id: $id) { status { state health } agent { stale } }
         servers(first: 1, filter: { healths: [UNHEALTHY] }, orderBy: { field: HEALTH }) { totalCount edges { node { id } } }
         fleetSummary { byHealth { health count } } }`,
      { id },
    );
    expect(body.data.server).toEqual({ status: { state: "RUNNING", health: "UNHEALTHY" }, agent: { stale: false } });
    expect(body.data.servers).toEqual({ totalCount: 1, edges: [{ node: { id } }] });
    expect(body.data.fleetSummary.byHealth).toContainEqual({ health: "UNHEALTHY", count: 1 });
    await sub.close();
    await client.dispose();
  });

  it("recovers the unreachable server as AUTO_RECOVERY: events, its record, and history with details", async () => {
    // The previous test's subscription must be gone, or the count below would be met before this one is open.
    await until(() => server.live!.serverEvents.size === 0, "the previous subscription closed");
    const client = wsClient(server.url);
    const sub = subscribeWs(client, `subscription { serverStatusChanged(filter: { recoveries: [RECOVERING] }) { current { recovery } source } }`);
    await until(() => server.live!.serverEvents.size === 1, "the subscription");
    const dtma = new DtmaClient({ apiKey: KEY, timeoutMs: 2000, retries: 0, maxBodyBytes: 1 << 20, logger });
    const recovery = new Recovery(
      { store: new SqlStore(db), dtma, dtmaPort: sim.port, allowPrivateTargets: true, logger },
      { intervalMs: 0, concurrency: 2, policy: DEFAULT_RECOVERY, thresholds: DEFAULT_THRESHOLDS, historyDays: 7, logger },
    );
    expect(await recovery.runOnce()).toMatchObject({ attempted: 1, failed: 0 });
    expect((await sub.next()).serverStatusChanged).toEqual({ current: { recovery: "RECOVERING" }, source: "AUTO_RECOVERY" });
    const now = await read();
    expect(now.recovery).toMatchObject({ status: "RECOVERING", attempts: 1, reason: expect.stringMatching(/^3 connection tests failed in a row/) });
    expect(Date.parse(now.recovery.nextAttemptAt) - Date.now()).toBeGreaterThan(25_000);
    expect(await matching({ recoveries: ["RECOVERING"] })).toBe(1);
    const { body } = await server.gql(`query($id: ID!) { server(id: $id) { statusHistory(first: 20) { source detail current { state } } } }`, { id });
    const fromRecovery = body.data.server.statusHistory.filter((h: { source: string }) => h.source === "AUTO_RECOVERY");
    expect(fromRecovery.map((h: { detail: string | null }) => h.detail)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^Automatic restart, attempt 1 of 5: 3 connection tests failed/),
        "Attempt 1: the agent restarted the container",
      ]),
    );
    // The restart cleared the hang: the next test passes, and the next round calls it recovered.
    expect((await test()).body.data.testServerConnection.success).toBe(true);
    expect(await recovery.runOnce()).toMatchObject({ recovered: 1 });
    expect((await read()).recovery).toMatchObject({ status: "RECOVERED", reason: "recovered after 1 attempt" });
    await sub.close();
    await client.dispose();
  });

  it("follows a stop: desired STOPPED, filterable", async () => {
    await server.gql(`mutation($id: ID!) { stopServer(id: $id) { id } }`, { id });
    expect((await read()).status).toMatchObject({ state: "STOPPED", desired: "STOPPED" });
    expect(await matching({ desiredStates: ["STOPPED"] })).toBe(1);
    expect(await matching({ desiredStates: ["RUNNING"] })).toBe(0);
  });
});
