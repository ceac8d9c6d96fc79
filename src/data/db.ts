// One SQL executor over two engines: node-postgres (a real server) and PGlite (embedded).
// The store's SQL is written once against this interface.
import pg from "pg";
import type { PGlite } from "@electric-sql/pglite";

export interface Db {
  readonly kind: "postgres" | "pglite";
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /** Runs a script of several statements (migrations). */
  exec(script: string): Promise<void>;
  /** Called once per statement sent to the database; tests count statements with it. */
  onStatement(listener: (text: string) => void): () => void;
  close(): Promise<void>;
}

export class DatabaseUnavailableError extends Error {
  constructor(cause: unknown) {
    super("The database is unavailable", { cause });
    this.name = "DatabaseUnavailableError";
  }
}

// Connection-level failures, as opposed to errors in a statement (a constraint, a bad cast).
const CONNECTION_ERROR_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "57P01", "57P02", "57P03", "08000", "08003", "08006", "08001", "08004"]);
function isConnectionError(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  if (e?.code && CONNECTION_ERROR_CODES.has(e.code)) return true;
  return /Connection terminated|timeout exceeded when trying to connect|connect ECONNREFUSED|Client has encountered a connection error/i.test(e?.message ?? "");
}

class Listeners {
  private readonly set = new Set<(text: string) => void>();
  add(listener: (text: string) => void) {
    this.set.add(listener);
    return () => void this.set.delete(listener);
  }
  emit(text: string) {
    for (const l of this.set) l(text);
  }
}

export interface PostgresOptions {
  connectionString: string;
  maxConnections: number;
  connectTimeoutMs: number;
  statementTimeoutMs: number;
  onPoolError?: (error: Error) => void;
}

export function postgresDb(options: PostgresOptions): Db & { pool: pg.Pool } {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.maxConnections,
    connectionTimeoutMillis: options.connectTimeoutMs,
    statement_timeout: options.statementTimeoutMs,
    query_timeout: options.statementTimeoutMs + 1000,
  });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on("error", (error) => options.onPoolError?.(error));
  const listeners = new Listeners();
  const run = async <T>(text: string, params?: unknown[]) => {
    listeners.emit(text);
    try {
      const result = await pool.query(text, params as unknown[]);
      return result.rows as T[];
    } catch (error) {
      if (isConnectionError(error)) throw new DatabaseUnavailableError(error);
      throw error;
    }
  };
  return {
    kind: "postgres",
    pool,
    query: run,
    async exec(script) {
      await run(script);
    },
    onStatement: (l) => listeners.add(l),
    close: () => pool.end(),
  };
}

export async function pgliteDb(dataDir: string | undefined): Promise<Db & { pglite: PGlite }> {
  const { PGlite } = await import("@electric-sql/pglite");
  const pglite = await PGlite.create(dataDir ? { dataDir } : {});
  const listeners = new Listeners();
  return {
    kind: "pglite",
    pglite,
    async query<T>(text: string, params?: unknown[]) {
      listeners.emit(text);
      const result = await pglite.query<T>(text, params);
      return result.rows;
    },
    async exec(script) {
      listeners.emit(script);
      await pglite.exec(script);
    },
    onStatement: (l) => listeners.add(l),
    close: () => pglite.close(),
  };
}
