// The baseline: the same page of servers with their environments from one hand-written SQL
// query, shaped like the GraphQL response and sent with JSON.stringify over node:http; and at
// /dashboard, the dashboard's first screen (schema/operations/dashboard.graphql) from three
// hand-written queries run at once.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import pg from "pg";
import { buildEndpoint } from "../src/domain/endpoint.ts";
import { DEFAULT_THRESHOLDS, ENVIRONMENT_STATUSES, SERVER_HEALTHS, SERVER_STATES, serverStatus, stateOf } from "../src/domain/status.ts";

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
const SQL = `SELECT s.id, s.instance_name_on_toolbox, s.status_on_toolbox, s.last_heartbeat_from_dtma, s.last_started_at, s.instance_error_message,
  s.port_mapping_json, s.mcp_endpoint_path, s.mcp_transport_type, e.id AS env_id, e.name AS env_name, host(e.public_ip_address) AS ip, e.region_slug, e.status AS env_status
  FROM account_tool_instances s JOIN account_tool_environments e ON e.id = s.account_tool_environment_id
  WHERE s.mcp_server_type IS NOT NULL ORDER BY s.instance_name_on_toolbox COLLATE "C" NULLS LAST, s.id LIMIT 100`;

// Health by heartbeat age, as the domain's rules say: a running server is healthy under 5 minutes,
// degraded under 15, else (or never heard from) unhealthy; an errored one unhealthy.
const RUNNING = "s.status_on_toolbox IN ('running', 'active')";
const ERRORED = "s.status_on_toolbox IN ('error', 'error_install', 'error_uninstall', 'error_runtime')";
// A running server never heard from is UNKNOWN within 5 minutes of its start, then UNHEALTHY.
const HEALTH_RANK = `CASE WHEN ${ERRORED} OR (${RUNNING} AND (s.last_heartbeat_from_dtma <= now() - interval '15 minutes'
    OR (s.last_heartbeat_from_dtma IS NULL AND (s.last_started_at IS NULL OR s.last_started_at <= now() - interval '5 minutes')))) THEN 0
  WHEN ${RUNNING} AND s.last_heartbeat_from_dtma IS NULL THEN 2
  WHEN ${RUNNING} AND s.last_heartbeat_from_dtma <= now() - interval '5 minutes' THEN 1 WHEN ${RUNNING} THEN 3 ELSE 2 END`;
const HEALTH_NAMES = ["UNHEALTHY", "DEGRADED", "UNKNOWN", "HEALTHY"];
const SUMMARY_SQL = `SELECT s.status_on_toolbox::text AS status, ${HEALTH_RANK} AS health, count(*)::int AS n
  FROM account_tool_instances s WHERE s.mcp_server_type IS NOT NULL GROUP BY 1, 2`;
const DROPLETS_SQL = `SELECT e.status::text AS status, e.region_slug, count(*)::int AS n, sum(c.n)::int AS servers FROM account_tool_environments e
  LEFT JOIN (SELECT account_tool_environment_id AS id, count(*) AS n FROM account_tool_instances WHERE mcp_server_type IS NOT NULL GROUP BY 1) c ON c.id = e.id
  GROUP BY 1, 2`;
const WORST_SQL = `SELECT s.id, s.instance_name_on_toolbox, s.status_on_toolbox, s.last_heartbeat_from_dtma, s.last_started_at, s.instance_error_message,
  s.port_mapping_json, s.mcp_endpoint_path, s.mcp_transport_type, e.id AS env_id, e.name AS env_name, host(e.public_ip_address) AS ip, e.region_slug, e.status AS env_status
  FROM account_tool_instances s JOIN account_tool_environments e ON e.id = s.account_tool_environment_id
  WHERE s.mcp_server_type IS NOT NULL ORDER BY ${HEALTH_RANK}, s.id LIMIT 51`;
const ENVIRONMENTS_SQL = `SELECT e.id, e.name, e.status, e.region_slug, e.last_heartbeat_at,
  (SELECT count(*)::int FROM account_tool_instances s WHERE s.account_tool_environment_id = e.id AND s.mcp_server_type IS NOT NULL) AS servers
  FROM account_tool_environments e ORDER BY e.name COLLATE "C" NULLS LAST, e.id LIMIT 100`;

