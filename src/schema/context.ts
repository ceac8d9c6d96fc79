import type { Config } from "../config.ts";
import { createLoaders, type Loaders } from "../data/loaders.ts";
import type { QueryTime, Store } from "../data/store.ts";

export interface Context {
  store: Store;
  loaders: Loaders;
  config: Config;
  /** The request's clock: every time-based rule in one response agrees. */
  time: QueryTime;
}

export function createContext(store: Store, config: Config, now = new Date()): Context {
  return { store, loaders: createLoaders(store), config, time: { now, thresholds: config.thresholds } };
}
