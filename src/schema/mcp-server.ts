// MCPServer: one row of account_tool_instances whose mcp_server_type is set; its status; and the
// root fields that read servers (servers, server).
import { buildEndpoint, endpointInput, type Endpoint } from "../domain/endpoint.ts";
import { reachabilityOf, type ReachabilityStatus } from "../domain/reachability.ts";
import { ServerStatusOf, type ServerStatus } from "../domain/status.ts";
import { type ConnectionTestRow, dateOf, type EnvironmentColumn, type EnvironmentRow, type ServerColumn, type ServerRow } from "../data/rows.ts";
import { builder } from "./builder.ts";
import { chargeResponse, type Context } from "./context.ts";
import { environmentNames } from "../fleet/configure.ts";
import { REACHABILITY_TESTS } from "../fleet/test-connection.ts";
import { CatalogToolRef } from "./catalog.ts";
import { ConnectionTestRef, responseSize } from "./connection-test.ts";
import { badInput, userError } from "./errors.ts";
import { parseId } from "./ids.ts";
import { columnsFor, reads, readsBelow, selectedFields } from "./selection.ts";
import { ServerFilterInput, toServerFilter } from "./filters.ts";
import { toOrder, ServerOrderInput } from "./ordering.ts";
import { toConnection, toPageArgs, wantsRows } from "./pagination.ts";
import type { GraphQLObjectType } from "graphql";
import { EnvironmentRef, ServerRef } from "./refs.ts";
import {
  DesiredStateEnum,
  EndpointProblemEnum,
  InstallationStatusEnum,
  ReachabilityEnum,
  RecoveryStatusEnum,
  RiskLevelEnum,
  ServerHealthEnum,
  ServerStateEnum,
  ServerTypeEnum,
  TransportEnum,
} from "./enums.ts";

// These run for every server of every page: they stay synchronous when the environment is
// already loaded (as it is for a page), and create no named closures per call (tsx keeps
// function names by wrapping each one created, which showed in profiles).
export function environmentOf(server: ServerRow, ctx: Context): EnvironmentRow | Promise<EnvironmentRow> {
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
  return buildEndpoint(endpointInput(server, environment), ctx.config.dtmaPort);
}

/** A server's newest `first` connection tests: one statement for every server of the response that asks for as many. */
export function recentConnectionTests(ctx: Context, serverId: string, first: number): Promise<ConnectionTestRow[]> {
  return ctx.loaders.keyed<ConnectionTestRow[]>(`connectionTests:${first}`, (ids) => ctx.store.connectionTestsOf(ids, first)).load(serverId);
}

// What each field of a server's status reads (a page reads only what its selection needs).
const STATE = reads<ServerColumn>(["status_on_toolbox", "last_heartbeat_from_dtma", "last_started_at", "instance_error_message"]);
const ENDPOINT = reads<ServerColumn, EnvironmentColumn>(
  ["mcp_transport_type", "mcp_endpoint_path", "port_mapping_json", "base_config_override_json"],
  ["public_ip_address"],
);
const NOTHING = reads([]);

const ReachabilityRef = builder.objectRef<ReachabilityStatus>("ServerReachability").implement({
  description: "The reachability axis: does the MCP endpoint answer (see README, Active health).",
  fields: (t) => ({
    status: t.field({ type: ReachabilityEnum, resolve: (r) => r.status }),
    lastProbeAt: t.expose("lastProbeAt", { type: "DateTime", nullable: true }),
    latencyMs: t.exposeInt("latencyMs", { nullable: true, description: "The newest test's latency." }),
    consecutiveFailures: t.exposeInt("consecutiveFailures"),
    lastError: t.exposeString("lastError", { nullable: true, description: "The newest test's error, while it is failing." }),
  }),
});

const then = <T, R>(value: T | Promise<T>, f: (v: T) => R): R | Promise<R> => (value instanceof Promise ? value.then(f) : f(value));

