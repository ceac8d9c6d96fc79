import type { Config } from "../config.ts";
import { OPEN_VIEWER, type Viewer } from "../auth/visibility.ts";
import { createVerifier, type Verifier } from "../auth/verify.ts";
import { limiterFor, type Limiter } from "../auth/rate-limit.ts";
import { GraphQLError } from "graphql";
import { createLoaders, type Loaders } from "../data/loaders.ts";
import { ScopedStore, type QueryTime, type Store } from "../data/store.ts";
import { SupabaseStore } from "../data/supabase-store.ts";
import type { LiveFleet } from "../live/fleet.ts";
import type { Logger } from "../log.ts";
import { DtmaClient } from "../dtma/client.ts";
import { createMetrics, type Metrics } from "../metrics.ts";

export interface Context {
  store: Store;
  loaders: Loaders;
  config: Config;
  /** The request's clock: every time-based rule in one response agrees. Events set their own. */
  time: QueryTime;
  viewer: Viewer;
  /** The live fleet, when the store has a change feed. */
  live: LiveFleet | undefined;
  logger: Logger;
  dtma: DtmaClient;
  metrics: Metrics;
  /** Throws RATE_LIMITED when the viewer has used up their mutations that reach droplets. */
  limitDropletCalls(): Promise<void>;
}

export interface Services {
  store: Store;
  config: Config;
  live?: LiveFleet;
  logger: Logger;
  /** Defaults to a client built from config. */
  dtma?: DtmaClient;
  /** Defaults to a new registry. */
  metrics?: Metrics;
  /** Defaults to a verifier built from config.auth. */
  verify?: Verifier;
  /** Headers GraphiQL starts with (the development token). */
  graphiqlHeaders?: Record<string, string>;
  /** Defaults to a bucket per viewer: in Redis with REDIS_URL (shared by the replicas), else in process. */
  rateLimiter?: Limiter;
}

export function dtmaClientFor(config: Config, logger: Logger, metrics?: Metrics): DtmaClient {
  return new DtmaClient({ ...config.dtma, logger, onCall: metrics && ((route, outcome, seconds) => metrics.dtmaCall.observe({ route, outcome }, seconds)) });
}

/** Fills in the shared parts a Services may leave out; call once per server. */
export function completeServices(services: Services): Required<Omit<Services, "live">> & Services {
  services.metrics ??= createMetrics();
  services.dtma ??= dtmaClientFor(services.config, services.logger, services.metrics);
  services.verify ??= createVerifier(services.config.auth);
  services.rateLimiter ??= limiterFor(services.config, services.logger);
  return services as Required<Omit<Services, "live">> & Services;
}

export function createContext(services: Services, viewer: Viewer = OPEN_VIEWER, accessToken?: string, now = new Date()): Context {
  // Everything a request reads goes through the viewer's scope. With Supabase, requests also carry
  // the user's own token, so the upstream row-level security policies apply as well.
  const base = accessToken && services.store instanceof SupabaseStore ? services.store.asUser(accessToken) : services.store;
  const store = viewer.role === "service_role" ? base : new ScopedStore(base, viewer.userId ?? "00000000-0000-0000-0000-000000000000");
  return {
    store,
    loaders: createLoaders(store),
    config: services.config,
    time: { now, thresholds: services.config.thresholds },
    viewer,
    live: services.live,
    logger: services.logger,
    dtma: completeServices(services).dtma,
    metrics: completeServices(services).metrics,
    async limitDropletCalls() {
      const verdict = await completeServices(services).rateLimiter.take(viewer.userId ?? viewer.role);
      if (!verdict.ok) {
        throw new GraphQLError(`Too many operations on droplets; retry in ${verdict.retryAfterSeconds} s`, { extensions: { code: "RATE_LIMITED", retryAfterSeconds: verdict.retryAfterSeconds } });
      }
    },
  };
}
