// Per-request DataLoaders: every environment or server looked up while resolving one request is
// fetched in one statement per kind.
import DataLoader from "dataloader";
import type { EnvironmentRow, ServerRow } from "./rows.ts";
import type { Store } from "./store.ts";

export interface Loaders {
  environment: DataLoader<string, EnvironmentRow | null>;
  server: DataLoader<string, ServerRow | null>;
  /** Loaders for per-environment server pages, one per distinct set of page arguments. */
  keyed<V>(key: string, batch: (keys: readonly string[]) => Promise<V[]>): DataLoader<string, V>;
}

export function createLoaders(store: Store): Loaders {
  const keyedLoaders = new Map<string, DataLoader<string, unknown>>();
  return {
    environment: new DataLoader((ids) => store.environmentsByIds(ids)),
    server: new DataLoader((ids) => store.serversByIds(ids)),
    keyed<V>(key: string, batch: (keys: readonly string[]) => Promise<V[]>) {
      let loader = keyedLoaders.get(key);
      if (!loader) keyedLoaders.set(key, (loader = new DataLoader(batch) as DataLoader<string, unknown>));
      return loader as DataLoader<string, V>;
    },
  };
}
