// A token bucket per viewer: for mutations that reach droplets (DTMA calls, MCP handshakes), one
// token each; for the query budget, the operation's cost in tokens.
// In process by default (per replica: with N replicas a viewer gets up to N times the rate); with
// REDIS_URL, one bucket per viewer in Redis for every replica, falling back to the in-process
// bucket while Redis is unreachable.
import { createRequire } from "node:module";
import type { Redis } from "ioredis";
import type { Config } from "../config.ts";
import { outageLog, type Logger } from "../log.ts";

export type Verdict = { ok: true } | { ok: false; retryAfterSeconds: number };

export interface Limiter {
  /** Takes `tokens` (one by default); says how long to wait when there are not that many. */
  take(key: string, tokens?: number): Verdict | Promise<Verdict>;
  close?(): Promise<void>;
}

export class RateLimiter implements Limiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
    private readonly maxKeys = 10_000,
  ) {}

  take(key: string, tokens = 1): Verdict {
    if (this.perMinute <= 0) return { ok: true };
    // More than a full bucket could never be taken: it takes the full bucket.
    const want = Math.min(tokens, this.perMinute);
    const now = this.now();
    const rate = this.perMinute / 60_000;
    const bucket = this.buckets.get(key) ?? { tokens: this.perMinute, at: now };
    bucket.tokens = Math.min(this.perMinute, bucket.tokens + (now - bucket.at) * rate);
    bucket.at = now;
    this.buckets.delete(key); // re-insert: the Map's order is then least recently used first
    this.buckets.set(key, bucket);
    if (this.buckets.size > this.maxKeys) this.buckets.delete(this.buckets.keys().next().value as string);
    if (bucket.tokens >= want) {
      bucket.tokens -= want;
      return { ok: true };
    }
    return { ok: false, retryAfterSeconds: Math.ceil((want - bucket.tokens) / rate / 1000) };
  }
}

// The same bucket, atomically in Redis, on Redis's clock (every replica agrees on the time).
// Returns 0 when a token was taken, else the milliseconds until one is there.
const TAKE_TOKEN = `
local capacity = tonumber(ARGV[1])
local want = math.min(tonumber(ARGV[2]), capacity)
local per_ms = capacity / 60000
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1]) or capacity
local at = tonumber(b[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * per_ms)
local wait = 0
if tokens >= want then tokens = tokens - want else wait = math.ceil((want - tokens) / per_ms) end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], 120000)
return wait`;

export interface RedisLimiterOptions {
  url: string;
  /** Prefix of the bucket keys, e.g. the replica bus channel, and which bucket ("rate", "cost"). */
  prefix: string;
  perMinute: number;
  /** Each call waits at most this long for Redis before the in-process bucket answers. */
  timeoutMs: number;
  logger: Logger;
}

export class RedisRateLimiter implements Limiter {
  private readonly redis: Redis & { takeToken(key: string, capacity: number, tokens: number): Promise<number> };
  private readonly local: RateLimiter;
  private readonly outage: ReturnType<typeof outageLog>;
  /** Settles once the first connection is made, has failed, or took longer than the timeout. */
  private readonly started: Promise<void>;

  constructor(private readonly options: RedisLimiterOptions) {
    this.local = new RateLimiter(options.perMinute);
    // Loaded here, not at start: only REDIS_URL needs it.
    const { Redis: RedisClient } = createRequire(import.meta.url)("ioredis") as typeof import("ioredis");
    const redis = new RedisClient(options.url, {
      connectTimeout: options.timeoutMs,
      commandTimeout: options.timeoutMs,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      lazyConnect: false,
    });
    redis.defineCommand("takeToken", { numberOfKeys: 1, lua: TAKE_TOKEN });
    this.outage = outageLog(options.logger, {
      lost: "rate limit: Redis is unreachable; each replica limits on its own until it returns",
      back: "rate limit: Redis is reachable again; limits are shared by every replica",
    });
    redis.on("error", (error: Error) => this.outage.lost(error));
    redis.on("ready", () => this.outage.back());
    this.redis = redis as typeof this.redis;
    this.started = new Promise((resolve) => {
      redis.once("ready", resolve);
      redis.once("error", () => resolve());
      setTimeout(resolve, options.timeoutMs).unref();
    });
  }

  async take(key: string, tokens = 1): Promise<Verdict> {
    if (this.options.perMinute <= 0) return { ok: true };
    // Calls are never queued: until Redis answers (at start, or after losing it) the in-process
    // bucket does.
    if (this.redis.status !== "ready") await this.started;
    if (this.redis.status !== "ready") return this.local.take(key, tokens);
    try {
      const waitMs = Number(await this.redis.takeToken(`${this.options.prefix}:${key}`, this.options.perMinute, tokens));
      return waitMs > 0 ? { ok: false, retryAfterSeconds: Math.ceil(waitMs / 1000) } : { ok: true };
    } catch (error) {
      this.outage.lost(error as Error);
      return this.local.take(key, tokens);
    }
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}

/**
 * A limiter of `perMinute` tokens per viewer, shared through Redis with REDIS_URL, else in process;
 * `name` keeps its buckets apart from the other limiter's.
 */
export function limiterFor(config: Config, logger: Logger, name: "rate" | "cost", perMinute: number): Limiter {
  if (!config.redis) return new RateLimiter(perMinute);
  return new RedisRateLimiter({
    url: config.redis.url,
    prefix: `${config.redis.channel}:${name}`,
    perMinute,
    timeoutMs: config.redis.connectTimeoutMs,
    logger,
  });
}
