// The early-warning watch on a real database: risk levels judged by domain/risk.ts, stored where
// they changed (as EARLY_WARNING), and then filterable and delivered as status events; time moves
// by an injected clock.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "../../src/data/db.ts";
import { migrate } from "../../src/data/migrate.ts";
import { SqlStore } from "../../src/data/sql-store.ts";
import { DEFAULT_THRESHOLDS } from "../../src/domain/status.ts";
import { EarlyWarning } from "../../src/fleet/early-warning.ts";
import type { LiveFleet } from "../../src/live/fleet.ts";
import { createLogger } from "../../src/log.ts";
import { insertEnvironment, insertServer } from "../../fixtures/fleet.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { subscribeWs, wsClient } from "../helpers/subscriptions.ts";
import { sqlTargets } from "../helpers/targets.ts";
import { until } from "../helpers/wait.ts";

const logger = createLogger("silent");
const min = 60_000;

describe.each(sqlTargets)("the early-warning watch on $name", (target) => {
  let db: Db;
  let close: () => Promise<void>;
  let server: TestServer & { live?: LiveFleet };
  let offset = 0;
  const ids: Record<string, string> = {};
  let watch: EarlyWarning;

  beforeAll(async () => {
    ({ db, close } = await target.open());
    await migrate(db);
    const calm = await insertEnvironment(db, { name: "calm", publicIp: "203.0.113.10", metrics: { cpu_load_percent: 10 } });
    const full = await insertEnvironment(db, {
      name: "full",
      publicIp: "203.0.113.11",
      metrics: { cpu_load_percent: 10, memory: { total_bytes: 100, used_bytes: 93 } },
    });
    ids.calm = calm;
    ids.full = full;
    ids.quiet = await insertServer(db, { env: calm, name: "quiet", status: "running", heartbeatSecondsAgo: 5 });
    ids.flapping = await insertServer(db, { env: calm, name: "flapping", status: "running", heartbeatSecondsAgo: 5 });
    ids.pressed = await insertServer(db, { env: full, name: "pressed", status: "running", heartbeatSecondsAgo: 5 });
    // Four state changes within ten minutes: FLAPPING, MEDIUM.
    for (const [i, state] of ["ERROR", "RUNNING", "ERROR", "RUNNING"].entries()) {
      await db.query(
        `INSERT INTO mcp_fleet_status_history (account_tool_instance_id, account_tool_environment_id, at, state, health, source)
         VALUES ($1, $2, now() - make_interval(mins => $3), $4, 'HEALTHY', 'DATABASE')`,
        [ids.flapping, calm, 8 - i * 2, state],
      );
    }
    server = await startTestServer(new SqlStore(db), { live: { coalesceMs: 5 } });
    watch = new EarlyWarning(new SqlStore(db), { intervalMs: 0, thresholds: DEFAULT_THRESHOLDS, logger, now: () => new Date(Date.now() + offset) });
  });
  afterAll(async () => {
    await server?.close();
    await close?.();
  });

  const risks = async () =>
    Object.fromEntries(
      (
        await db.query<{ name: string; risk: string | null; source: string }>(
          "SELECT instance_name_on_toolbox AS name, mcp_fleet_risk AS risk, mcp_fleet_write_source AS source FROM account_tool_instances",
        )
      ).map((r) => [r.name, [r.risk, r.source]]),
    );

  it("stores each level that changed, as EARLY_WARNING, and delivers it as a status event", async () => {
    const client = wsClient(server.url);
    const sub = subscribeWs(client, `subscription { serverStatusChanged(filter: { risks: [MEDIUM, HIGH] }) { server { name } current { risk } source } }`);
    await until(() => server.live!.serverEvents.size === 1, "the subscription");
    // 3 servers and 2 droplets judged; the quiet server and calm droplet stay NONE, unwritten.
    expect(await watch.runOnce()).toEqual({ ran: true, judged: 5, changed: 3 });
    expect(await risks()).toEqual({
      quiet: [null, "DATABASE"],
      flapping: ["MEDIUM", "EARLY_WARNING"],
      pressed: ["MEDIUM", "EARLY_WARNING"],
    });
    const events = [(await sub.next()).serverStatusChanged, (await sub.next()).serverStatusChanged];
    expect(events.sort((a, b) => a.server.name.localeCompare(b.server.name))).toEqual([
      { server: { name: "flapping" }, current: { risk: "MEDIUM" }, source: "EARLY_WARNING" },
      { server: { name: "pressed" }, current: { risk: "MEDIUM" }, source: "EARLY_WARNING" },
    ]);
    // Nothing changed: nothing written.
    expect(await watch.runOnce()).toMatchObject({ changed: 0 });
    expect(await sub.quiet(200)).toBe(true);
    await sub.close();
    await client.dispose();
  });

  it("filters servers and droplets by the stored level", async () => {
    const count = async (query: string) => (await server.gql(query)).body.data;
    expect(await count(`{ servers(first: 10, filter: { risks: [MEDIUM] }) { totalCount } }`)).toEqual({ servers: { totalCount: 2 } });
    expect(await count(`{ servers(first: 10, filter: { risks: [NONE] }) { totalCount } }`)).toEqual({ servers: { totalCount: 1 } });
    const envs = (await server.gql(`{ environments(first: 10, filter: { risks: [MEDIUM] }) { edges { node { name risk { level } } } } }`)).body.data;
    expect(envs.environments.edges).toEqual([{ node: { name: "full", risk: { level: "MEDIUM" } } }]);
  });

  it("lowers a level once its reason has passed: flapping out of its ten-minute window", async () => {
    offset = 11 * min;
    expect(await watch.runOnce()).toMatchObject({ changed: 1 });
    expect((await risks()).flapping).toEqual(["NONE", "EARLY_WARNING"]);
  });
});
