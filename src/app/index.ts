// The composition root: every service a process runs is built here, once. `serve`, the demo, the
// benchmarks and the test helpers all call openApp; nothing else constructs these services.
import type { Config } from "../config.ts";
import { createVerifier, type Verifier } from "../auth/verify.ts";
import { limiterFor, type Limiter } from "../auth/rate-limit.ts";
import { SubscriptionQuota } from "../live/quota.ts";
import { LogWatches } from "../fleet/logs.ts";
import { openStore } from "../data/index.ts";
import type { Store } from "../data/store.ts";
import { DtmaClient } from "../dtma/client.ts";
import { openRedisBus } from "../live/bus.ts";
import { systemClock, type Clock } from "../live/clock.ts";
import { LiveFleet } from "../live/fleet.ts";
import type { Logger } from "../log.ts";
import { createMetrics, type Metrics } from "../metrics.ts";

export interface Services {
  config: Config;
  logger: Logger;
  store: Store;
  /** The live fleet (subscriptions); undefined when it was not asked for. */
  live: LiveFleet | undefined;
  dtma: DtmaClient;
  metrics: Metrics;
  verify: Verifier;
  /** A bucket per viewer for mutations that reach droplets: in Redis with REDIS_URL, else in process. */
  rateLimiter: Limiter;
  /** A bucket per viewer of query cost (QUERY_COST_PER_MINUTE), in Redis with REDIS_URL, else in process. */
  queryBudget: Limiter;
  /** Open subscriptions per viewer in this process. */
  subscriptionQuota: SubscriptionQuota;
  /** Watched servers' logs: one poll of the agent per server, for all its watchers. */
  logWatches: LogWatches;
  /** Headers GraphiQL starts with (the development token). */
  graphiqlHeaders?: Record<string, string>;
  /** Stops the live fleet and the rate limiter, then closes the store. */
  close(): Promise<void>;
}

export interface LiveOptions {
  clock?: Clock;
  /** How long to gather change notices into one reload. */
  coalesceMs?: number;
}

export interface AppOverrides {
  /** Serve this store instead of the one the config names (tests). */
  store?: Store;
  /** The live fleet: on by default; `false` for a process that serves no subscriptions. */
  live?: LiveOptions | false;
  graphiqlHeaders?: Record<string, string>;
}

export async function openApp(config: Config, logger: Logger, overrides: AppOverrides = {}): Promise<Services> {
  const store = overrides.store ?? (await openStore(config, logger));
  const metrics = createMetrics();
  const dtma = new DtmaClient({ ...config.dtma, logger, onCall: (route, outcome, seconds) => metrics.dtmaCall.observe({ route, outcome }, seconds) });
  const rateLimiter = limiterFor(config, logger, "rate", config.rateLimitPerMinute);
  const queryBudget = limiterFor(config, logger, "cost", config.limits.queryCostPerMinute);
  let live: LiveFleet | undefined;
  try {
    if (overrides.live !== false) live = await startLive(store, config, logger, metrics, overrides.live ?? {});
  } catch (error) {
    await rateLimiter.close?.();
    await queryBudget.close?.();
    await store.close();
    throw error;
  }
  metrics.subscriberCounts = () => ({
    server: live?.serverEvents.size ?? 0,
    environment: live?.environmentEvents.size ?? 0,
    connection_test: live?.connectionTests.size ?? 0,
  });
  return {
    config,
    logger,
    store,
    live,
    dtma,
    metrics,
    rateLimiter,
    queryBudget,
    subscriptionQuota: new SubscriptionQuota(config.limits.maxSubscriptionsPerViewer),
    logWatches: new LogWatches(config.logPollMs, logger),
    verify: createVerifier(config.auth),
    graphiqlHeaders: overrides.graphiqlHeaders,
    async close() {
      await live?.stop();
      await rateLimiter.close?.();
      await queryBudget.close?.();
      await store.close();
    },
  };
}

/** The live fleet on the store's change feed, with the replica bus when REDIS_URL is set. */
async function startLive(store: Store, config: Config, logger: Logger, metrics: Metrics, options: LiveOptions): Promise<LiveFleet> {
  const bus = config.redis
    ? await openRedisBus({ ...config.redis, logger, onOutcome: (direction, outcome) => metrics.replicaBus.inc({ direction, outcome }) })
    : undefined;
  const live = new LiveFleet({
    store,
    feed: store.capabilities.feed,
    clock: options.clock ?? systemClock,
    thresholds: config.thresholds,
    logger,
    coalesceMs: options.coalesceMs,
    bus,
    historyDays: config.statusHistoryDays,
    onLag: (seconds) => metrics.changeFeedLag.observe(seconds),
  });
  await live.start();
  return live;
}
