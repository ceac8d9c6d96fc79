// Environment -> typed, validated config. The only place that reads process.env.
import { randomBytes } from "node:crypto";
import { z } from "zod";

const bool = z.enum(["true", "false", "1", "0", "yes", "no"]).transform((v) => ["true", "1", "yes"].includes(v));
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const url = (protocols: string[]) =>
  z.string().refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    `must be a URL starting with ${protocols.join(" or ")}//`,
  );

/**
 * Postgres's shared buffers in the embedded database (PGLITE_SHARED_BUFFERS). PGlite's default
 * (Postgres's, 128 MB) is WebAssembly memory that is touched at start and never given back: most
 * of an idle process's memory. The embedded database is for one process and a fleet of thousands
 * of rows, which 16 MB holds; a larger one can ask for more.
 */
export const DEFAULT_PGLITE_SHARED_BUFFERS = "16MB";

const schema = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  PORT: int(0, 65535).default(4000),
  HOST: z.string().min(1).default("127.0.0.1"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  DATABASE_URL: url(["postgres:", "postgresql:"]).optional(),
  DATABASE_POOL_MAX: int(1, 200).default(10),
  DATABASE_CONNECT_TIMEOUT_MS: int(100, 120_000).default(5_000),
  DATABASE_STATEMENT_TIMEOUT_MS: int(100, 600_000).default(10_000),
  DATABASE_PREPARED_STATEMENTS: bool.default(true),
  SUPABASE_URL: url(["http:", "https:"]).optional(),
  SUPABASE_SERVICE_ROLE_KEY: z.string().min(1).optional(),
  SUPABASE_ANON_KEY: z.string().min(1).optional(),
  SUPABASE_TIMEOUT_MS: int(100, 120_000).default(10_000),
  PGLITE_DIR: z.string().min(1).default(".data/pglite"),
  PGLITE_MEMORY: bool.default(false),
  PGLITE_SHARED_BUFFERS: z
    .string()
    .regex(/^\d+(kB|MB|GB)$/, "a size such as 16MB")
    .default(DEFAULT_PGLITE_SHARED_BUFFERS),
  SEED: z.enum(["auto", "always", "never"]).default("auto"),
  DTMA_PORT: int(1, 65535).default(30000),
  HEARTBEAT_DEGRADED_AFTER_MS: int(1_000, 86_400_000).default(5 * 60_000),
  HEARTBEAT_UNHEALTHY_AFTER_MS: int(1_000, 86_400_000).default(15 * 60_000),
  MAX_PAGE_SIZE: int(1, 10_000).default(500),
  DEFAULT_PAGE_SIZE: int(1, 10_000).default(50),
  GRAPHIQL: bool.optional(),
  INTROSPECTION: bool.optional(),
  GRAPHQL_MAX_DEPTH: int(2, 100).default(12),
  GRAPHQL_MAX_ALIASES: int(1, 1000).default(15),
  GRAPHQL_MAX_TOKENS: int(100, 100_000).default(3000),
  GRAPHQL_MAX_COST: int(100, 10_000_000).default(50_000),
  MAX_SUBSCRIPTIONS_PER_SOCKET: int(1, 100_000).default(100),
  WS_KEEP_ALIVE_MS: int(100, 600_000).default(12_000),
  WS_MAX_BUFFERED_BYTES: int(1024, 1_000_000_000).default(16 * 1024 * 1024),
  MAX_SUBSCRIPTIONS_PER_VIEWER: int(1, 1_000_000).default(500),
  CONNECTION_TEST_HISTORY: int(1, 10_000).default(100),
  LOG_POLL_MS: int(250, 600_000).default(2000),
  BULK_CONCURRENCY: int(1, 64).default(4),
  STATUS_HISTORY_DAYS: int(0, 3650).default(30),
  MAX_RESPONSE_BYTES: int(100_000, 1_000_000_000).default(16 * 1024 * 1024),
  CHANGE_FEED_CHECK_MS: int(100, 600_000).default(10_000),
  CORS_ORIGINS: z
    .string()
    .transform((v) =>
      v
        .split(",")
        .map((o) => o.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string().regex(/^https?:\/\/[^/\s]+$/, "each origin is scheme://host[:port], comma-separated")))
    .default([]),
  MAX_BODY_BYTES: int(1024, 64 * 1024 * 1024).default(256 * 1024),
  RATE_LIMIT_PER_MINUTE: int(0, 100_000).default(60),
  QUERY_COST_PER_MINUTE: int(0, 1_000_000_000).default(2_000_000),
  SHUTDOWN_TIMEOUT_MS: int(0, 120_000).default(10_000),
  DTMA_CREDENTIAL: z.enum(["shared-key", "droplet-token"]).default("shared-key"),
  DEPLOY_HOST_PORTS: z
    .string()
    .regex(/^\d{1,5}-\d{1,5}$/, "must be FIRST-LAST, e.g. 40000-49999")
    .default("40000-49999")
    .transform((v) => {
      const [first, last] = v.split("-").map(Number);
      return { first, last };
    })
    .refine((r) => r.first >= 1024 && r.last <= 65535 && r.first <= r.last, "must be a range within 1024-65535"),
  MCP_PROBE_TIMEOUT_MS: int(100, 120_000).default(10_000),
  DTMA_API_KEY: z.string().min(1).optional(),
  ALLOW_PRIVATE_TARGETS: bool.default(false),
  SUPABASE_JWT_SECRET: z.string().min(32, "must be at least 32 characters").optional(),
  JWT_AUDIENCE: z.string().min(1).default("authenticated"),
  JWT_ISSUER: z.string().min(1).optional(),
  AUTH_DISABLED: bool.default(false),
  DEV_AUTH: bool.default(false),
  MONITOR_INTERVAL_MS: int(0, 86_400_000).default(0),
  MONITOR_CONCURRENCY: int(1, 100).default(5),
  PROBE_INTERVAL_MS: int(0, 86_400_000).default(0),
  PROBE_CONCURRENCY: int(1, 256).default(8),
  PROBE_START_BUDGET_MS: int(100, 600_000).default(60_000),
  PROBE_SLOW_MS: int(1, 600_000).default(5000),
  PROBE_FAILURES: int(1, 100).default(3),
  RECOVERY_INTERVAL_MS: int(0, 86_400_000).default(30_000),
  EARLY_WARNING_INTERVAL_MS: int(0, 86_400_000).default(60_000),
  RECOVERY_CONCURRENCY: int(1, 100).default(4),
  RECOVERY_BACKOFF_MS: int(1000, 86_400_000).default(30_000),
  RECOVERY_BACKOFF_MAX_MS: int(1000, 86_400_000).default(600_000),
  RECOVERY_MAX_ATTEMPTS: int(1, 100).default(5),
  RECOVERY_WINDOW_MS: int(60_000, 7 * 86_400_000).default(3_600_000),
  DTMA_TIMEOUT_MS: int(100, 120_000).default(10_000),
  DTMA_RETRIES: int(0, 5).default(2),
  METRICS_TOKEN: z.string().min(16, "must be at least 16 characters").optional(),
  REDIS_URL: url(["redis:", "rediss:"]).optional(),
  REDIS_CHANNEL: z.string().min(1).default("mcp-fleet:events"),
  REDIS_CONNECT_TIMEOUT_MS: int(100, 120_000).default(5_000),
  DTMA_MAX_BODY_BYTES: int(1024, 64 * 1024 * 1024).default(1024 * 1024),
});