export const ServerStatusRef = builder.objectRef<ServerStatus>("MCPServerStatus").implement({
  fields: (t) => ({
    state: t.expose("state", { ...STATE, type: ServerStateEnum }),
    health: t.expose("health", {
      ...reads<ServerColumn>(["status_on_toolbox", "last_heartbeat_from_dtma", "last_started_at", "mcp_fleet_reachability"]),
      type: ServerHealthEnum,
      description: "The agent's reports (heartbeat age) and the reachability axis together: see README, Status and health.",
    }),
    uptime: t.int({
      ...STATE,
      nullable: true,
      description: "Seconds since the server last started; null unless running and the start is known.",
      resolve: (s) => s.uptimeSeconds,
    }),
    lastStarted: t.field({ ...STATE, type: "DateTime", nullable: true, resolve: (s) => dateOf(s.lastStartedMs) }),
    lastError: t.exposeString("lastError", { ...STATE, nullable: true }),
    heartbeatAge: t.int({
      ...STATE,
      nullable: true,
      description: "Seconds since the last heartbeat from the droplet agent; null if it never sent one.",
      resolve: (s) => s.heartbeatAgeSeconds,
    }),
    desired: t.field({
      ...reads<ServerColumn>(["mcp_fleet_desired_state", "status_on_toolbox"]),
      type: DesiredStateEnum,
      description: "What someone last asked for.",
      resolve: (s) => s.desired,
    }),
    reachability: t.field({
      ...reads<ServerColumn>(["mcp_fleet_reachability"]),
      type: ReachabilityEnum,
      description: "As the last connection test left it (MCPServer.reachability has the details).",
      resolve: (s) => s.reachability,
    }),
    recovery: t.field({ ...reads<ServerColumn>(["mcp_fleet_auto_recovery", "mcp_fleet_recovery"]), type: RecoveryStatusEnum, resolve: (s) => s.recovery }),
    risk: t.field({
      ...reads<ServerColumn>(["mcp_fleet_risk"]),
      type: RiskLevelEnum,
      description:
        "As the early-warning watch last judged it (EARLY_WARNING_INTERVAL_MS; NONE before it did). MCPServer.risk has the reasons, as of the request.",
      resolve: (s) => s.risk,
    }),
  }),
});

type McpTool = { name: string; description: string | null; inputSchema: unknown };

const McpToolRef = builder.objectRef<McpTool>("MCPTool").implement({
  description: "A tool the server offers, as it described it.",
  fields: (t) => ({
    name: t.exposeString("name"),
    description: t.exposeString("description", { nullable: true }),
    inputSchema: t.field({
      type: "JSON",
      nullable: true,
      description: "Its JSON Schema (null when larger than the kept bound).",
      resolve: (x) => x.inputSchema,
    }),
  }),
});

/** The tools of a discovery record, read defensively (upstream rows may hold anything there). */
function discoveredTools(metadata: unknown): McpTool[] {
  const tools = (metadata as { tools?: unknown } | null)?.tools;
  if (!Array.isArray(tools)) return [];
  return tools.flatMap((t) =>
    t && typeof t === "object" && typeof (t as { name?: unknown }).name === "string"
      ? [
          {
            name: (t as McpTool).name,
            description: typeof (t as McpTool).description === "string" ? (t as McpTool).description : null,
            inputSchema: (t as McpTool).inputSchema ?? null,
          },
        ]
      : [],
  );
}

