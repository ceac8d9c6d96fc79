// The store's view of a row, whichever engine it came from. Column names map to camelCase here
// and nowhere else. dtma_bearer_token is never selected, so it cannot leak.
import type { ServerHealth, ServerState } from "../domain/status.ts";
import { clip } from "../domain/text.ts";
import type { EnvironmentTransition, StatusTransition } from "./store.ts";

export interface ServerRow {
  id: string;
  environmentId: string;
  toolCatalogId: string;
  status: string;
  name: string | null;
  portMapping: unknown;
  /** The agent's last heartbeat, epoch milliseconds (a number, not a Date: a page holds two per row while it waits for its environments). */
  lastHeartbeatMs: number | null;
  version: string | null;
  baseConfigOverride: unknown;
  errorMessage: string | null;
  serverType: string | null;
  endpointPath: string | null;
  transport: string | null;
  capabilities: unknown;
  discoveryMetadata: unknown;
  /** When the server last entered a running state, epoch milliseconds. */
  lastStartedAtMs: number | null;
  /** The container this row created (the agent's container id), when known. */
  containerId: string | null;
  /** What made the row's last write (migration 014): LIFECYCLE, AGENT_REPORT, MONITOR, AUTO_RECOVERY, PROBE or DATABASE. */
  writeSource: string | null;
  /** What someone last asked for, RUNNING or STOPPED (migration 015); null when nobody has said. */
  desiredState: string | null;
  /** Whether automatic recovery may act on this server (its policy; default on). */
  autoRecovery: boolean;
  /** This server's probe budget, overriding MCP_PROBE_TIMEOUT_MS; null for the default. */
  probeBudgetMs: number | null;
  /** Automatic recovery's record (domain/recovery.ts parseRecovery); null when it never acted. */
  recovery: unknown;
  /** The reachability the last connection test left (REACHABLE, SLOW, UNREACHABLE); null when never tested. */
  reachability: string | null;
  /** The risk level the early-warning watch last judged (migration 016); null before it did. */
  risk: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface EnvironmentRow {
  id: string;
  userId: string;
  doDropletId: string | null;
  dropletName: string | null;
  publicIp: string | null;
  privateIp: string | null;
  status: string;
  region: string;
  size: string;
  image: string;
  lastHeartbeatAt: Date | null;
  name: string | null;
  description: string | null;
  dtmaVersion: string | null;
  healthDetails: unknown;
  provisioningError: string | null;
  /** As ServerRow's. */
  writeSource: string | null;
  /** As ServerRow's. */
  risk: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export const SERVER_COLUMNS = [
  "id",
  "account_tool_environment_id",
  "tool_catalog_id",
  "status_on_toolbox",
  "instance_name_on_toolbox",
  "port_mapping_json",
  "last_heartbeat_from_dtma",
  "version",
  "base_config_override_json",
  "instance_error_message",
  "mcp_server_type",
  "mcp_endpoint_path",
  "mcp_transport_type",
  "mcp_server_capabilities",
  "mcp_discovery_metadata",
  "last_started_at",
  "mcp_fleet_container_id",
  "mcp_fleet_write_source",
  "mcp_fleet_desired_state",
  "mcp_fleet_auto_recovery",
  "mcp_fleet_probe_budget_ms",
  "mcp_fleet_recovery",
  "mcp_fleet_reachability",
  "mcp_fleet_risk",
  "created_at",
  "updated_at",
] as const;

export type ServerColumn = (typeof SERVER_COLUMNS)[number];

/** The chosen columns plus the keys, in table order (so equal choices give equal statements); every column if none are chosen. */
function withKeys<C extends string>(all: readonly C[], keys: readonly C[], chosen?: readonly C[]): readonly C[] {
  if (!chosen) return all;
  const wanted = new Set([...keys, ...chosen]);
  return all.filter((c) => wanted.has(c));
}

/** Server columns read whatever else is chosen: the keys, and the list order (cursors). */
export const serverColumns = (chosen?: readonly ServerColumn[]) =>
  withKeys(SERVER_COLUMNS, ["id", "account_tool_environment_id", "instance_name_on_toolbox"], chosen);

export const ENVIRONMENT_COLUMNS = [
  "id",
  "user_id",
  "do_droplet_id",
  "do_droplet_name",
  "public_ip_address",
  "private_ip_address",
  "status",
  "region_slug",
  "size_slug",
  "image_slug",
  "last_heartbeat_at",
  "name",
  "description",
  "dtma_last_known_version",
  "dtma_health_details_json",
  "provisioning_error_message",
  "mcp_fleet_write_source",
  "mcp_fleet_risk",
  "created_at",
  "updated_at",
] as const;

export type EnvironmentColumn = (typeof ENVIRONMENT_COLUMNS)[number];

/** Environment columns read whatever else is chosen: the id, and the owner that visibility checks. */
export const environmentColumns = (chosen?: readonly EnvironmentColumn[]) => withKeys(ENVIRONMENT_COLUMNS, ["id", "user_id"], chosen);

type Raw = Record<string, unknown>;

/** An epoch-milliseconds time of a row as a Date, for a DateTime field. */
export const dateOf = (ms: number | null): Date | null => (ms === null ? null : new Date(ms));

function epochMs(value: unknown): number | null {
  if (value == null) return null;
  if (typeof value === "number") return value;
  return value instanceof Date ? value.getTime() : Date.parse(String(value));
}
function date(value: unknown): Date | null {
  if (value == null) return null;
  if (value instanceof Date) return value;
  return new Date(typeof value === "number" ? value : String(value));
}
// Postgres prints a host address without its mask; PostgREST may keep "/32".
function ip(value: unknown): string | null {
  if (value == null) return null;
  return String(value).replace(/\/(32|128)$/, "");
}
const text = (value: unknown) => (value == null ? null : String(value));

export function toServerRow(r: Raw): ServerRow {
  return {
    id: String(r.id),
    environmentId: String(r.account_tool_environment_id),
    // A row read with only some columns (see serverColumns) has null for the others.
    toolCatalogId: text(r.tool_catalog_id) as string,
    status: text(r.status_on_toolbox) as string,
    name: text(r.instance_name_on_toolbox),
    portMapping: r.port_mapping_json ?? null,
    lastHeartbeatMs: epochMs(r.last_heartbeat_from_dtma),
    version: text(r.version),
    baseConfigOverride: r.base_config_override_json ?? null,
    errorMessage: text(r.instance_error_message),
    serverType: text(r.mcp_server_type),
    endpointPath: text(r.mcp_endpoint_path),
    transport: text(r.mcp_transport_type),
    capabilities: r.mcp_server_capabilities ?? null,
    discoveryMetadata: r.mcp_discovery_metadata ?? null,
    lastStartedAtMs: epochMs(r.last_started_at),
    containerId: text(r.mcp_fleet_container_id),
    writeSource: text(r.mcp_fleet_write_source),
    desiredState: text(r.mcp_fleet_desired_state),
    autoRecovery: r.mcp_fleet_auto_recovery !== false,
    probeBudgetMs: r.mcp_fleet_probe_budget_ms == null ? null : Number(r.mcp_fleet_probe_budget_ms),
    recovery: r.mcp_fleet_recovery ?? null,
    reachability: text(r.mcp_fleet_reachability),
    risk: text(r.mcp_fleet_risk),
    createdAt: date(r.created_at) as Date,
    updatedAt: date(r.updated_at) as Date,
  };
}

export function toEnvironmentRow(r: Raw): EnvironmentRow {
  return {
    id: String(r.id),
    userId: String(r.user_id),
    doDropletId: text(r.do_droplet_id),
    dropletName: text(r.do_droplet_name),
    publicIp: ip(r.public_ip_address),
    privateIp: ip(r.private_ip_address),
    // A row read with only some columns (see environmentColumns) has null for the others.
    status: text(r.status) as string,
    region: text(r.region_slug) as string,
    size: text(r.size_slug) as string,
    image: text(r.image_slug) as string,
    lastHeartbeatAt: date(r.last_heartbeat_at),
    name: text(r.name),
    description: text(r.description),
    dtmaVersion: text(r.dtma_last_known_version),
    healthDetails: r.dtma_health_details_json ?? null,
    provisioningError: text(r.provisioning_error_message),
    writeSource: text(r.mcp_fleet_write_source),
    risk: text(r.mcp_fleet_risk),
    createdAt: date(r.created_at) as Date,
    updatedAt: date(r.updated_at) as Date,
  };
}

/** The distinct environments of a joined result, by id. */
export function distinctEnvironments(rows: Raw[], read: (r: Raw) => EnvironmentRow): EnvironmentRow[] {
  const byId = new Map<string, EnvironmentRow>();
  for (const r of rows) {
    const id = String(r.account_tool_environment_id);
    if (!byId.has(id)) byId.set(id, read(r));
  }
  return [...byId.values()];
}

/** A row of `mcp_fleet_removed_servers`, as both stores select it. */
export function toRemovedServer(r: { id: string; environment_id: string; user_id: string | null; at: string }) {
  return { id: r.id, environmentId: r.environment_id, userId: r.user_id, removedAt: new Date(r.at), cursor: { at: r.at, id: r.id } };
}

export interface ConnectionTestRow {
  id: string;
  serverId: string;
  success: boolean;
  errorKind: string | null;
  error: string | null;
  httpStatus: number | null;
  latencyMs: number;
  phases: Array<{ name: string; ms: number; ok: boolean; detail?: string }>;
  transport: string | null;
  endpoint: string | null;
  protocolVersion: string | null;
  serverInfo: { name: string; version: string } | null;
  capabilities: string[];
  tools: string[];
  testedAt: Date;
}

export const CONNECTION_TEST_COLUMNS = [
  "id",
  "account_tool_instance_id",
  "success",
  "error_kind",
  "error_message",
  "http_status",
  "latency_ms",
  "phases",
  "transport",
  "endpoint",
  "protocol_version",
  "server_info",
  "capabilities",
  "tools",
  "tested_at",
] as const;

export type NewConnectionTest = Omit<ConnectionTestRow, "id" | "testedAt"> & { testedAt: Date };

export function toConnectionTestRow(r: Raw): ConnectionTestRow {
  return {
    id: String(r.id),
    serverId: String(r.account_tool_instance_id),
    success: Boolean(r.success),
    errorKind: text(r.error_kind),
    error: text(r.error_message),
    httpStatus: r.http_status == null ? null : Number(r.http_status),
    latencyMs: Number(r.latency_ms),
    phases: (r.phases as ConnectionTestRow["phases"]) ?? [],
    transport: text(r.transport),
    endpoint: text(r.endpoint),
    protocolVersion: text(r.protocol_version),
    serverInfo: (r.server_info as ConnectionTestRow["serverInfo"]) ?? null,
    capabilities: (r.capabilities as string[]) ?? [],
    tools: (r.tools as string[]) ?? [],
    testedAt: date(r.tested_at) as Date,
  };
}

/**
 * What one stored connection test may hold. The MCP server behind a test runs a tenant's image, so
 * it decides what it answers: without these bounds one test of a hostile server stored megabytes,
 * and reading its history took the API's memory from 230 MB to 1 GB. A row stays under ~20 KB.
 */
export const CONNECTION_TEST_BOUNDS = { tools: 100, toolName: 128, capabilities: 32, capability: 100, error: 2000, phases: 10, detail: 500, info: 200 };

function clipOrNull(text: string | null, max: number): string | null {
  return text == null ? null : clip(text, max);
}

/**
 * The catalog name of a raw-image deploy's entry (tool_catalog_id is NOT NULL upstream). The
 * catalog is shared: such an entry is private to the droplet's owner (is_public false,
 * created_by), and its name is namespaced, so an image string can never be, or link to, a curated
 * entry of the same name.
 */
export function privateCatalogName(image: string, ownerId: string | null): string {
  return `image:${ownerId ?? "service"}:${image}`;
}

/** The columns of a new row, in CONNECTION_TEST_COLUMNS order (without id), within CONNECTION_TEST_BOUNDS. */
export function connectionTestValues(t: NewConnectionTest): Record<string, unknown> {
  const b = CONNECTION_TEST_BOUNDS;
  return {
    account_tool_instance_id: t.serverId,
    success: t.success,
    error_kind: t.errorKind,
    error_message: clipOrNull(t.error, b.error),
    http_status: t.httpStatus,
    latency_ms: t.latencyMs,
    phases: t.phases.slice(0, b.phases).map((p) => (p.detail ? { ...p, detail: clip(p.detail, b.detail) } : p)),
    transport: t.transport,
    endpoint: t.endpoint,
    protocol_version: clipOrNull(t.protocolVersion, b.info),
    server_info: t.serverInfo && { name: clip(String(t.serverInfo.name), b.info), version: clip(String(t.serverInfo.version), b.info) },
    capabilities: t.capabilities.slice(0, b.capabilities).map((c) => clip(c, b.capability)),
    tools: t.tools.slice(0, b.tools).map((name) => clip(name, b.toolName)),
    tested_at: t.testedAt.toISOString(),
  };
}

/** An entry of upstream's shared tool catalog (tool_catalog). */
export interface CatalogToolRow {
  id: string;
  name: string;
  description: string | null;
  developer: string | null;
  categories: string[];
  iconUrl: string | null;
  documentationUrl: string | null;
  packaging: string;
  packageIdentifier: string;
  dockerImageUrl: string | null;
  defaultVersion: string;
  versions: string[];
  defaultConfigTemplate: unknown;
  requiredSecretsSchema: unknown;
  resourceRequirements: unknown;
  status: string;
  isPublic: boolean;
  createdBy: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export const CATALOG_COLUMNS = [
  "id",
  "tool_name",
  "description",
  "developer_org_name",
  "categories",
  "icon_url",
  "documentation_url",
  "packaging_type",
  "package_identifier",
  "docker_image_url",
  "version_info",
  "default_config_template",
  "required_secrets_schema",
  "resource_requirements",
  "status",
  "is_public",
  "created_by",
  "created_at",
  "updated_at",
] as const;

export function toCatalogToolRow(r: Raw): CatalogToolRow {
  const versionInfo = (r.version_info ?? {}) as { default_version?: unknown; available_versions?: unknown };
  const available = Array.isArray(versionInfo.available_versions) ? versionInfo.available_versions.map(String) : [];
  return {
    id: String(r.id),
    name: String(r.tool_name),
    description: text(r.description),
    developer: text(r.developer_org_name),
    categories: Array.isArray(r.categories) ? r.categories.map(String) : [],
    iconUrl: text(r.icon_url),
    documentationUrl: text(r.documentation_url),
    packaging: String(r.packaging_type ?? "docker_image"),
    packageIdentifier: String(r.package_identifier),
    dockerImageUrl: text(r.docker_image_url),
    defaultVersion: typeof versionInfo.default_version === "string" ? versionInfo.default_version : (available[0] ?? "latest"),
    versions: available,
    defaultConfigTemplate: r.default_config_template ?? null,
    requiredSecretsSchema: r.required_secrets_schema ?? [],
    resourceRequirements: r.resource_requirements ?? null,
    status: String(r.status ?? "available"),
    isPublic: r.is_public !== false,
    createdBy: text(r.created_by),
    createdAt: date(r.created_at) as Date,
    updatedAt: date(r.updated_at) as Date,
  };
}

/** A status transition as a row of mcp_fleet_status_history (without its id). */
export function statusTransitionValues(t: StatusTransition) {
  return {
    account_tool_instance_id: t.serverId,
    account_tool_environment_id: t.environmentId,
    user_id: t.userId,
    at: t.at.toISOString(),
    previous_state: t.previous?.state ?? null,
    previous_health: t.previous?.health ?? null,
    state: t.current.state,
    health: t.current.health,
    source: t.source,
    detail: t.detail ?? null,
  };
}

/** A droplet's status change as a row of mcp_fleet_environment_history (without its id). */
export function environmentTransitionValues(t: EnvironmentTransition) {
  return {
    account_tool_environment_id: t.environmentId,
    user_id: t.userId,
    at: t.at.toISOString(),
    previous_status: t.previousStatus,
    status: t.status,
    source: t.source,
  };
}

/** A row of mcp_fleet_status_history. */
export function toStatusTransition(r: Raw): StatusTransition {
  return {
    serverId: String(r.account_tool_instance_id),
    environmentId: String(r.account_tool_environment_id),
    userId: r.user_id == null ? null : String(r.user_id),
    at: date(r.at) as Date,
    previous: r.previous_state ? { state: r.previous_state as ServerState, health: r.previous_health as ServerHealth } : null,
    current: { state: r.state as ServerState, health: r.health as ServerHealth },
    source: String(r.source),
    detail: r.detail == null ? null : String(r.detail),
  };
}

/** A row of mcp_fleet_environment_history. */
export function toEnvironmentTransition(r: Raw): EnvironmentTransition {
  return {
    environmentId: String(r.account_tool_environment_id),
    userId: r.user_id == null ? null : String(r.user_id),
    at: date(r.at) as Date,
    previousStatus: r.previous_status == null ? null : String(r.previous_status),
    status: String(r.status),
    source: String(r.source),
  };
}

/** History calls (migration 013) with their arguments: the newest `first` entries per key, before `before`. */
export const historyArgs = (keys: readonly string[], page: { first: number; before?: Date }) => ({
  keys,
  per_key: page.first,
  before_at: page.before?.toISOString() ?? null,
});
