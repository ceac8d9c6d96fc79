// One SQL executor over two engines: node-postgres (a real server) and PGlite (embedded).
// The store's SQL is written once against this interface.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { DEFAULT_PGLITE_SHARED_BUFFERS } from "../config.ts";
import { packagePath } from "../paths.ts";
import type { PGlite } from "@electric-sql/pglite";
import { openNew } from "../../scripts/pglite-template.mjs";

export interface Db {
  readonly kind: "postgres" | "pglite";
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /** Runs a script of several statements (migrations). */
  exec(script: string): Promise<void>;
  /**
   * Listens on a notification channel until the returned function is called. `onResumed` runs
   * after the listener reconnected: notifications sent while it was away are lost, so resync.
   */
  listen(channel: string, onNotify: (payload: string) => void, onResumed: () => void, onLost?: (reason: string) => void): Promise<() => Promise<void>>;
  /**
   * Runs `fn` only if this process takes the session advisory lock `key` (no other replica holds
   * it); returns whether it ran. The lock is held on one connection for the whole run.
   */
  withAdvisoryLock(key: number, fn: () => Promise<void>): Promise<boolean>;
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

/** The database refused a value a client sent (a NUL character, JSON nested too deep): their mistake. */
export class InvalidInputError extends Error {
  constructor(cause: unknown) {
    super(`The database cannot store this value: ${(cause as Error)?.message ?? cause}`, { cause });
    this.name = "InvalidInputError";
  }
}

// Values Postgres refuses however they are sent: NUL in text or JSON (22P05, 22021), and input too
// deeply nested for its parser (54001).
const INVALID_INPUT_CODES = new Set(["22P05", "22021", "54001"]);

/** A database error as what it means: unavailable, the client's bad value, or as it is. */
function classified(error: unknown): unknown {
  if (isConnectionError(error)) return new DatabaseUnavailableError(error);
  if (INVALID_INPUT_CODES.has((error as { code?: string })?.code ?? "")) return new InvalidInputError(error);
  return error;
}

// Connection-level failures, as opposed to errors in a statement (a constraint, a bad cast).
const CONNECTION_ERROR_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "57P01",
  "57P02",
  "57P03",
  "08000",
  "08003",
  "08006",
  "08001",
  "08004",
]);
function isConnectionError(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  if (e?.code && CONNECTION_ERROR_CODES.has(e.code)) return true;
  return /Connection terminated|timeout exceeded when trying to connect|connect ECONNREFUSED|Client has encountered a connection error|Query read timeout/i.test(
    e?.message ?? "",
  );
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
  onListenerEvent?: (event: "lost" | "resumed", detail?: string) => void;
  /** application_name of the LISTEN connection, to find it in pg_stat_activity. */
  listenerName?: string;
  /** How often the LISTEN connection must answer a round trip (and within how long); default 10 s. */
  listenerCheckMs?: number;
  maxConnections: number;
  connectTimeoutMs: number;
  statementTimeoutMs: number;
  onPoolError?: (error: Error) => void;
  /**
   * Send parameterised statements as named prepared statements, so each connection parses and
   * plans a statement once (off for poolers in transaction mode that cannot carry them).
   */
  preparedStatements?: boolean;
}

/** Distinct statement texts given a name; past this, statements go unnamed (the texts are a small fixed set). */
const MAX_NAMED_STATEMENTS = 500;

