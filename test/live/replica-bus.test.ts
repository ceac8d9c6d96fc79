// Two replicas on one Postgres with REDIS_URL: events made in one process (health-clock
// transitions, connection test results) reach the other's subscribers through real Redis, once.
import net from "node:net";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeGlobalID } from "@pothos/plugin-relay";
import { migrate } from "../../src/data/migrate.ts";
import { SqlStore } from "../../src/data/sql-store.ts";
import type { LiveFleet } from "../../src/live/fleet.ts";
import { startStreamableServer, type Running } from "../../src/demo/sample-servers.ts";
import { pgliteDb, postgresDb } from "../../src/data/db.ts";
import { insertEnvironment, insertServer } from "../../fixtures/fleet.ts";
import { ManualClock } from "../helpers/manual-clock.ts";
import { describePostgres, freshPostgres, type TestDatabase } from "../helpers/postgres.ts";
import { Redis } from "ioredis";
import { REDIS_URL, describeRedis } from "../helpers/redis.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { subscribeWs, wsClient } from "../helpers/subscriptions.ts";
import { until } from "../helpers/wait.ts";
import { capturingLogger } from "../helpers/logs.ts";

const STATUS_CHANGED = `subscription($filter: ServerEventFilter) {
  serverStatusChanged(filter: $filter) { server { name } current { state health } source at } }`;
const TESTED = `subscription($ids: [ID!]) { connectionTested(serverIds: $ids) { success serverInfo { name } } }`;

// Needs both services: each says when it is missing (and fails the run under CI=true).
describePostgres("replica bus on Postgres", () => {
  describeRedis("replica bus over Redis", () => {
    let pgTest: TestDatabase;
    let one: TestServer & { live?: LiveFleet };
    let two: TestServer & { live?: LiveFleet };
    let mcp: Running;
    const clockOne = new ManualClock();
    const clockTwo = new ManualClock();
    const ids: Record<string, string> = {};
    const channel = `mcp-fleet-test:${randomBytes(4).toString("hex")}`;

    beforeAll(async () => {
      mcp = await startStreamableServer({ name: "bus-probe" });
      pgTest = await freshPostgres();
      await migrate(pgTest.db);
      const env = await insertEnvironment(pgTest.db, { name: "bus-env", publicIp: "127.0.0.1" });
      ids.s = await insertServer(pgTest.db, {
        env,
        name: "aging",
        status: "running",
        heartbeatSecondsAgo: 0,
        portMapping: { container_port: 8080, host_port: mcp.port },
      });
      const [{ now }] = await pgTest.db.query<{ now: Date }>("SELECT now() AS now");
      for (const clock of [clockOne, clockTwo]) clock.advance(now.getTime() - clock.now().getTime());
      const env2 = { REDIS_URL, REDIS_CHANNEL: channel };
      const otherDb = postgresDb({
        connectionString: pgTest.url,
        maxConnections: 2,
        connectTimeoutMs: 3000,
        statementTimeoutMs: 5000,
        listenerName: `bus-${pgTest.schema}`,
      });
      one = await startTestServer(new SqlStore(pgTest.db), { live: { clock: clockOne, coalesceMs: 5 }, env: env2 });
      two = await startTestServer(new SqlStore(otherDb), { live: { clock: clockTwo, coalesceMs: 5 }, env: env2 });
    });
    afterAll(async () => {
      await two?.close();
      await one?.close();
      await pgTest?.drop();
      await mcp?.close();
    });

    it("delivers a health-clock transition made on one replica to the other's subscribers, once", async () => {
      const client = wsClient(two.url);
      const sub = subscribeWs(client, STATUS_CHANGED, { filter: { serverIds: [ids.s] } });
      await until(() => two.live!.serverEvents.size === 1);
      // Only replica one's clock passes the 5-minute mark; replica two's stands still.
      clockOne.advance(5 * 60_000 + 1000);
      const event = (await sub.next(3000)).serverStatusChanged;
      expect(event).toMatchObject({ server: { name: "aging" }, current: { state: "RUNNING", health: "DEGRADED" }, source: "HEALTH_CLOCK" });
      // The moment replica one's clock saw the threshold pass; replica two's clock is 5 minutes behind it.
      expect(new Date(event.at).getTime()).toBeGreaterThan(clockTwo.now().getTime() + 5 * 60_000 - 2000);
      // When replica two's own clock gets there, it has nothing left to say.
      clockTwo.advance(5 * 60_000 + 2000);
      expect(await sub.quiet(300)).toBe(true);
      const metrics = await (await fetch(new URL("/metrics", two.url))).text();
      expect(metrics).toMatch(/mcp_fleet_replica_bus_messages_total\{direction="received",outcome="ok"\} [1-9]/);
      await sub.close();
      await client.dispose();
    });

    it("delivers a connection test run on one replica to the subscribers of both, once each", async () => {
      const c1 = wsClient(one.url);
      const c2 = wsClient(two.url);
      const s1 = subscribeWs(c1, TESTED, { ids: [ids.s] });
      const s2 = subscribeWs(c2, TESTED, { ids: [ids.s] });
      await until(() => one.live!.connectionTests.size === 1 && two.live!.connectionTests.size === 1);
      const { body } = await one.gql(`mutation($id: ID!) { testServerConnection(id: $id) { success } }`, { id: encodeGlobalID("MCPServer", ids.s) });
      expect(body.data.testServerConnection.success).toBe(true);
      expect(await s1.next(3000)).toEqual({ connectionTested: { success: true, serverInfo: { name: "bus-probe" } } });
      expect(await s2.next(3000)).toEqual({ connectionTested: { success: true, serverInfo: { name: "bus-probe" } } });
      // The database's notice of the same row comes later on both replicas: it is not sent again.
      await one.live!.settled();
      await two.live!.settled();
      expect(await s1.quiet(300)).toBe(true);
      expect(await s2.quiet(0)).toBe(true);
      await c1.dispose();
      await c2.dispose();
    });
  });
});

