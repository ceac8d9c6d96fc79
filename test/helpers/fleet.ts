// A small, exactly known fleet, written with plain SQL so the store under test reads what it did not write.
import type { Db } from "../../src/data/db.ts";

export const USER_A = "11111111-1111-4111-8111-111111111111";

export interface EnvSpec {
  name: string | null;
  status?: string;
  publicIp?: string | null;
  privateIp?: string | null;
  metrics?: unknown;
  dropletId?: string;
}
export interface ServerSpec {
  env: string; // environment id
  name: string | null;
  status: string;
  heartbeatSecondsAgo?: number | null;
  serverType?: string | null;
  transport?: string | null;
  portMapping?: unknown;
  error?: string | null;
}

let counter = 0;

export async function insertEnvironment(db: Db, spec: EnvSpec): Promise<string> {
  const [row] = await db.query<{ id: string }>(
    `INSERT INTO account_tool_environments (user_id, name, status, public_ip_address, private_ip_address, region_slug, size_slug, dtma_health_details_json, do_droplet_id, dtma_bearer_token)
     VALUES ($1, $2, $3::account_tool_environment_status_enum, $4::inet, $5::inet, 'nyc3', 's-1vcpu-1gb', $6::jsonb, $7::bigint, $8) RETURNING id`,
    [USER_A, spec.name, spec.status ?? "active", spec.publicIp ?? null, spec.privateIp ?? null, spec.metrics === undefined ? null : JSON.stringify(spec.metrics), spec.dropletId ?? null, `secret-token-${++counter}-${Math.random()}`],
  );
  return row.id;
}

export async function insertServer(db: Db, spec: ServerSpec): Promise<string> {
  const [tool] = await db.query<{ id: string }>(
    `INSERT INTO tool_catalog (tool_name, name, package_identifier, docker_image_url) VALUES ($1, $1, 'img', 'img') RETURNING id`,
    [`tool-${++counter}-${Math.random()}`],
  );
  const [row] = await db.query<{ id: string }>(
    `INSERT INTO account_tool_instances (account_tool_environment_id, tool_catalog_id, status_on_toolbox, instance_name_on_toolbox,
       last_heartbeat_from_dtma, mcp_server_type, mcp_transport_type, port_mapping_json, instance_error_message, mcp_endpoint_path)
     VALUES ($1, $2, $3::account_tool_installation_status_enum, $4,
       CASE WHEN $5::int IS NULL THEN NULL ELSE now() - make_interval(secs => $5::int) END, $6, $7, $8::jsonb, $9, '/mcp') RETURNING id`,
    [spec.env, tool.id, spec.status, spec.name, spec.heartbeatSecondsAgo ?? null, spec.serverType === undefined ? "mcp_server" : spec.serverType,
      spec.transport === undefined ? "sse" : spec.transport, spec.portMapping === undefined ? null : JSON.stringify(spec.portMapping), spec.error ?? null],
  );
  return row.id;
}

/** Writes fixture rows into whatever store is under test. */
export interface Fixture {
  environment(spec: EnvSpec): Promise<string>;
  server(spec: ServerSpec): Promise<string>;
}

export function sqlFixture(db: Db): Fixture {
  return { environment: (spec) => insertEnvironment(db, spec), server: (spec) => insertServer(db, spec) };
}