export function postgresDb(options: PostgresOptions): Db & { pool: pg.Pool } {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.maxConnections,
    connectionTimeoutMillis: options.connectTimeoutMs,
    statement_timeout: options.statementTimeoutMs,
    // A connection that stops answering (frozen, not closed) fails the query here, as unavailable.
    query_timeout: options.statementTimeoutMs + 1000,
    keepAlive: true,
  });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on("error", (error) => options.onPoolError?.(error));
  const listeners = new Listeners();
  const names = new Map<string, string>();
  const nameOf = (text: string): string | undefined => {
    let name = names.get(text);
    if (name === undefined && names.size < MAX_NAMED_STATEMENTS) names.set(text, (name = `mcp_fleet_${names.size}`));
    return name;
  };
  const run = async <T>(text: string, params?: unknown[]) => {
    listeners.emit(text);
    try {
      const name = params && options.preparedStatements !== false ? nameOf(text) : undefined;
      const result = await pool.query({ text, values: params as unknown[], name });
      return result.rows as T[];
    } catch (error) {
      throw classified(error);
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
    listen: (channel, onNotify, onResumed, onLost) => pgListen(options, channel, onNotify, onResumed, onLost),
    async withAdvisoryLock(key, fn) {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (error) {
        throw new DatabaseUnavailableError(error);
      }
      try {
        const { rows } = await client.query<{ locked: boolean }>("SELECT pg_try_advisory_lock($1) AS locked", [key]);
        if (!rows[0].locked) return false;
        try {
          await fn();
        } finally {
          await client.query("SELECT pg_advisory_unlock($1)", [key]).catch(() => undefined);
        }
        return true;
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}

// A dedicated connection for LISTEN (a pooled one would be handed to other queries), reconnected
// with capped exponential backoff whenever it drops. A connection can also stop forwarding without
// any error (a NAT or load balancer dropping its state, a failed-over host): TCP keepalive and a
// round trip every `listenerCheckMs` that must answer within as long find it, and it is replaced.
async function pgListen(
  options: PostgresOptions,
  channel: string,
  onNotify: (payload: string) => void,
  onResumed: () => void,
  onLost?: (reason: string) => void,
) {
  let client: pg.Client | undefined;
  let stopped = false;
  let attempt = 0;
  let retry: NodeJS.Timeout | undefined;
  const checkMs = options.listenerCheckMs ?? 10_000;
  const lose = (c: pg.Client, reason: string) => {
    if (client !== c || stopped) return;
    client = undefined;
    options.onListenerEvent?.("lost", reason);
    onLost?.(reason);
    // A frozen socket would wait forever for a clean end: drop it.
    (c as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
    c.end().catch(() => undefined);
    schedule();
  };
  const connect = async (resuming: boolean): Promise<void> => {
    const c = new pg.Client({
      connectionString: options.connectionString,
      connectionTimeoutMillis: options.connectTimeoutMs,
      application_name: options.listenerName ?? "mcp-fleet-listener",
      keepAlive: true,
      keepAliveInitialDelayMillis: checkMs,
    });
    c.on("notification", (n) => n.channel === channel && n.payload !== undefined && onNotify(n.payload));
    c.on("error", (e) => lose(c, e.message));
    c.on("end", () => lose(c, "connection ended"));
    client = c;
    try {
      await c.connect();
      await c.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    } catch (error) {
      if (!resuming) throw error;
      lose(c, (error as Error).message);
      return;
    }
    attempt = 0;
    if (resuming) {
      options.onListenerEvent?.("resumed");
      onResumed();
    }
  };
  const schedule = () => {
    const delay = Math.min(100 * 2 ** attempt++, 5_000);
    retry = setTimeout(() => void connect(true), delay);
  };
  let checking = false;
  const check = setInterval(async () => {
    const c = client;
    if (!c || checking || stopped) return;
    checking = true;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        c.query("SELECT 1"),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${checkMs} ms`)), checkMs))),
      ]);
    } catch (error) {
      lose(c, `the change feed's connection stopped answering: ${(error as Error).message}`);
    } finally {
      clearTimeout(timer);
      checking = false;
    }
  }, checkMs);
  check.unref();
  try {
    await connect(false);
  } catch (error) {
    clearInterval(check);
    throw error;
  }
  return async () => {
    stopped = true;
    clearInterval(check);
    clearTimeout(retry);
    await client?.end().catch(() => undefined);
  };
}

const execFileAsync = promisify(execFile);

/** How long creating an embedded database may take (initdb: a few seconds; from the template, less). */
const CREATE_TIMEOUT_MS = 120_000;

/** The child that creates an embedded database (plain JavaScript: nothing to transpile). */
const CREATE_SCRIPT = packagePath("scripts/pglite-template.mjs");

/**
 * Creates an embedded database in `dataDir` in a child process, from the template when there is
 * one, and runs `setup` (the migrations) on it there.
 */
async function createInChild(dataDir: string, startParams: string[], setup: string[]): Promise<void> {
  try {
    const creating = execFileAsync(process.execPath, [CREATE_SCRIPT, "--setup", dataDir, ...startParams], { timeout: CREATE_TIMEOUT_MS });
    creating.child.stdin?.end(JSON.stringify(setup));
    await creating;
  } catch (error) {
    const { stderr, killed } = error as { stderr?: string; killed?: boolean };
    // The error's own line (Postgres's errors print as "error: ..."), not the stack or the source around it.
    const reason = killed
      ? `no answer within ${CREATE_TIMEOUT_MS / 1000} s`
      : (stderr?.split("\n").find((line) => /^\w*error: /i.test(line)) ?? String(error)).slice(0, 300);
    throw new Error(`creating the embedded database in ${dataDir} failed: ${reason}`);
  }
}

export interface PgliteOptions {
  sharedBuffers?: string;
  /** Scripts a new database gets in the process that creates it (the migrations), before it is opened here. */
  setup?: () => Promise<string[]>;
}

export async function pgliteDb(
  dataDir: string | undefined,
  { sharedBuffers = DEFAULT_PGLITE_SHARED_BUFFERS, setup }: PgliteOptions = {},
): Promise<Db & { pglite: PGlite }> {
  const { PGlite } = await import("@electric-sql/pglite");
  const startParams = [...PGlite.defaultStartParams, "-c", `shared_buffers=${sharedBuffers}`];
  // Creating the database and migrating it grow PGlite's memory to several times what serving
  // needs, and WebAssembly memory is never given back: a process of its own creates it, runs the
  // setup scripts and exits, and this one opens it as a restart would.
  if (dataDir !== undefined && !existsSync(join(dataDir, "PG_VERSION"))) await createInChild(dataDir, startParams, (await setup?.()) ?? []);
  const pglite = dataDir === undefined ? await openNew(PGlite, undefined, startParams) : await PGlite.create({ dataDir, startParams });
  const listeners = new Listeners();
  const heldLocks = new Set<number>();
  return {
    kind: "pglite",
    pglite,
    async query<T>(text: string, params?: unknown[]) {
      listeners.emit(text);
      try {
        return (await pglite.query<T>(text, params)).rows;
      } catch (error) {
        throw classified(error);
      }
    },
    async exec(script) {
      listeners.emit(script);
      await pglite.exec(script);
    },
    onStatement: (l) => listeners.add(l),
    // One process owns an embedded database: there is no other replica to exclude.
    // One process holds the database: a lock held here is held everywhere. Try-lock, as
    // pg_try_advisory_lock: a round already running is not run twice at once.
    async withAdvisoryLock(key, fn) {
      if (heldLocks.has(key)) return false;
      heldLocks.add(key);
      try {
        await fn();
      } finally {
        heldLocks.delete(key);
      }
      return true;
    },
    async listen(channel, onNotify) {
      // In process: the connection cannot drop, so there is never anything to resume.
      const unlisten = await pglite.listen(channel, onNotify);
      return unlisten;
    },
    close: () => pglite.close(),
  };
}