builder.node(ServerRef, {
  description: "An MCP server: one container on a droplet (account_tool_instances).",
  id: { resolve: (s) => s.id, parse: (id) => parseId(id, "MCPServer") },
  loadMany: (ids, ctx: Context) => ids.map((id) => ctx.loaders.server.load(id)),
  fields: (t) => ({
    uuid: t.field({ ...NOTHING, type: "UUID", description: "The database id (account_tool_instances.id).", resolve: (s) => s.id }),
    name: t.string({
      ...reads<ServerColumn>(["instance_name_on_toolbox"]),
      description: "The container name on the droplet (instance_name_on_toolbox), the DTMA's key for it.",
      resolve: (s) => s.name ?? `MCP Server ${s.id}`,
    }),
    serverType: t.field({ ...reads<ServerColumn>(["mcp_server_type"]), type: ServerTypeEnum, resolve: (s) => s.serverType as "mcp_server" | "standard_tool" }),
    transport: t.field({ ...reads<ServerColumn>(["mcp_transport_type"]), type: TransportEnum, resolve: (s) => (s.transport ?? "http") as "http" }),
    rawStatus: t.field({
      ...reads<ServerColumn>(["status_on_toolbox"]),
      type: InstallationStatusEnum,
      description: "status_on_toolbox as stored.",
      resolve: (s) => s.status as "running",
    }),
    status: t.field({
      ...readsBelow,
      type: ServerStatusRef,
      resolve: (s, _args, ctx) => new ServerStatusOf(s, ctx.time.now, ctx.time.thresholds),
    }),
    endpoint: t.string({
      ...ENDPOINT,
      nullable: true,
      description:
        "The URL MCP clients connect to, from the droplet's public address and the published host port. Null when it cannot be built: see endpointProblem.",
      resolve: (s, _args, ctx) => then(endpointOf(s, ctx), (e) => e.url),
    }),
    endpointProblem: t.field({
      ...ENDPOINT,
      type: EndpointProblemEnum,
      nullable: true,
      resolve: (s, _args, ctx) => then(endpointOf(s, ctx), (e) => e.problem),
    }),
    endpointProblemReason: t.string({ ...ENDPOINT, nullable: true, resolve: (s, _args, ctx) => then(endpointOf(s, ctx), (e) => e.reason) }),
    endpointPath: t.exposeString("endpointPath", { ...reads<ServerColumn>(["mcp_endpoint_path"]), nullable: true }),
    capabilities: t.expose("capabilities", {
      ...reads<ServerColumn>(["mcp_server_capabilities"]),
      type: "JSON",
      nullable: true,
      description: "mcp_server_capabilities as stored.",
    }),
    discoveryMetadata: t.expose("discoveryMetadata", {
      ...reads<ServerColumn>(["mcp_discovery_metadata"]),
      type: "JSON",
      nullable: true,
      description: "What the last successful connection test learned (server info, protocol version, transport, tools, learnedAt), or upstream's record.",
    }),
    tools: t.field({
      ...reads<ServerColumn>(["mcp_discovery_metadata"]),
      type: [McpToolRef],
      description: "The server's tools as its last successful connection test listed them (empty until one has run).",
      resolve: (s, _args, ctx) => {
        const tools = discoveredTools(s.discoveryMetadata);
        chargeResponse(ctx, JSON.stringify(tools).length);
        return tools;
      },
    }),
    discoveredAt: t.field({
      ...reads<ServerColumn>(["mcp_discovery_metadata"]),
      type: "DateTime",
      nullable: true,
      description: "When `tools`, `capabilities` and `discoveryMetadata` were learned as they are (a later test that finds the same leaves them).",
      resolve: (s) => {
        const at = (s.discoveryMetadata as { learnedAt?: unknown } | null)?.learnedAt;
        return typeof at === "string" && !Number.isNaN(Date.parse(at)) ? new Date(at) : null;
      },
    }),
    environmentVariables: t.stringList({
      ...reads<ServerColumn>(["base_config_override_json"]),
      description: "The names of the container's environment variables. Values are write-only (configureServer): never returned.",
      resolve: (s) => environmentNames(s.baseConfigOverride),
    }),
    portMapping: t.expose("portMapping", { ...reads<ServerColumn>(["port_mapping_json"]), type: "JSON", nullable: true }),
    version: t.exposeString("version", { ...reads<ServerColumn>(["version"]), nullable: true }),
    lastHeartbeat: t.field({
      ...reads<ServerColumn>(["last_heartbeat_from_dtma"]),
      type: "DateTime",
      nullable: true,
      resolve: (s) => dateOf(s.lastHeartbeatMs),
    }),
    createdAt: t.expose("createdAt", { ...reads<ServerColumn>(["created_at"]), type: "DateTime" }),
    updatedAt: t.expose("updatedAt", { ...reads<ServerColumn>(["updated_at"]), type: "DateTime" }),
    environment: t.field({ ...NOTHING, type: EnvironmentRef, resolve: (s, _args, ctx) => environmentOf(s, ctx) }),
    catalogTool: t.field({
      ...reads<ServerColumn>(["tool_catalog_id"]),
      type: CatalogToolRef,
      nullable: true,
      description: "The catalog entry the server was deployed from (a private one for a raw-image deploy); null if you cannot see it.",
      resolve: (s, _args, ctx) => (s.toolCatalogId ? ctx.loaders.catalogTool.load(s.toolCatalogId) : null),
    }),
    lastConnectionTest: t.field({
      ...NOTHING,
      type: ConnectionTestRef,
      nullable: true,
      description: "The newest connection test; null if never tested.",
      resolve: async (s, _args, ctx) => {
        const test = await ctx.loaders.lastConnectionTest.load(s.id);
        chargeResponse(ctx, responseSize(test));
        return test;
      },
    }),
    reachability: t.field({
      ...NOTHING,
      type: ReachabilityRef,
      description:
        "Whether the MCP endpoint answers, from the server's recent connection tests (the background prober's, PROBE_INTERVAL_MS, and anyone's): UNREACHABLE after PROBE_FAILURES (3) failures in a row, SLOW above PROBE_SLOW_MS (5 s), UNKNOWN before any test.",
      resolve: async (s, _args, ctx) => {
        // The same batch as connectionTests(first: 10): one statement for a page.
        const tests = await recentConnectionTests(ctx, s.id, REACHABILITY_TESTS);
        return reachabilityOf(
          tests.map((t) => ({ success: t.success, latencyMs: t.latencyMs, error: t.error, testedAt: t.testedAt })),
          ctx.config.prober.reachability,
        );
      },
    }),
    connectionTests: t.field({
      ...NOTHING,
      type: [ConnectionTestRef],
      description: "Connection tests, newest first.",
      args: { first: t.arg.int({ defaultValue: 10 }) },
      resolve: async (s, args, ctx) => {
        const first = args.first ?? 10;
        if (first < 0 || first > 100) throw badInput("`first` must be between 0 and 100", "first");
        // Every server in the response that asks for the same number is served by one statement.
        const tests = await recentConnectionTests(ctx, s.id, first);
        for (const test of tests) chargeResponse(ctx, responseSize(test));
        return tests;
      },
    }),
  }),
});

