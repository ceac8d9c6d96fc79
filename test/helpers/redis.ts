// Real Redis for tests (127.0.0.1:6379 unless TEST_REDIS_URL).
import { Redis } from "ioredis";
import { describeWhenUp } from "./services.ts";

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

/** `describe` that runs only when Redis is reachable. */
export const describeRedis = describeWhenUp("Redis", REDIS_URL, redisUp, "start Redis, or set TEST_REDIS_URL");
