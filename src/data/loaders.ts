// Per-request loaders: every environment or server looked up while resolving one request is
// fetched in one statement per kind (DataLoader), and a row already in hand resolves without a promise.
import DataLoader from "dataloader";
import type { CatalogToolRow, ConnectionTestRow, EnvironmentRow, ServerRow } from "./rows.ts";
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

/**
 * A request's loaders, each made on first use: a subscription holds one of these for its life,
 * and an idle one should hold next to nothing.
 */
export class Loaders {
  private environmentLoader: RowLoader<EnvironmentRow> | undefined;
  private serverLoader: RowLoader<ServerRow> | undefined;
  private catalogLoader: RowLoader<CatalogToolRow> | undefined;
  private lastTestLoader: DataLoader<string, ConnectionTestRow | null> | undefined;
  private pageEnvironmentMap: WeakMap<ServerRow, EnvironmentRow> | undefined;
  private keyedLoaders: Map<string, DataLoader<string, unknown>> | undefined;

  constructor(private readonly store: Store) {}

  get environment(): RowLoader<EnvironmentRow> {
    this.environmentLoader ??= new RowLoader((ids) => this.store.environmentsByIds(ids));
    return this.environmentLoader;
  }

  /**
   * The environment each server of a page came with, when the page read only some of the
   * environment's columns: such rows serve that page's selection only, so they stay out of
   * `environment`, which others in the same request may ask for whole.
   */
  get pageEnvironments(): WeakMap<ServerRow, EnvironmentRow> {
    this.pageEnvironmentMap ??= new WeakMap();
    return this.pageEnvironmentMap;
  }

  get server(): RowLoader<ServerRow> {
    this.serverLoader ??= new RowLoader((ids) => this.store.serversByIds(ids));
    return this.serverLoader;
  }

  get catalogTool(): RowLoader<CatalogToolRow> {
    this.catalogLoader ??= new RowLoader((ids) => this.store.catalogByIds(ids));
    return this.catalogLoader;
  }

  /** The newest connection test of a server, by server id. */
  get lastConnectionTest(): DataLoader<string, ConnectionTestRow | null> {
    this.lastTestLoader ??= new DataLoader((ids) => this.store.lastConnectionTests(ids));
    return this.lastTestLoader;
  }

  /** Loaders for per-environment server pages, one per distinct set of page arguments. */
  keyed<V>(key: string, batch: (keys: readonly string[]) => Promise<V[]>): DataLoader<string, V> {
    this.keyedLoaders ??= new Map();
    let loader = this.keyedLoaders.get(key);
    if (!loader) this.keyedLoaders.set(key, (loader = new DataLoader(batch) as DataLoader<string, unknown>));
    return loader as DataLoader<string, V>;
  }
}

export function createLoaders(store: Store): Loaders {
  return new Loaders(store);
}
