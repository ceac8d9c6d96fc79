// Demo and benchmark fleets. Addresses are from the documentation ranges (RFC 5737), never loopback.
import { INSTALLATION_STATUSES } from "../domain/status.ts";
import type { Db } from "./db.ts";

export const DEMO_USER_ID = "00000000-0000-4000-8000-000000000001";

interface DemoEnvironment {
  name: string;
  region: string;
  status: string;
  publicIp: string | null;
  privateIp: string | null;
  heartbeatSecondsAgo: number | null;
  metrics: Record<string, unknown> | null;
}

const ENVIRONMENTS: DemoEnvironment[] = [
  {
    name: "Primary Toolbox",
    region: "nyc3",
    status: "active",
    publicIp: "203.0.113.10",
    privateIp: "10.10.0.10",
    heartbeatSecondsAgo: 20,
    metrics: {
      cpu_load_percent: 23.5,
      memory: { total_bytes: 4294967296, active_bytes: 1610612736, free_bytes: 2147483648, used_bytes: 2147483648 },
      disk: { mount: "/", total_bytes: 85899345920, used_bytes: 21474836480, free_bytes: 64424509440 },
    },
  },
  {
    name: "Staging Toolbox",
    region: "sfo3",
    status: "active",
    publicIp: "198.51.100.20",
    privateIp: "10.20.0.20",
    heartbeatSecondsAgo: 8 * 60,
    metrics: {
      cpu_load_percent: 71.2,
      memory: { total_bytes: 2147483648, active_bytes: 1717986918, free_bytes: 214748365, used_bytes: 1932735283 },
      disk: { mount: "/", total_bytes: 53687091200, used_bytes: 42949672960, free_bytes: 10737418240 },
    },
  },
  {
    name: "EU Toolbox",
    region: "ams3",
    status: "unresponsive",
    publicIp: "192.0.2.30",
    privateIp: null,
    heartbeatSecondsAgo: 40 * 60,
    metrics: { error: "DTMA did not answer GET /status within 10000 ms" },
  },
  { name: "New Toolbox", region: "fra1", status: "provisioning", publicIp: null, privateIp: null, heartbeatSecondsAgo: null, metrics: null },
];

// One server per installation status, with heartbeats of every age, on droplets of every kind.
function demoServers() {
  const heartbeatAges = [30, 90, 6 * 60, 20 * 60, null];
  const transports = ["sse", "websocket", "sse", "sse", "stdio"];
  return INSTALLATION_STATUSES.map((status, i) => ({
    env: i % 3, // the provisioning droplet gets its own below
    name: `${status.replace(/_/g, "-")}-server`,
    status,
    heartbeatSecondsAgo: heartbeatAges[i % heartbeatAges.length],
    transport: transports[i % transports.length],
    hostPort: 49152 + i,
    error: status.startsWith("error") ? `Container exited with code 1 (${status})` : null,
  })).concat([
    { env: 3, name: "awaiting-droplet-server", status: "pending_deploy", heartbeatSecondsAgo: null, transport: "sse", hostPort: 49200, error: null },
    { env: 0, name: "weather-tools", status: "running", heartbeatSecondsAgo: 10, transport: "sse", hostPort: 49201, error: null },
  ]);
}

/** The demo droplets' DigitalOcean ids: DEMO_DROPLET_IDS + their index. */
const DEMO_DROPLET_IDS = 400_000_000;

/**
 * Seeds the demo fleet unless the database already has environments. With `force` (SEED=always),
 * the demo fleet is put back as new: the demo user's demo droplets (and their servers) are replaced,
 * and nothing else is touched. Returns whether it seeded.
 */
