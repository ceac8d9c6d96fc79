// The baseline: the same page of servers with their environments from one hand-written SQL
// query, shaped like the GraphQL response and sent with JSON.stringify over node:http.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import pg from "pg";
import { buildEndpoint } from "../src/domain/endpoint.ts";
import { DEFAULT_THRESHOLDS, serverStatus } from "../src/domain/status.ts";

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
const SQL = `SELECT s.id, s.instance_name_on_toolbox, s.status_on_toolbox, s.last_heartbeat_from_dtma, s.last_started_at, s.instance_error_message,
  s.port_mapping_json, s.mcp_endpoint_path, s.mcp_transport_type, e.id AS env_id, e.name AS env_name, host(e.public_ip_address) AS ip, e.region_slug, e.status AS env_status
  FROM account_tool_instances s JOIN account_tool_environments e ON e.id = s.account_tool_environment_id
  WHERE s.mcp_server_type IS NOT NULL ORDER BY s.instance_name_on_toolbox COLLATE "C" NULLS LAST, s.id LIMIT 100`;

const server = createServer(async (_req, res) => {
  const { rows } = await pool.query(SQL);
  const now = new Date();
  const edges = rows.map((r) => {
    const status = serverStatus(
      { status: r.status_on_toolbox, lastHeartbeat: r.last_heartbeat_from_dtma, lastStartedAt: r.last_started_at, errorMessage: r.instance_error_message },
      now,
      DEFAULT_THRESHOLDS,
    );
    const endpoint = buildEndpoint(
      { publicIp: r.ip, transport: r.mcp_transport_type, endpointPath: r.mcp_endpoint_path, portMapping: r.port_mapping_json, baseConfigOverride: null },
      30000,
    );
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
