// Prometheus metrics, on a registry per server (so several servers in one process never clash).
// GraphQL request, phase and root-resolver timings come from yoga's Prometheus plugin, on the
// same registry; these are the fleet's own.
import { createCounter, createHistogram } from "@graphql-yoga/plugin-prometheus";
import type { GraphQLError } from "graphql";
import { Counter, Gauge, Histogram, Registry } from "prom-client";

export interface Metrics {
  registry: Registry;
  dtmaCall: Histogram<"route" | "outcome">;
  mcpProbe: Histogram<"outcome">;
  changeFeedLag: Histogram;
  heartbeats: Counter<"outcome">;
  replicaBus: Counter<"direction" | "outcome">;
  rootResolver: Histogram<"field" | "outcome">;
  subscribers: Gauge<"kind">;
  /** Read when scraped: live subscriber counts by kind. */
  subscriberCounts: () => Record<string, number>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  const metrics: Metrics = {
    registry,
    dtmaCall: new Histogram({
      name: "mcp_fleet_dtma_call_seconds",
      help: "Calls to droplet agents, by route and outcome (HTTP status or error kind)",
      labelNames: ["route", "outcome"],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    mcpProbe: new Histogram({
      name: "mcp_fleet_mcp_probe_seconds",
      help: "MCP connection tests, by outcome (ok or error kind)",
      labelNames: ["outcome"],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    changeFeedLag: new Histogram({
      name: "mcp_fleet_change_feed_lag_seconds",
      help: "From a row's updated_at to its event being published",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    rootResolver: new Histogram({
      name: "mcp_fleet_root_resolver_seconds",
      help: "Root field resolvers (Query.*, Mutation.*), by field and outcome",
      labelNames: ["field", "outcome"],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers: [registry],
    }),
    heartbeats: new Counter({
      name: "mcp_fleet_heartbeats_total",
      help: "DTMA heartbeats received, by outcome (HTTP status)",
      labelNames: ["outcome"],
      registers: [registry],
    }),
    replicaBus: new Counter({
      name: "mcp_fleet_replica_bus_messages_total",
      help: "Messages on the Redis replica bus, by direction (published, received) and outcome",
      labelNames: ["direction", "outcome"],
      registers: [registry],
    }),
    subscribers: new Gauge({
      name: "mcp_fleet_subscribers",
      help: "Live subscriptions, by kind",
      labelNames: ["kind"],
      registers: [registry],
      collect() {
        for (const [kind, n] of Object.entries(metrics.subscriberCounts())) this.set({ kind }, n);
      },
    }),
    subscriberCounts: () => ({}),
  };
  return metrics;
}

/** Route label without ids or names, to keep cardinality bounded. */
export function routeLabel(method: string, path: string): string {
  return `${method} ${path
    .split("?")[0]
    .replace(/^\/tools\/[^/]+/, "/tools/:name")
    .replace(/^\/mcp\/servers\/[^/]+/, "/mcp/servers/:name")}`;
}

/**
 * A label whose values a client chooses (operation names, error paths): the first `limit`
 * distinct values are kept, later ones count as "other", so requests cannot grow /metrics
 * (and the process's memory) without bound.
 */
export function boundedLabel(limit = 200, maxLength = 100): (value: string) => string {
  const seen = new Set<string>();
  return (value) => {
    if (seen.has(value)) return value;
    if (seen.size >= limit || value.length > maxLength) return "other";
    seen.add(value);
    return value;
  };
}

type OperationParams = { operationName?: string; operationType?: string; errorPhase?: string; error?: GraphQLError };

/**
 * yoga's Prometheus plugin metrics, with labels of our own: per request the HTTP duration, the
 * operation's duration (its _count counts operations) and error results. The plugin's defaults
 * label the HTTP duration with the whole URL (a GET query string is a new series each time) and
 * take operation names and error paths as clients send them; here those are bounded, and error
 * paths drop list indexes. The other metrics are off: parse and validate are cached by yoga (their
 * histograms timed a map lookup), execute and the request counter repeat the operation duration,
 * and the schema has no deprecated fields; root-field timings come from schema/index.ts.
 */
export type GraphQLMetrics = ReturnType<typeof graphqlMetrics>;

export function graphqlMetrics(registry: Registry) {
  const operationName = boundedLabel();
  const errorPath = boundedLabel();
  const operation = (p: OperationParams) => ({ operationName: operationName(p.operationName ?? "Anonymous"), operationType: p.operationType ?? "unknown" });
  return {
    graphql_yoga_http_duration: createHistogram<"request", "operationName" | "operationType" | "method" | "statusCode", OperationParams>({
      registry,
      histogram: {
        name: "graphql_yoga_http_duration",
        help: "Time spent on HTTP connection",
        labelNames: ["operationName", "operationType", "method", "statusCode"],
      },
      fillLabelsFn: (p: OperationParams, { request, response }: { request: Request; response: Response }) => ({
        ...operation(p),
        method: request.method,
        statusCode: response.status,
      }),
    }),
    graphql_envelop_request_duration: createHistogram<"execute" | "subscribe", "operationName" | "operationType", OperationParams>({
      registry,
      histogram: {
        name: "graphql_envelop_request_duration",
        help: "Time spent on running the GraphQL operation from parse to execute",
        labelNames: ["operationName", "operationType"],
      },
      fillLabelsFn: operation,
      phases: ["execute", "subscribe"],
    }),
    graphql_envelop_error_result: createCounter<
      "parse" | "validate" | "context" | "execute" | "subscribe",
      "operationName" | "operationType" | "phase" | "path",
      OperationParams
    >({
      registry,
      counter: {
        name: "graphql_envelop_error_result",
        help: "Counts the amount of errors reported from all phases",
        labelNames: ["operationName", "operationType", "phase", "path"],
      },
      fillLabelsFn: (p: OperationParams) => ({
        ...operation(p),
        phase: p.errorPhase ?? "unknown",
        path: errorPath(p.error?.path?.filter((key) => typeof key === "string").join(".") ?? ""),
      }),
      phases: ["parse", "validate", "context", "execute", "subscribe"],
    }),
    graphql_envelop_execute_resolver: false,
    graphql_envelop_request_time_summary: false,
    graphql_envelop_deprecated_field: false,
    graphql_envelop_phase_parse: false,
    graphql_envelop_phase_validate: false,
    graphql_envelop_phase_context: false,
    graphql_envelop_schema_change: false,
    graphql_envelop_phase_execute: false,
    graphql_envelop_phase_subscribe: false,
    graphql_envelop_request: false,
  } as const;
}
