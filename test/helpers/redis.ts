// Real Redis for tests (127.0.0.1:6379 unless TEST_REDIS_URL). Under CI=true a missing Redis fails
// the run; elsewhere its suites skip with a message.
import { Redis } from "ioredis";
import { describe } from "vitest";

export const REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

async function reachable(): Promise<boolean> {
  const client = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on("error", () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

export const redisUp = await reachable();
if (!redisUp) {
  if (process.env.CI === "true") throw new Error(`Redis is required under CI=true but ${REDIS_URL} is not reachable`);
  console.warn(`\n  SKIPPING the Redis suites: ${REDIS_URL} is not reachable (start Redis, or set TEST_REDIS_URL)\n`);
}

/** `describe` that runs only when Redis is reachable. */
export const describeRedis = redisUp ? describe : describe.skip;