builder.queryFields((t) => ({
  servers: t.connection({
    type: ServerRef,
    description: "MCP servers, in name order unless `orderBy` says otherwise.",
    args: { filter: t.arg({ type: ServerFilterInput }), orderBy: t.arg({ type: ServerOrderInput }) },
    resolve: async (_root, args, ctx, info) => {
      const { order, tag } = toOrder(args.orderBy);
      const page = { ...toPageArgs(args, ctx.config, tag), order };
      const filter = toServerFilter(args.filter);
      const count = () => ctx.store.countServers(filter, ctx.time);
      if (!wantsRows(info)) return toConnection<ServerRow>({ rows: [], hasNextPage: false }, page, count, tag);
      // Only the columns the selected fields read, of the servers and of their environments.
      const fields = selectedFields(info, ["edges", "node"]);
      const serverType = info.schema.getType("MCPServer") as GraphQLObjectType;
      const server = columnsFor<ServerColumn>(serverType, fields, [], "own", (field) => selectedFields(info, ["edges", "node", field]));
      // Environments are read in part only with servers read in part: such servers are reachable
      // through this page alone, so nothing else can reach their partial environments.
      const environment =
        server &&
        columnsFor<EnvironmentColumn>(
          info.schema.getType("Environment") as GraphQLObjectType,
          fields.has("environment") ? selectedFields(info, ["edges", "node", "environment"]) : [],
          columnsFor<EnvironmentColumn>(serverType, fields, [], "environment"),
        );
      const result = await ctx.store.listServers(filter, page, ctx.time, { server, environment });
      // Prime the loaders: the page brought its environments, and later lookups cost nothing.
      // Rows read with some columns only stay out of the loaders (a later lookup needs all).
      if (!server) for (const row of result.rows) ctx.loaders.server.prime(row.id, row);
      if (!environment) for (const env of result.environments) ctx.loaders.environment.prime(env.id, env);
      else {
        const byId = new Map(result.environments.map((env) => [env.id, env]));
        for (const row of result.rows) {
          const env = byId.get(row.environmentId);
          if (env) ctx.loaders.pageEnvironments.set(row, env);
        }
      }
      return toConnection(result, page, count, tag);
    },
  }),
  server: t.field({
    type: ServerRef,
    nullable: true,
    description: "One MCP server by id (global id or database UUID); null if there is none.",
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => ctx.loaders.server.load(parseId(String(args.id), "MCPServer")),
  }),
}));
