import { OPEN_VIEWER, ownerScope, type Viewer } from "../auth/visibility.ts";
import { GraphQLError } from "graphql";
import { createLoaders, type Loaders } from "../data/loaders.ts";
import { ScopedStore, type QueryTime, type Store } from "../data/store.ts";
import type { Services } from "../app/index.ts";
import type { Config } from "../config.ts";
import type { DtmaClient } from "../dtma/client.ts";
import type { LiveFleet } from "../live/fleet.ts";
import type { Metrics } from "../metrics.ts";
import type { Logger } from "../log.ts";

export interface Context {
  store: Store;
  loaders: Loaders;
  config: Config;
  /** The request's clock: every time-based rule in one response agrees. Events set their own. */
  time: QueryTime;
  viewer: Viewer;
  /** When the viewer's access token expires (null when it does not): a subscription ends then. */
  expiresAt: Date | null;
  /** The live fleet, when the store has a change feed. */
  live: LiveFleet | undefined;
  logger: Logger;
  dtma: DtmaClient;
  metrics: Metrics;
  /** The rate limiter and the subscription quota (see limitDropletCalls(), holdSubscription()). */
  limits: Pick<Services, "rateLimiter" | "subscriptionQuota">;
  logWatches: Services["logWatches"];
  /** What this response (or this event) returns of data an outside party sized: see chargeResponse(). */
  responseBytes: number;
}

export function createContext(
  services: Services,
  viewer: Viewer = OPEN_VIEWER,
  accessToken?: string,
  expiresAt: Date | null = null,
  now = new Date(),
): Context {
  // Everything a request reads goes through the viewer's scope. With Supabase, requests also carry
  // the user's own token, so the upstream row-level security policies apply as well.
  const { asUser } = services.store.capabilities;
  const base = accessToken && asUser ? asUser(accessToken) : services.store;
  const owner = ownerScope(viewer);
  const store = owner === undefined ? base : new ScopedStore(base, owner);
  return {
    store,
    loaders: createLoaders(store),
    config: services.config,
    time: { now, thresholds: services.config.thresholds },
    viewer,
    expiresAt,
    live: services.live,
    logger: services.logger,
    dtma: services.dtma,
    metrics: services.metrics,
    limits: services,
    logWatches: services.logWatches,
    responseBytes: 0,
  };
}

/** Counts `bytes` against the response's budget: a coded error once it passes `maxResponseBytes`. */
export function chargeResponse(ctx: Context, bytes: number): void {
  ctx.responseBytes += bytes;
  const max = ctx.config.limits.maxResponseBytes;
  if (ctx.responseBytes > max) {
    throw new GraphQLError(`This response would be larger than ${max} bytes: ask for fewer connection tests (or fewer servers) per request`, {
      extensions: { code: "BAD_USER_INPUT", limit: "responseBytes" },
    });
  }
}

/** Throws RATE_LIMITED when the viewer has used up their mutations that reach droplets. */
export async function limitDropletCalls(ctx: Context): Promise<void> {
  const verdict = await ctx.limits.rateLimiter.take(ctx.viewer.userId ?? ctx.viewer.role);
  if (!verdict.ok) {
    throw new GraphQLError(`Too many operations on droplets; retry in ${verdict.retryAfterSeconds} s`, {
      extensions: { code: "RATE_LIMITED", retryAfterSeconds: verdict.retryAfterSeconds },
    });
  }
}

/** Starts a subscription counted against the viewer's quota (the service role is not counted); a coded error past it. */
export function holdSubscription<T>(ctx: Context, subscribe: () => AsyncIterableIterator<T>): AsyncIterableIterator<T> {
  const { viewer } = ctx;
  if (viewer.role === "service_role") return subscribe();
  const held = ctx.limits.subscriptionQuota.hold(viewer.userId ?? viewer.role, subscribe);
  if (held) return held;
  throw new GraphQLError(`Too many open subscriptions for this user (at most ${ctx.config.limits.maxSubscriptionsPerViewer}); close some first`, {
    extensions: { code: "BAD_USER_INPUT", limit: "subscriptionsPerViewer" },
  });
}