// Needs neither Redis nor Postgres: it runs everywhere, on the embedded database.
describe("replica bus without Redis", () => {
  it("serves anyway when Redis does not answer, and says so once in the log (without the password)", async () => {
    // Where Redis should be, a port that accepts and drops every connection: each attempt is counted.
    let attempts = 0;
    const dropper = net.createServer((socket) => {
      attempts++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => dropper.listen(0, "127.0.0.1", () => resolve()));
    const port = (dropper.address() as net.AddressInfo).port;
    const db = await pgliteDb(undefined);
    await migrate(db);
    const { logger, lines } = capturingLogger();
    const clock = new ManualClock();
    const env = await insertEnvironment(db, { name: "lonely", publicIp: "203.0.113.90" });
    const id = await insertServer(db, { env, name: "alone", status: "running", heartbeatSecondsAgo: 0 });
    const [{ now }] = await db.query<{ now: Date }>("SELECT now() AS now");
    clock.advance(now.getTime() - clock.now().getTime());
    const server = await startTestServer(new SqlStore(db), {
      logger,
      live: { clock, coalesceMs: 5 },
      env: { REDIS_URL: `redis://:hunter2-secret@127.0.0.1:${port}`, REDIS_CONNECT_TIMEOUT_MS: "300" },
    });
    try {
      const client = wsClient(server.url);
      const sub = subscribeWs(client, STATUS_CHANGED, { filter: { serverIds: [id] } });
      await until(() => server.live!.serverEvents.size === 1, "the subscription");
      clock.advance(5 * 60_000 + 1000);
      expect((await sub.next(3000)).serverStatusChanged.current.health).toBe("DEGRADED");
      const { body } = await server.gql("{ servers(first: 1) { totalCount } }");
      expect(body.data.servers.totalCount).toBe(1);
      await until(() => attempts >= 4, "several reconnect attempts");
      const warnings = lines.filter((l) => l.includes("replica bus: Redis is unreachable"));
      expect(warnings).toHaveLength(1);
      expect(lines.join("")).not.toContain("hunter2-secret");
      await sub.close();
      await client.dispose();
    } finally {
      await server.close();
      await new Promise((resolve) => dropper.close(resolve));
    }
  });
});

describeRedis("replica bus messages a replica must not trust", () => {
  it("ignores late, stale, unknown and malformed health messages, and applies a valid one", async () => {
    const db = await pgliteDb(undefined);
    await migrate(db);
    const env = await insertEnvironment(db, { name: "e", publicIp: "203.0.113.91" });
    // Degraded after 60 s of silence; this replica's clock stands still unless a message moves a server.
    const ids = {
      late: await insertServer(db, { env, name: "late", status: "running", heartbeatSecondsAgo: 70 }), // DEGRADED now, HEALTHY 15 s ago
      fresh: await insertServer(db, { env, name: "fresh", status: "running", heartbeatSecondsAgo: 10 }), // HEALTHY for 50 s more
      valid: await insertServer(db, { env, name: "valid", status: "running", heartbeatSecondsAgo: 58 }), // DEGRADED in 2 s
    };
    const clock = new ManualClock();
    const [{ now }] = await db.query<{ now: Date }>("SELECT now() AS now");
    clock.advance(now.getTime() - clock.now().getTime());
    const version = async (id: string) =>
      (await db.query<{ updated_at: Date }>("SELECT updated_at FROM account_tool_instances WHERE id = $1", [id]))[0].updated_at.getTime();
    const channel = `mcp-fleet-test-${randomBytes(4).toString("hex")}`;
    const server = await startTestServer(new SqlStore(db), {
      live: { clock, coalesceMs: 5 },
      env: { REDIS_URL, REDIS_CHANNEL: channel, HEARTBEAT_DEGRADED_AFTER_MS: "60000", HEARTBEAT_UNHEALTHY_AFTER_MS: "600000" },
    });
    const foreign = new Redis(REDIS_URL);
    const client = wsClient(server.url);
    try {
      const sub = subscribeWs(client, STATUS_CHANGED, {});
      await until(() => server.live!.serverEvents.size === 1, "the subscription");
      const at = (ms: number) => new Date(clock.now().getTime() + ms).toISOString();
      const send = (message: object) => foreign.publish(channel, JSON.stringify({ origin: "another-replica", message }));
      await send({ type: "health", serverId: ids.late, version: await version(ids.late), at: at(-15_000) }); // late: would turn it back to HEALTHY
      await send({ type: "health", serverId: ids.fresh, version: (await version(ids.fresh)) - 1, at: at(55_000) }); // an older row version: DEGRADED if believed
      await send({ type: "health", serverId: "00000000-0000-4000-8000-000000000000", version: 1, at: at(1000) }); // no such server
      await send({ type: "nonsense" });
      // In order on one channel: when the valid one arrives, the others were handled.
      await send({ type: "health", serverId: ids.valid, version: await version(ids.valid), at: at(3000) });
      // Its event is the first: none of the others changed anything.
      expect((await sub.next()).serverStatusChanged).toMatchObject({ server: { name: "valid" }, current: { health: "DEGRADED" }, source: "HEALTH_CLOCK" });
      await sub.close();
    } finally {
      foreign.disconnect();
      await client.dispose();
      await server.close();
    }
  });
});
