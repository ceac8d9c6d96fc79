// MCPServer: one row of account_tool_instances whose mcp_server_type is set.
import { buildEndpoint, type Endpoint } from "../domain/endpoint.ts";
import { serverStatus } from "../domain/status.ts";
import type { EnvironmentColumn, EnvironmentRow, ServerColumn, ServerRow } from "../data/rows.ts";
import { builder } from "./builder.ts";
import type { Context } from "./context.ts";
import { ConnectionTestRef } from "./connection-test.ts";
import { badInput, userError } from "./errors.ts";
import { parseId } from "./ids.ts";
import { EnvironmentRef, ServerRef } from "./refs.ts";
import { EndpointProblemEnum, InstallationStatusEnum, ServerStatusRef, ServerTypeEnum, TransportEnum } from "./status.ts";

// These run for every server of every page: they stay synchronous when the environment is
// already loaded (as it is for a page), and create no named closures per call (tsx keeps
// function names by wrapping each one created, which showed in profiles).
function environmentOf(server: ServerRow, ctx: Context): EnvironmentRow | Promise<EnvironmentRow> {
  const onPage = ctx.loaders.pageEnvironments.get(server);
  if (onPage) return onPage;
  const loaded = ctx.loaders.environment.load(server.environmentId);
  return loaded instanceof Promise ? loaded.then((environment) => existing(server, environment)) : existing(server, loaded);
}

function existing(server: ServerRow, environment: EnvironmentRow | null): EnvironmentRow {
  // The FK (ON DELETE CASCADE) makes this impossible unless the row vanished mid-request.
  if (!environment) throw userError("NOT_FOUND", `The environment of server ${server.id} no longer exists`);
  return environment;
}

function endpointOf(server: ServerRow, ctx: Context): Endpoint | Promise<Endpoint> {
  const environment = environmentOf(server, ctx);
  return environment instanceof Promise ? environment.then((env) => endpointAt(server, env, ctx)) : endpointAt(server, environment, ctx);
}

function endpointAt(server: ServerRow, environment: EnvironmentRow, ctx: Context): Endpoint {
  return buildEndpoint(
    { publicIp: environment.publicIp, transport: server.transport, endpointPath: server.endpointPath, portMapping: server.portMapping, baseConfigOverride: server.baseConfigOverride },
    ctx.config.dtmaPort,
  );
}

const STATUS_COLUMNS: readonly ServerColumn[] = ["status_on_toolbox", "last_heartbeat_from_dtma", "last_started_at", "instance_error_message"];
const ENDPOINT_COLUMNS: readonly ServerColumn[] = ["mcp_transport_type", "mcp_endpoint_path", "port_mapping_json", "base_config_override_json"];

/**
 * The columns each MCPServer field reads, so a page of servers selects only what its response
 * needs. A selected field missing here makes the page read every column (a test keeps this in
 * step with the type's fields).
 */
export const SERVER_FIELD_COLUMNS: Record<string, readonly ServerColumn[]> = {
  __typename: [], id: [], uuid: [], environment: [], lastConnectionTest: [], connectionTests: [],
  name: ["instance_name_on_toolbox"], serverType: ["mcp_server_type"], transport: ["mcp_transport_type"], rawStatus: ["status_on_toolbox"],
  status: STATUS_COLUMNS, endpoint: ENDPOINT_COLUMNS, endpointProblem: ENDPOINT_COLUMNS, endpointProblemReason: ENDPOINT_COLUMNS,
  endpointPath: ["mcp_endpoint_path"], capabilities: ["mcp_server_capabilities"], discoveryMetadata: ["mcp_discovery_metadata"],
  portMapping: ["port_mapping_json"], version: ["version"], lastHeartbeat: ["last_heartbeat_from_dtma"], createdAt: ["created_at"], updatedAt: ["updated_at"],
};

/** What MCPServer fields read of their environment besides the environment's own fields. */
export const SERVER_FIELD_ENVIRONMENT_COLUMNS: Record<string, readonly EnvironmentColumn[]> = {
  endpoint: ["public_ip_address"], endpointProblem: ["public_ip_address"], endpointProblemReason: ["public_ip_address"],
};

const then = <T, R>(value: T | Promise<T>, f: (v: T) => R): R | Promise<R> => (value instanceof Promise ? value.then(f) : f(value));

builder.node(ServerRef, {
  description: "An MCP server: one container on a droplet (account_tool_instances).",
  id: { resolve: (s) => s.id, parse: (id) => parseId(id, "MCPServer") },
  loadMany: (ids, ctx: Context) => ids.map((id) => ctx.loaders.server.load(id)),
  fields: (t) => ({
    uuid: t.field({ type: "UUID", description: "The database id (account_tool_instances.id).", resolve: (s) => s.id }),
    name: t.string({ description: "The container name on the droplet (instance_name_on_toolbox), the DTMA's key for it.", resolve: (s) => s.name ?? `MCP Server ${s.id}` }),
    serverType: t.field({ type: ServerTypeEnum, resolve: (s) => s.serverType as "mcp_server" | "standard_tool" }),
    transport: t.field({ type: TransportEnum, resolve: (s) => (s.transport ?? "http") as "http" }),
    rawStatus: t.field({ type: InstallationStatusEnum, description: "status_on_toolbox as stored.", resolve: (s) => s.status as "running" }),
    status: t.field({
      type: ServerStatusRef,
      resolve: (s, _args, ctx) =>
        serverStatus(s, ctx.time.now, ctx.time.thresholds),
    }),
    endpoint: t.string({
      nullable: true,
      description: "The URL MCP clients connect to, from the droplet's public address and the published host port. Null when it cannot be built: see endpointProblem.",
      resolve: (s, _args, ctx) => then(endpointOf(s, ctx), (e) => e.url),
    }),
    endpointProblem: t.field({ type: EndpointProblemEnum, nullable: true, resolve: (s, _args, ctx) => then(endpointOf(s, ctx), (e) => e.problem) }),
    endpointProblemReason: t.string({ nullable: true, resolve: (s, _args, ctx) => then(endpointOf(s, ctx), (e) => e.reason) }),
    endpointPath: t.exposeString("endpointPath", { nullable: true }),
    capabilities: t.expose("capabilities", { type: "JSON", nullable: true, description: "mcp_server_capabilities as stored." }),
    discoveryMetadata: t.expose("discoveryMetadata", { type: "JSON", nullable: true }),
    portMapping: t.expose("portMapping", { type: "JSON", nullable: true }),
    version: t.exposeString("version", { nullable: true }),
    lastHeartbeat: t.expose("lastHeartbeat", { type: "DateTime", nullable: true }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" }),
    environment: t.field({ type: EnvironmentRef, resolve: (s, _args, ctx) => environmentOf(s, ctx) }),
    lastConnectionTest: t.field({ type: ConnectionTestRef, nullable: true, description: "The newest connection test; null if never tested.", resolve: (s, _args, ctx) => ctx.loaders.lastConnectionTest.load(s.id) }),
    connectionTests: t.field({
      type: [ConnectionTestRef],
      description: "Connection tests, newest first.",
      args: { first: t.arg.int({ defaultValue: 10 }) },
      resolve: (s, args, ctx) => {
        const first = args.first ?? 10;
        if (first < 0 || first > 100) throw badInput("`first` must be between 0 and 100", "first");
        return ctx.store.connectionTests(s.id, first);
      },
    }),
  }),
});
