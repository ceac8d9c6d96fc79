// Per-request loaders: every environment or server looked up while resolving one request is
// fetched in one statement per kind (DataLoader), and a row already in hand resolves without a promise.
import DataLoader from "dataloader";
import type { ConnectionTestRow, EnvironmentRow, ServerRow } from "./rows.ts";
import type { Store } from "./store.ts";

/** A DataLoader that answers synchronously for rows it already holds (primed or loaded). */
export class RowLoader<T> {
  private readonly held = new Map<string, T | null>();
  private readonly loader: DataLoader<string, T | null>;

  constructor(batch: (ids: readonly string[]) => Promise<(T | null)[]>) {
    this.loader = new DataLoader(batch);
  }

  load(id: string): T | null | Promise<T | null> {
    if (this.held.has(id)) return this.held.get(id) as T | null;
    return this.loader.load(id).then((row) => {
      this.held.set(id, row);
      return row;
    });
  }

  prime(id: string, row: T): void {
    this.held.set(id, row);
  }
}

export interface Loaders {
  environment: RowLoader<EnvironmentRow>;
  /**
   * The environment each server of a page came with, when the page read only some of the
   * environment's columns: such rows serve that page's selection only, so they stay out of
   * `environment`, which others in the same request may ask for whole.
   */
  pageEnvironments: WeakMap<ServerRow, EnvironmentRow>;
  server: RowLoader<ServerRow>;
  /** The newest connection test of a server, by server id. */
  lastConnectionTest: DataLoader<string, ConnectionTestRow | null>;
  /** Loaders for per-environment server pages, one per distinct set of page arguments. */
  keyed<V>(key: string, batch: (keys: readonly string[]) => Promise<V[]>): DataLoader<string, V>;
}

export function createLoaders(store: Store): Loaders {
  const keyedLoaders = new Map<string, DataLoader<string, unknown>>();
  return {
    environment: new RowLoader((ids) => store.environmentsByIds(ids)),
    pageEnvironments: new WeakMap(),
    server: new RowLoader((ids) => store.serversByIds(ids)),
    lastConnectionTest: new DataLoader((ids) => store.lastConnectionTests(ids)),
    keyed<V>(key: string, batch: (keys: readonly string[]) => Promise<V[]>) {
      let loader = keyedLoaders.get(key);
      if (!loader) keyedLoaders.set(key, (loader = new DataLoader(batch) as DataLoader<string, unknown>));
      return loader as DataLoader<string, V>;
    },
  };
}