async function dashboard() {
  const [summary, droplets, worst, environments] = await Promise.all([
    pool.query(SUMMARY_SQL),
    pool.query(DROPLETS_SQL),
    pool.query(WORST_SQL),
    pool.query(ENVIRONMENTS_SQL),
  ]);
  const byState = new Map<string, number>(SERVER_STATES.map((s) => [s, 0]));
  const byHealth = new Map<string, number>(SERVER_HEALTHS.map((h) => [h, 0]));
  let servers = 0;
  for (const r of summary.rows) {
    servers += r.n;
    byState.set(stateOf(r.status), (byState.get(stateOf(r.status)) ?? 0) + r.n);
    byHealth.set(HEALTH_NAMES[r.health], (byHealth.get(HEALTH_NAMES[r.health]) ?? 0) + r.n);
  }
  const statuses = new Map<string, number>();
  const regions = new Map<string, { region: string; servers: number; environments: number }>();
  for (const r of droplets.rows) {
    statuses.set(r.status, (statuses.get(r.status) ?? 0) + r.n);
    const region = regions.get(r.region_slug) ?? { region: r.region_slug, servers: 0, environments: 0 };
    region.servers += r.servers ?? 0;
    region.environments += r.n;
    regions.set(r.region_slug, region);
  }
  const now = new Date();
  return {
    data: {
      fleetSummary: {
        servers,
        byState: [...byState].map(([state, count]) => ({ state, count })),
        byHealth: [...byHealth].map(([health, count]) => ({ health, count })),
        environments: droplets.rows.reduce((n, r) => n + r.n, 0),
        byEnvironmentStatus: ENVIRONMENT_STATUSES.filter((s) => statuses.has(s)).map((status) => ({ status, count: statuses.get(status) })),
        byRegion: [...regions.values()],
      },
      servers: {
        edges: worst.rows.slice(0, 50).map((r) => ({ node: serverNode(r, now) })),
        pageInfo: { hasNextPage: worst.rows.length > 50, endCursor: worst.rows[49]?.id ?? null },
      },
      environments: {
        edges: environments.rows.map((r) => ({
          node: { id: r.id, name: r.name, status: r.status, region: r.region_slug, lastHeartbeatAt: r.last_heartbeat_at, servers: { totalCount: r.servers } },
        })),
      },
    },
  };
}

/** A row's status and endpoint, by the domain's own rules (as the API derives them). */
function derive(r: Record<string, any>, now: Date) {
  const status = serverStatus(
    {
      status: r.status_on_toolbox,
      lastHeartbeatMs: r.last_heartbeat_from_dtma?.getTime() ?? null,
      lastStartedAtMs: r.last_started_at?.getTime() ?? null,
      errorMessage: r.instance_error_message,
      desiredState: null,
      reachability: null,
      autoRecovery: true,
      recovery: null,
      risk: null,
    },
    now,
    DEFAULT_THRESHOLDS,
  );
  const endpoint = buildEndpoint(
    { publicIp: r.ip, transport: r.mcp_transport_type, endpointPath: r.mcp_endpoint_path, portMapping: r.port_mapping_json, baseConfigOverride: null },
    30000,
  );
  return { status, endpoint };
}

function serverNode(r: Record<string, any>, now: Date) {
  const { status, endpoint } = derive(r, now);
  return {
    id: r.id,
    name: r.instance_name_on_toolbox,
    status: { state: status.state, health: status.health, heartbeatAge: status.heartbeatAgeSeconds },
    endpoint: endpoint.url,
    environment: { id: r.env_id, name: r.env_name, status: r.env_status, region: r.region_slug },
  };
}

const server = createServer(async (req, res) => {
  if (req.url === "/dashboard") return void res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(await dashboard()));
  const { rows } = await pool.query(SQL);
  const now = new Date();
  const edges = rows.map((r) => {
    const { status, endpoint } = derive(r, now);
    return {
      node: {
        id: r.id,
        name: r.instance_name_on_toolbox,
        rawStatus: r.status_on_toolbox,
        status: { state: status.state, health: status.health, heartbeatAge: status.heartbeatAgeSeconds },
        endpoint: endpoint.url,
        environment: { id: r.env_id, name: r.env_name, publicIP: r.ip, region: r.region_slug, status: r.env_status },
      },
    };
  });
  res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ data: { servers: { edges } } }));
});
server.listen(0, "127.0.0.1", () => process.send?.({ port: (server.address() as AddressInfo).port }));
