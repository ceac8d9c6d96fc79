// Prometheus metrics, on a registry per server (so several servers in one process never clash).
// GraphQL request, phase and root-resolver timings come from yoga's Prometheus plugin, on the
// same registry; these are the fleet's own.
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
    dtmaCall: new Histogram({ name: "mcp_fleet_dtma_call_seconds", help: "Calls to droplet agents, by route and outcome (HTTP status or error kind)", labelNames: ["route", "outcome"], buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: [registry] }),
    mcpProbe: new Histogram({ name: "mcp_fleet_mcp_probe_seconds", help: "MCP connection tests, by outcome (ok or error kind)", labelNames: ["outcome"], buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: [registry] }),
    changeFeedLag: new Histogram({ name: "mcp_fleet_change_feed_lag_seconds", help: "From a row's updated_at to its event being published", buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [registry] }),
    rootResolver: new Histogram({ name: "mcp_fleet_root_resolver_seconds", help: "Root field resolvers (Query.*, Mutation.*), by field and outcome", labelNames: ["field", "outcome"], buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10], registers: [registry] }),
    heartbeats: new Counter({ name: "mcp_fleet_heartbeats_total", help: "DTMA heartbeats received, by outcome (HTTP status)", labelNames: ["outcome"], registers: [registry] }),
    replicaBus: new Counter({ name: "mcp_fleet_replica_bus_messages_total", help: "Messages on the Redis replica bus, by direction (published, received) and outcome", labelNames: ["direction", "outcome"], registers: [registry] }),
    subscribers: new Gauge({
      name: "mcp_fleet_subscribers", help: "Live subscriptions, by kind", labelNames: ["kind"], registers: [registry],
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
  return `${method} ${path.replace(/^\/tools\/[^/]+/, "/tools/:name").replace(/^\/mcp\/servers\/[^/]+/, "/mcp/servers/:name")}`;
}
