// The fleet-wide agent key goes only to droplets whose agent should be answering. A deprovisioned
// droplet's address may belong to someone else now: no mutation and no monitor round contacts it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pgliteDb, type Db } from "../../src/data/db.ts";
import { migrate } from "../../src/data/migrate.ts";
import { SqlStore } from "../../src/data/sql-store.ts";
import { DtmaSimulator } from "../../src/demo/simulator.ts";
import { DtmaClient } from "../../src/dtma/client.ts";
import { Monitor } from "../../src/fleet/monitor.ts";
import { createLogger } from "../../src/log.ts";
import { insertEnvironment, insertServer } from "../../fixtures/fleet.ts";
import { codes, startTestServer, type TestServer } from "../helpers/server.ts";

const KEY = "fleet-wide-agent-key-0123456789";
const GONE = [
  "deprovisioned",
  "deprovisioning",
  "pending_deprovision",
  "error_deprovisioning",
  "deleting",
  "pending_deletion",
  "inactive",
  "provisioning",
  "error_provisioning",
];

describe("the agent key and droplets that are gone", () => {
  let db: Db;
  let sim: DtmaSimulator;
  let server: TestServer;
  const droplets: Record<string, { env: string; server: string }> = {};

  beforeAll(async () => {
    db = await pgliteDb(undefined);
    await migrate(db);
    sim = await new DtmaSimulator({ shape: "A", apiKey: KEY }).start();
    for (const status of GONE) {
      const env = await insertEnvironment(db, { name: status, status, publicIp: "127.0.0.1" });
      droplets[status] = {
        env,
        server: await insertServer(db, { env, name: `on-${status}`, status: "running", portMapping: { container_port: 8080, host_port: sim.port } }),
      };
    }
    server = await startTestServer(new SqlStore(db), { env: { DTMA_PORT: String(sim.port), DTMA_API_KEY: KEY, RATE_LIMIT_PER_MINUTE: "0" } });
  });
  afterAll(async () => {
    await server?.close();
    await sim?.stop();
  });

  it.each(GONE)("refuses every call to a %s droplet with FORBIDDEN, and sends nothing", async (status) => {
    const { env, server: id } = droplets[status];
    const before = sim.requests.length;
    const calls = [
      [`mutation($id: ID!) { refreshEnvironmentStatus(id: $id) { status } }`, env],
      ...["refreshServerStatus", "startServer", "stopServer", "restartServer", "testServerConnection"].map((m) => [
        `mutation($id: ID!) { ${m}(id: $id) { __typename } }`,
        id,
      ]),
      [`mutation($id: ID!) { deleteServer(id: $id) { deletedServerId } }`, id],
    ] as const;
    for (const [query, target] of calls) {
      const { body } = await server.gql(query, { id: target });
      expect(codes(body), query).toEqual(["FORBIDDEN"]);
      expect(body.errors![0].message).toMatch(new RegExp(`is ${status}`));
    }
    const deploy = await server.gql(`mutation($e: ID!) { deployServer(input: { environmentId: $e, image: "img:1", name: "new-${status}" }) { id } }`, {
      e: env,
    });
    expect(codes(deploy.body)).toEqual(["FORBIDDEN"]);
    expect(sim.requests.length).toBe(before);
    expect((await db.query("SELECT count(*)::int AS n FROM account_tool_instances WHERE account_tool_environment_id = $1", [env]))[0]).toEqual({ n: 1 });
  });

  it("forgets a server on a droplet that is gone with force, contacting nothing, and says a container may remain", async () => {
    const { env, server: id } = droplets.deprovisioned;
    const before = sim.requests.length;
    const { body } = await server.gql(`mutation($id: ID!) { deleteServer(id: $id, force: true) { deletedServerId container } }`, { id });
    expect(body.data.deleteServer).toEqual({ deletedServerId: id, container: "NOT_CONTACTED" });
    expect(sim.requests.length).toBe(before);
    expect((await db.query("SELECT count(*)::int AS n FROM account_tool_instances WHERE account_tool_environment_id = $1", [env]))[0]).toEqual({ n: 0 });
  });

  it("leaves them out of the monitor's rounds", async () => {
    const logger = createLogger("silent");
    const dtma = new DtmaClient({ apiKey: KEY, timeoutMs: 1000, retries: 0, maxBodyBytes: 1 << 20, logger });
    const before = sim.requests.length;
    const round = await new Monitor(
      { store: new SqlStore(db), dtma, dtmaPort: sim.port, allowPrivateTargets: true, logger },
      { intervalMs: 0, concurrency: 2, logger },
    ).runOnce();
    expect(round).toEqual({ ran: true, refreshed: 0, failed: 0 });
    expect(sim.requests.length).toBe(before);
  });
});

// DTMA_CREDENTIAL=droplet-token: each agent gets its droplet's own token, which opens that agent
// only (the later agent variant accepts it), so the fleet-wide key never travels at all.
describe("per-droplet agent tokens (DTMA_CREDENTIAL=droplet-token)", () => {
  let db: Db;
  let sim: DtmaSimulator;
  let server: TestServer;
  let env: string;
  let serverId: string;

  beforeAll(async () => {
    db = await pgliteDb(undefined);
    await migrate(db);
    env = await insertEnvironment(db, { name: "own-token", publicIp: "127.0.0.1" });
    const [{ token }] = await db.query<{ token: string }>("SELECT dtma_bearer_token AS token FROM account_tool_environments WHERE id = $1", [env]);
    // This agent knows only its droplet's token: the shared key would be refused (403).
    sim = await new DtmaSimulator({ shape: "A", apiKey: "not-the-fleet-key-0123456789", dropletToken: token }).start();
    serverId = await insertServer(db, { env, name: "tool", status: "running", portMapping: { container_port: 8080, host_port: sim.port } });
    await sim.add({ name: "tool", accountToolInstanceId: serverId });
    server = await startTestServer(new SqlStore(db), {
      env: { DTMA_PORT: String(sim.port), DTMA_API_KEY: KEY, DTMA_CREDENTIAL: "droplet-token", RATE_LIMIT_PER_MINUTE: "0" },
    });
  });
  afterAll(async () => {
    await server?.close();
    await sim?.stop();
  });

  it("sends the droplet's own token, never the fleet-wide key", async () => {
    const [{ token }] = await db.query<{ token: string }>("SELECT dtma_bearer_token AS token FROM account_tool_environments WHERE id = $1", [env]);
    const refreshed = await server.gql(`mutation($id: ID!) { refreshEnvironmentStatus(id: $id) { status } }`, { id: env });
    expect(refreshed.body.errors).toBeUndefined();
    const stopped = await server.gql(`mutation($id: ID!) { stopServer(id: $id) { status { state } } }`, { id: serverId });
    expect(stopped.body.errors).toBeUndefined();
    expect(sim.requests.length).toBeGreaterThanOrEqual(2);
    expect(new Set(sim.requests.map((r) => r.authorization))).toEqual(new Set([`Bearer ${token}`]));
  });

  it("refuses a droplet without a token with FORBIDDEN, sending nothing", async () => {
    await db.query("UPDATE account_tool_environments SET dtma_bearer_token = NULL WHERE id = $1", [env]);
    const before = sim.requests.length;
    const { body } = await server.gql(`mutation($id: ID!) { refreshEnvironmentStatus(id: $id) { status } }`, { id: env });
    expect(codes(body)).toEqual(["FORBIDDEN"]);
    expect(body.errors![0].message).toMatch(/no agent token/);
    expect(sim.requests.length).toBe(before);
  });
});
