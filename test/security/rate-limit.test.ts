// The limit on mutations that reach droplets: in process, and shared by replicas through Redis.
import { randomBytes } from "node:crypto";
import { createServer, type AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RateLimiter, RedisRateLimiter, type Verdict } from "../../src/auth/rate-limit.ts";
import { createLogger } from "../../src/log.ts";
import { pgliteDb } from "../../src/data/db.ts";
import { migrate } from "../../src/data/migrate.ts";
import { SqlStore } from "../../src/data/sql-store.ts";
import { insertEnvironment } from "../../fixtures/fleet.ts";
import { REDIS_URL, describeRedis } from "../helpers/redis.ts";
import { codes, startTestServer, type TestServer } from "../helpers/server.ts";

const silent = createLogger("silent");
const oks = (verdicts: Verdict[]) => verdicts.map((v) => v.ok);

describe("in-process rate limit", () => {
  it("refills at its rate, and says how long to wait", () => {
    let now = 0;
    const limiter = new RateLimiter(2, () => now);
    expect(oks([limiter.take("a"), limiter.take("a"), limiter.take("a")])).toEqual([true, true, false]);
    expect(limiter.take("a")).toEqual({ ok: false, retryAfterSeconds: 30 });
    now += 30_000;
    expect(oks([limiter.take("a"), limiter.take("a"), limiter.take("b")])).toEqual([true, false, true]);
  });
});

describeRedis("rate limit shared through Redis", () => {
  const prefix = `test-${randomBytes(4).toString("hex")}`;
  const limiters: RedisRateLimiter[] = [];
  const limiter = (perMinute: number) => {
    const l = new RedisRateLimiter({ url: REDIS_URL, prefix, perMinute, timeoutMs: 1000, logger: silent });
    limiters.push(l);
    return l;
  };
  afterAll(async () => {
    for (const l of limiters) await l.close();
  });

  it("holds one bucket per viewer for every replica", async () => {
    const [one, two] = [limiter(3), limiter(3)];
    const verdicts = [await one.take("alice"), await two.take("alice"), await one.take("alice"), await two.take("alice"), await one.take("alice")];
    expect(oks(verdicts)).toEqual([true, true, true, false, false]);
    expect((verdicts[3] as { retryAfterSeconds: number }).retryAfterSeconds).toBeGreaterThan(0);
    expect((verdicts[3] as { retryAfterSeconds: number }).retryAfterSeconds).toBeLessThanOrEqual(20);
    expect((await two.take("bob")).ok).toBe(true);
  });

  describe("through the API", () => {
    let servers: TestServer[] = [];
    let envId: string;
    beforeAll(async () => {
      const db = await pgliteDb(undefined);
      await migrate(db);
      envId = await insertEnvironment(db, { name: "limited", publicIp: "127.0.0.1" });
      const env = { REDIS_URL, REDIS_CHANNEL: `${prefix}-api`, RATE_LIMIT_PER_MINUTE: "2", DTMA_PORT: "9", DTMA_TIMEOUT_MS: "200" };
      const store = new SqlStore(db);
      servers = [await startTestServer(store, { env }), await startTestServer(store, { env })];
    });
    afterAll(async () => {
      // They share one store: the first to close closes it.
      for (const s of servers) await s.close().catch(() => undefined);
    });

    it("refuses a viewer who used up the limit on another replica", async () => {
      const refresh = (server: TestServer) => server.gql(`mutation($id: ID!) { refreshEnvironmentStatus(id: $id) { status } }`, { id: envId });
      // The droplet agent is not there: the refresh itself answers, what matters is the limit.
      expect(codes((await refresh(servers[0])).body)).not.toContain("RATE_LIMITED");
      expect(codes((await refresh(servers[1])).body)).not.toContain("RATE_LIMITED");
      expect(codes((await refresh(servers[0])).body)).toEqual(["RATE_LIMITED"]);
      expect(codes((await refresh(servers[1])).body)).toEqual(["RATE_LIMITED"]);
    });
  });
});

describe("rate limit with Redis unreachable", () => {
  it("limits in process, and says so once", async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", () => r()));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((r) => closed.close(() => r()));
    const warnings: string[] = [];
    const logger = { ...silent, warn: (_o: unknown, msg: string) => void warnings.push(msg), info: () => undefined } as unknown as typeof silent;
    const limiter = new RedisRateLimiter({ url: `redis://127.0.0.1:${port}`, prefix: "down", perMinute: 2, timeoutMs: 200, logger });
    try {
      const verdicts = [await limiter.take("a"), await limiter.take("a"), await limiter.take("a")];
      expect(oks(verdicts)).toEqual([true, true, false]);
      expect(warnings.filter((w) => w.includes("Redis is unreachable"))).toHaveLength(1);
    } finally {
      await limiter.close();
    }
  });
});