export async function seedDemoFleet(db: Db, { force = false } = {}): Promise<boolean> {
  if (force) {
    await db.query("DELETE FROM account_tool_environments WHERE user_id = $1 AND do_droplet_id >= $2 AND do_droplet_id < $3", [
      DEMO_USER_ID,
      DEMO_DROPLET_IDS,
      DEMO_DROPLET_IDS + ENVIRONMENTS.length,
    ]);
  } else {
    const [row] = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM account_tool_environments");
    if (row.n > 0) return false;
  }
  const envIds: string[] = [];
  for (const [i, e] of ENVIRONMENTS.entries()) {
    const [row] = await db.query<{ id: string }>(
      `INSERT INTO account_tool_environments (user_id, do_droplet_id, do_droplet_name, public_ip_address, private_ip_address, status,
         region_slug, size_slug, image_slug, last_heartbeat_at, name, description, dtma_bearer_token, dtma_last_known_version, dtma_health_details_json)
       VALUES ($1, $2, $3, $4::inet, $5::inet, $6::account_tool_environment_status_enum, $7, 's-2vcpu-4gb', 'ubuntu-22-04-x64',
         CASE WHEN $8::int IS NULL THEN NULL ELSE now() - make_interval(secs => $8::int) END, $9, $10, md5(random()::text) || md5(random()::text), $11, $12::jsonb)
       RETURNING id`,
      [
        DEMO_USER_ID,
        DEMO_DROPLET_IDS + i,
        `toolbox-${e.region}-${i + 1}`,
        e.publicIp,
        e.privateIp,
        e.status,
        e.region,
        e.heartbeatSecondsAgo,
        e.name,
        `Demo droplet in ${e.region}`,
        e.heartbeatSecondsAgo === null ? null : "1.4.2",
        e.metrics === null ? null : JSON.stringify(e.metrics),
      ],
    );
    envIds.push(row.id);
  }
  for (const [i, s] of demoServers().entries()) {
    const [tool] = await db.query<{ id: string }>(
      `INSERT INTO tool_catalog (tool_name, name, package_identifier, docker_image_url, description)
       VALUES ($1, $1, $2, $2, $3) ON CONFLICT (tool_name) DO UPDATE SET description = EXCLUDED.description RETURNING id`,
      [`demo-mcp-${i}`, `ghcr.io/example/demo-mcp-${i}:latest`, `Demo MCP server ${i}`],
    );
    await db.query(
      `INSERT INTO account_tool_instances (account_tool_environment_id, tool_catalog_id, status_on_toolbox, instance_name_on_toolbox,
         port_mapping_json, last_heartbeat_from_dtma, version, instance_error_message, mcp_server_type, mcp_endpoint_path,
         mcp_transport_type, mcp_server_capabilities, mcp_discovery_metadata)
       VALUES ($1, $2, $3::account_tool_installation_status_enum, $4, $5::jsonb,
         CASE WHEN $6::int IS NULL THEN NULL ELSE now() - make_interval(secs => $6::int) END, '1.0.0', $7, 'mcp_server', '/mcp', $8, $9::jsonb, $10::jsonb)`,
      [
        envIds[s.env],
        tool.id,
        s.status,
        s.name,
        JSON.stringify({ container_port: 8080, host_port: s.hostPort }),
        s.heartbeatSecondsAgo,
        s.error,
        s.transport,
        JSON.stringify({ tools: true, resources: i % 2 === 0, prompts: i % 3 === 0 }),
        JSON.stringify({ source: "demo-seed" }),
      ],
    );
  }
  return true;
}

/** A large synthetic fleet for benchmarks and tests, in four statements. */
export async function generateFleet(db: Db, { environments, serversPerEnvironment }: { environments: number; serversPerEnvironment: number }) {
  await db.query(
    `INSERT INTO tool_catalog (tool_name, name, package_identifier, docker_image_url)
     SELECT 'gen-tool-' || i, 'gen-tool-' || i, 'ghcr.io/example/gen-' || i, 'ghcr.io/example/gen-' || i
     FROM generate_series(1, $1::int) i ON CONFLICT (tool_name) DO NOTHING`,
    [serversPerEnvironment],
  );
  await db.query(
    `INSERT INTO account_tool_environments (user_id, public_ip_address, status, region_slug, size_slug, image_slug, last_heartbeat_at, name)
     SELECT gen_random_uuid(), ('198.18.' || (e / 250) || '.' || (e % 250 + 1))::inet, 'active', 'nyc3', 's-1vcpu-1gb', 'ubuntu-22-04-x64', now(), 'gen-env-' || lpad(e::text, 5, '0')
     FROM generate_series(1, $1::int) e`,
    [environments],
  );
  await db.query(
    `INSERT INTO account_tool_instances (account_tool_environment_id, tool_catalog_id, status_on_toolbox, instance_name_on_toolbox,
       port_mapping_json, last_heartbeat_from_dtma, mcp_server_type, mcp_endpoint_path, mcp_transport_type)
     SELECT e.id, t.id, (ARRAY['running','stopped','error','deploying']::account_tool_installation_status_enum[])[1 + (abs(hashtext(e.id::text || t.id::text)) % 4)],
       e.name || '-' || t.tool_name, jsonb_build_object('container_port', 8080, 'host_port', 40000 + row_number() OVER ()),
       now() - make_interval(secs => abs(hashtext(t.id::text || e.id::text)) % 1200), 'mcp_server', '/mcp', 'sse'
     FROM account_tool_environments e CROSS JOIN tool_catalog t
     WHERE e.name LIKE 'gen-env-%' AND t.tool_name LIKE 'gen-tool-%'`,
  );
  await db.query("ANALYZE account_tool_instances; ANALYZE account_tool_environments").catch(() => undefined);
}
