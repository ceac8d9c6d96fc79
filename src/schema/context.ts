import type { Config } from "../config.ts";
import { OPEN_VIEWER, type Viewer } from "../auth/visibility.ts";
import { createLoaders, type Loaders } from "../data/loaders.ts";
import type { QueryTime, Store } from "../data/store.ts";
import type { LiveFleet } from "../live/fleet.ts";
import type { Logger } from "../log.ts";
import { DtmaClient } from "../dtma/client.ts";

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
}

export interface Services {
  store: Store;
  config: Config;
  live?: LiveFleet;
  logger: Logger;
  /** Defaults to a client built from config. */
  dtma?: DtmaClient;
}

export function dtmaClientFor(config: Config, logger: Logger): DtmaClient {
  return new DtmaClient({ ...config.dtma, logger });
}

export function createContext(services: Services, now = new Date()): Context {
  return {
    store: services.store,
    loaders: createLoaders(services.store),
    config: services.config,
    time: { now, thresholds: services.config.thresholds },
    viewer: OPEN_VIEWER,
    live: services.live,
    logger: services.logger,
    dtma: (services.dtma ??= dtmaClientFor(services.config, services.logger)),
  };
}