export type Config = ReturnType<typeof toConfig>;

// A bad value is echoed in the error, except where it may hold a secret: keys, and passwords in URLs.
const SECRET_VARIABLES = new Set(["SUPABASE_SERVICE_ROLE_KEY", "SUPABASE_ANON_KEY", "SUPABASE_JWT_SECRET", "DTMA_API_KEY", "METRICS_TOKEN"]);
function shown(name: string, value: string | undefined): string {
  if (value == null) return "null";
  if (SECRET_VARIABLES.has(name)) return `${value.length} characters, not shown`;
  // Credentials in a URL: user:password@ and password= (or sslpassword=, passwd=) parameters.
  return JSON.stringify(value.replace(/\/\/[^/@\s]*@/, "//***@").replace(/([?&][a-z_]*pass(?:word|wd)?=)[^&\s]*/gi, "$1***"));
}

function toConfig(env: z.infer<typeof schema>) {
  const store = env.SUPABASE_URL && !env.DATABASE_URL ? "supabase" : env.DATABASE_URL ? "postgres" : "pglite";
  return {
    env: env.NODE_ENV,
    port: env.PORT,
    host: env.HOST,
    logLevel: env.LOG_LEVEL,
    store: store as "pglite" | "postgres" | "supabase",
    databaseUrl: env.DATABASE_URL,
    databasePoolMax: env.DATABASE_POOL_MAX,
    databaseConnectTimeoutMs: env.DATABASE_CONNECT_TIMEOUT_MS,
    databaseStatementTimeoutMs: env.DATABASE_STATEMENT_TIMEOUT_MS,
    databasePreparedStatements: env.DATABASE_PREPARED_STATEMENTS,
    /** The change feed's LISTEN connection answers a round trip this often, within as long. */
    changeFeedCheckMs: env.CHANGE_FEED_CHECK_MS,
    supabase: env.SUPABASE_URL
      ? {
          url: env.SUPABASE_URL,
          key: (env.SUPABASE_SERVICE_ROLE_KEY ?? env.SUPABASE_ANON_KEY) as string,
          /** Public by design (browsers sign in with it): the dashboard's Supabase sign-in uses it. */
          anonKey: env.SUPABASE_ANON_KEY,
          timeoutMs: env.SUPABASE_TIMEOUT_MS,
        }
      : undefined,
    pgliteDir: env.PGLITE_MEMORY ? undefined : env.PGLITE_DIR,
    /** Postgres's shared_buffers in the embedded database (see DEFAULT_PGLITE_SHARED_BUFFERS). */
    pgliteSharedBuffers: env.PGLITE_SHARED_BUFFERS,
    seed: env.SEED,
    dtmaPort: env.DTMA_PORT,
    thresholds: { degradedAfterMs: env.HEARTBEAT_DEGRADED_AFTER_MS, unhealthyAfterMs: env.HEARTBEAT_UNHEALTHY_AFTER_MS },
    maxPageSize: env.MAX_PAGE_SIZE,
    defaultPageSize: Math.min(env.DEFAULT_PAGE_SIZE, env.MAX_PAGE_SIZE),
    graphiql: env.GRAPHIQL ?? env.NODE_ENV !== "production",
    introspection: env.INTROSPECTION ?? env.NODE_ENV !== "production",
    /** Browser origins other than the API's own that may call it (CORS) and open WebSockets to it. */
    corsOrigins: env.CORS_ORIGINS,
    /** When set, GET /metrics needs `Authorization: Bearer <it>`. */
    metricsToken: env.METRICS_TOKEN,
    limits: {
      maxDepth: env.GRAPHQL_MAX_DEPTH,
      maxAliases: env.GRAPHQL_MAX_ALIASES,
      maxTokens: env.GRAPHQL_MAX_TOKENS,
      maxCost: env.GRAPHQL_MAX_COST,
      maxSubscriptionsPerSocket: env.MAX_SUBSCRIPTIONS_PER_SOCKET,
      /** Sockets are pinged this often; one that has not answered by the next ping is dropped. */
      wsKeepAliveMs: env.WS_KEEP_ALIVE_MS,
      /** What may wait to be sent on one socket; past it, the subscription that adds to it ends (SUBSCRIBER_TOO_SLOW). */
      wsMaxBufferedBytes: env.WS_MAX_BUFFERED_BYTES,
      /** Open subscriptions of one viewer in one process, over every socket and SSE stream. */
      maxSubscriptionsPerViewer: env.MAX_SUBSCRIPTIONS_PER_VIEWER,
      /** What the stored data of one response may add up to (connection tests are what can grow). */
      maxResponseBytes: env.MAX_RESPONSE_BYTES,
      maxBodyBytes: env.MAX_BODY_BYTES,
      /** Cost (as GRAPHQL_MAX_COST counts it) of one viewer's queries and mutations per minute (0 = unlimited). */
      queryCostPerMinute: env.QUERY_COST_PER_MINUTE,
    },
    /** Mutations that reach droplets, per viewer per minute (0 = unlimited). */
    rateLimitPerMinute: env.RATE_LIMIT_PER_MINUTE,
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    mcpProbeTimeoutMs: env.MCP_PROBE_TIMEOUT_MS,
    /** Connection tests kept per server, newest first; older ones are deleted as new ones arrive. */
    connectionTestHistory: env.CONNECTION_TEST_HISTORY,
    /** How often a watched server's logs are read from its agent (once for all its watchers). */
    logPollMs: env.LOG_POLL_MS,
    /** How many servers of a bulk action are worked on at once. */
    bulkConcurrency: env.BULK_CONCURRENCY,
    /** Days of status history kept; 0 records none. */
    statusHistoryDays: env.STATUS_HISTORY_DAYS,
    auth: authConfig(env),
    /** Let connection tests and DTMA calls reach loopback, private and link-local addresses (demo, tests). */
    allowPrivateTargets: env.ALLOW_PRIVATE_TARGETS,
    monitor: { intervalMs: env.MONITOR_INTERVAL_MS, concurrency: env.MONITOR_CONCURRENCY },
    /** The background prober (fleet/prober.ts) and the reachability axis it feeds (domain/reachability.ts). */
    prober: {
      intervalMs: env.PROBE_INTERVAL_MS,
      concurrency: env.PROBE_CONCURRENCY,
      startBudgetMs: env.PROBE_START_BUDGET_MS,
      reachability: { slowMs: env.PROBE_SLOW_MS, failuresToUnreachable: env.PROBE_FAILURES },
    },
    /** The early-warning watch (fleet/early-warning.ts): how often risk levels are judged and stored. */
    earlyWarningIntervalMs: env.EARLY_WARNING_INTERVAL_MS,
    /** Automatic recovery (fleet/recovery.ts, its rules in domain/recovery.ts). */
    recovery: {
      intervalMs: env.RECOVERY_INTERVAL_MS,
      concurrency: env.RECOVERY_CONCURRENCY,
      policy: {
        probeFailures: env.PROBE_FAILURES,
        baseDelayMs: env.RECOVERY_BACKOFF_MS,
        maxDelayMs: env.RECOVERY_BACKOFF_MAX_MS,
        maxAttempts: env.RECOVERY_MAX_ATTEMPTS,
        windowMs: env.RECOVERY_WINDOW_MS,
      },
    },
    /** The replica bus (health-clock transitions and connection tests to the other replicas). */
    redis: env.REDIS_URL ? { url: env.REDIS_URL, channel: env.REDIS_CHANNEL, connectTimeoutMs: env.REDIS_CONNECT_TIMEOUT_MS } : undefined,
    dtma: {
      apiKey: env.DTMA_API_KEY,
      /** `droplet-token`: each agent is sent its droplet's own dtma_bearer_token instead of the fleet-wide key. */
      credential: env.DTMA_CREDENTIAL,
      /** Host ports a deploy chooses from when the caller gives none. */
      autoHostPorts: env.DEPLOY_HOST_PORTS,
      timeoutMs: env.DTMA_TIMEOUT_MS,
      retries: env.DTMA_RETRIES,
      maxBodyBytes: env.DTMA_MAX_BODY_BYTES,
    },
  };
}

