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
