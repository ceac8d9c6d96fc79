// Opens the store the config names: embedded PGlite by default, Postgres with DATABASE_URL,
// Supabase with SUPABASE_URL.
import { mkdir } from "node:fs/promises";
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import { pgliteDb, postgresDb, type Db } from "./db.ts";
import { migrate } from "./migrate.ts";
import { seedDemoFleet } from "./seed.ts";
import { SqlStore } from "./sql-store.ts";
import type { Store } from "./store.ts";
import type { Services } from "../schema/context.ts";
import { LiveFleet, type ChangeFeed } from "../live/fleet.ts";
import type { SupabaseStore } from "./supabase-store.ts";
import { openRedisBus } from "../live/bus.ts";
import { systemClock, type Clock } from "../live/clock.ts";
import { createMetrics, type Metrics } from "../metrics.ts";

export async function openDb(config: Config, logger: Logger): Promise<Db> {
  if (config.store === "postgres") {
    return postgresDb({
      connectionString: config.databaseUrl as string,
      maxConnections: config.databasePoolMax,
      connectTimeoutMs: config.databaseConnectTimeoutMs,
      statementTimeoutMs: config.databaseStatementTimeoutMs,
      preparedStatements: config.databasePreparedStatements,
      onPoolError: (error) => logger.warn({ err: error.message }, "idle database connection lost"),
      onListenerEvent: (event, detail) => logger.warn({ event, detail }, "change feed listener"),
    });
  }
  if (config.pgliteDir) await mkdir(config.pgliteDir, { recursive: true });
  return pgliteDb(config.pgliteDir);
}

export async function openStore(config: Config, logger: Logger): Promise<Store> {
  if (config.store === "supabase") {
    const { SupabaseStore } = await import("./supabase-store.ts");
    return new SupabaseStore(config.supabase as NonNullable<Config["supabase"]>);
  }
  const db = await openDb(config, logger);
  if (db.kind === "pglite") {
    // The embedded database is ours alone: keep it migrated, and seed a demo fleet on first start.
    const applied = await migrate(db);
    if (applied.length) logger.info({ applied }, "migrations applied");
    if (config.seed !== "never" && (await seedDemoFleet(db, { force: config.seed === "always" }))) logger.info("seeded the demo fleet");
  }
  return new SqlStore(db);
}

/** The store, and the live fleet when the store has a change feed (Postgres, PGlite). */
export async function openServices(config: Config, logger: Logger): Promise<Services> {
  const store = await openStore(config, logger);
  const metrics = createMetrics();
  // Postgres and PGlite notify through LISTEN; Supabase through Realtime.
  const feed: ChangeFeed = store instanceof SqlStore ? store.db : (store as SupabaseStore);
  const live = await startLive(store, feed, config, logger, metrics);
  return { store, config, live, logger, metrics };
}

/** Starts the live fleet on a SQL store's change feed, reporting to `metrics`. */
export async function startLive(store: Store, feed: ChangeFeed, config: Config, logger: Logger, metrics: Metrics, options: { clock?: Clock; coalesceMs?: number } = {}): Promise<LiveFleet> {
  const bus = config.redis
    ? await openRedisBus({ ...config.redis, logger, onOutcome: (direction, outcome) => metrics.replicaBus.inc({ direction, outcome }) })
    : undefined;
  const live = new LiveFleet({
    store, feed, clock: options.clock ?? systemClock, thresholds: config.thresholds, logger, coalesceMs: options.coalesceMs, bus,
    onLag: (seconds) => metrics.changeFeedLag.observe(seconds),
  });
  await live.start();
  return live;
}