export type AuthConfig =
  | { mode: "disabled" }
  /** No way to verify tokens, and self-signed development tokens are not allowed here: `serve` refuses to start. */
  | { mode: "unconfigured"; reason: string }
  | { mode: "hs256"; secret: string; audience: string; issuer: string | undefined; ephemeral: boolean }
  | { mode: "jwks"; jwksUrl: string; audience: string; issuer: string | undefined };

function authConfig(env: z.infer<typeof schema>): AuthConfig {
  if (env.AUTH_DISABLED) return { mode: "disabled" };
  const issuer = env.JWT_ISSUER ?? (env.SUPABASE_URL ? `${env.SUPABASE_URL.replace(/\/$/, "")}/auth/v1` : undefined);
  if (env.SUPABASE_JWT_SECRET) return { mode: "hs256", secret: env.SUPABASE_JWT_SECRET, audience: env.JWT_AUDIENCE, issuer, ephemeral: false };
  if (env.SUPABASE_URL)
    return { mode: "jwks", jwksUrl: `${env.SUPABASE_URL.replace(/\/$/, "")}/auth/v1/.well-known/jwks.json`, audience: env.JWT_AUDIENCE, issuer };
  // Development with no keys: a secret for this process only, whose tokens main.ts prints. Only
  // for the embedded database on loopback, or when asked for (DEV_AUTH=true): never the fallback
  // of a process pointed at a real database or reachable from other hosts (an empty NODE_ENV in a
  // container must not turn a production API into one that hands out service-role tokens).
  const loopback = ["127.0.0.1", "localhost", "::1"].includes(env.HOST);
  if (!env.DEV_AUTH && (env.DATABASE_URL || !loopback)) {
    return {
      mode: "unconfigured",
      reason: `no way to verify access tokens: set SUPABASE_JWT_SECRET (HS256) or SUPABASE_URL (JWKS). Self-signed development tokens are only for the embedded database on loopback, or with DEV_AUTH=true (this process ${env.DATABASE_URL ? "uses DATABASE_URL" : `listens on ${env.HOST}`})`,
    };
  }
  return { mode: "hs256", secret: randomBytes(32).toString("hex"), audience: env.JWT_AUDIENCE, issuer: issuer ?? "mcp-fleet-development", ephemeral: true };
}

