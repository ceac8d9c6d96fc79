// Opens the store the config names: embedded PGlite by default, Postgres with DATABASE_URL,
// Supabase with SUPABASE_URL.
import { mkdir } from "node:fs/promises";
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import { pgliteDb, postgresDb, type Db } from "./db.ts";
import { migrate, migrationScripts } from "./migrate.ts";
import { seedDemoFleet } from "./seed.ts";
import { SqlStore } from "./sql-store.ts";
import type { Store } from "./store.ts";

export async function openDb(config: Config, logger: Logger): Promise<Db> {
  if (config.store === "postgres") {
    return postgresDb({
      connectionString: config.databaseUrl as string,
      maxConnections: config.databasePoolMax,
      connectTimeoutMs: config.databaseConnectTimeoutMs,
      statementTimeoutMs: config.databaseStatementTimeoutMs,
      preparedStatements: config.databasePreparedStatements,
      listenerCheckMs: config.changeFeedCheckMs,
      onPoolError: (error) => logger.warn({ err: error.message }, "idle database connection lost"),
      onListenerEvent: (event, detail) => logger.warn({ event, detail }, "change feed listener"),
    });
  }
  if (config.pgliteDir) await mkdir(config.pgliteDir, { recursive: true });
  return pgliteDb(config.pgliteDir, {
    sharedBuffers: config.pgliteSharedBuffers,
    // Only for a database that does not exist yet: migrated by the process that creates it.
    setup: async () => {
      logger.info({ dir: config.pgliteDir }, "creating the embedded database");
      return migrationScripts();
    },
  });
}

export async function openStore(config: Config, logger: Logger): Promise<Store> {
  if (config.store === "supabase") {
    const { SupabaseStore } = await import("./supabase-store.ts");
    return new SupabaseStore(config.supabase as NonNullable<Config["supabase"]>);
  }
  let db = await openDb(config, logger);
  if (db.kind === "pglite") {
    // The embedded database is ours alone: keep it migrated, and seed a demo fleet on first start.
    const applied = await migrate(db);
    if (applied.length) logger.info({ applied }, "migrations applied");
    if (config.seed !== "never" && (await seedDemoFleet(db, { force: config.seed === "always" }))) logger.info("seeded the demo fleet");
    // Migrating grows PGlite's WebAssembly memory, which is never given back (a new database was
    // migrated by the process that created it; this is an upgrade): open the database again, as a
    // restart would (a few tenths of a second).
    if (applied.length && config.pgliteDir) {
      await db.close();
      db = await openDb(config, logger);
    }
  }
  return new SqlStore(db);
}