export class ConfigError extends Error {}

/** Reads and validates config; throws ConfigError naming every bad variable. */
export function loadConfig(source: Record<string, string | undefined> = process.env): Config {
  // Empty strings mean "unset", as in most .env files.
  const env = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ""));
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message} (got ${shown(String(i.path[0]), env[String(i.path[0])])})`);
    throw new ConfigError(`Invalid configuration:\n${lines.join("\n")}`);
  }
  const e = parsed.data;
  const problems: string[] = [];
  if (e.SUPABASE_URL && !e.SUPABASE_SERVICE_ROLE_KEY && !e.SUPABASE_ANON_KEY)
    problems.push("  SUPABASE_URL is set but neither SUPABASE_SERVICE_ROLE_KEY nor SUPABASE_ANON_KEY is");
  if (e.NODE_ENV === "production" && e.AUTH_DISABLED) problems.push("  AUTH_DISABLED=true is refused when NODE_ENV=production");
  if (e.NODE_ENV === "production" && e.DEV_AUTH) problems.push("  DEV_AUTH=true is refused when NODE_ENV=production");
  if (e.NODE_ENV === "production" && e.SUPABASE_URL && !e.SUPABASE_URL.startsWith("https://")) {
    problems.push(
      `  SUPABASE_URL must be https:// in production: keys and tokens would cross the network in clear (got ${shown("SUPABASE_URL", e.SUPABASE_URL)})`,
    );
  }
  if (e.NODE_ENV === "production" && e.SUPABASE_JWT_SECRET && !e.SUPABASE_URL && !e.JWT_ISSUER) {
    problems.push(
      "  NODE_ENV=production with SUPABASE_JWT_SECRET needs SUPABASE_URL or JWT_ISSUER, so that tokens from another issuer sharing the secret are refused",
    );
  }
  if (e.NODE_ENV === "production" && !e.AUTH_DISABLED && !e.SUPABASE_JWT_SECRET && !e.SUPABASE_URL) {
    problems.push("  NODE_ENV=production needs SUPABASE_JWT_SECRET (HS256) or SUPABASE_URL (JWKS) to verify access tokens; the API will not start open");
  }
  if (e.HEARTBEAT_DEGRADED_AFTER_MS >= e.HEARTBEAT_UNHEALTHY_AFTER_MS)
    problems.push("  HEARTBEAT_DEGRADED_AFTER_MS must be less than HEARTBEAT_UNHEALTHY_AFTER_MS");
  if (problems.length) throw new ConfigError(`Invalid configuration:\n${problems.join("\n")}`);
  return toConfig(e);
}
