// Testing a server's connection: a real MCP handshake with its endpoint (mcp/probe.ts), stored in
// its history and announced to connectionTested subscribers.
import { isDeepStrictEqual } from "node:util";
import type { ConnectionTestRow, EnvironmentRow, ServerRow } from "../data/rows.ts";
import { MODERN_VERSION } from "../mcp/modern.ts";
import type { Config } from "../config.ts";
import type { Store } from "../data/store.ts";
import type { LiveFleet } from "../live/fleet.ts";
import type { Metrics } from "../metrics.ts";
import { buildEndpoint, endpointInput, hasPlaceholder, outboundRefusal, placeholderVariables } from "../domain/endpoint.ts";
import { stateOf } from "../domain/status.ts";
import type { Logger } from "../log.ts";
import { clip } from "../domain/text.ts";
import { failedProbe, probeMcpServer, type ProbeResult } from "../mcp/probe.ts";
import { OperationError } from "./errors.ts";
import { reachabilityOf, type ReachabilityThresholds } from "../domain/reachability.ts";

/** Tests the reachability axis looks at, newest first (MCPServer.reachability reads as many). */
export const REACHABILITY_TESTS = 10;
import { refuseUnlessContactable } from "./operations.ts";

export interface TestConnectionDeps {
  /** The viewer's store: a server they cannot see is NOT_FOUND. */
  store: Store;
  dtmaPort: number;
  allowPrivateTargets: boolean;
  /** The default budget of a probe (a server's own, when set, replaces it). */
  probeTimeoutMs: number;
  /** A floor on the budget (the prober's first probe after a start: PROBE_START_BUDGET_MS). */
  minimumBudgetMs?: number;
  /** Tests kept per server (older ones are deleted). */
  historyLimit: number;
  /** The reachability axis's thresholds: each test updates the server's stored reachability. */
  reachability?: ReachabilityThresholds;
  /** Probe even a server that is not running (by default such a test answers NOT_RUNNING without probing). */
  probeAnyway?: boolean;
  /** The background prober's light probe (mcp/probe.ts ProbeOptions.light), with the era the server spoke last. */
  light?: boolean;
  logger: Logger;
  /** Told of every probe (metrics). */
  onProbe?: (result: ProbeResult) => void;
  /** Told of every stored result (the live fleet publishes it). */
  onStored?: (test: ConnectionTestRow) => void;
}

/**
 * What a connection test needs, from the app's parts: a request's (its viewer's store), or the
 * service role's for the background prober.
 */
export function connectionTestDeps(
  parts: { store: Store; config: Config; logger: Logger; metrics: Metrics; live: LiveFleet | undefined },
  probeAnyway = false,
): TestConnectionDeps {
  return {
    store: parts.store,
    dtmaPort: parts.config.dtmaPort,
    allowPrivateTargets: parts.config.allowPrivateTargets,
    probeTimeoutMs: parts.config.mcpProbeTimeoutMs,
    historyLimit: parts.config.connectionTestHistory,
    reachability: parts.config.prober.reachability,
    probeAnyway,
    logger: parts.logger,
    onProbe: (result) => parts.metrics.mcpProbe.observe({ outcome: result.success ? "ok" : (result.errorKind ?? "error") }, result.latencyMs / 1000),
    onStored: (test) => parts.live?.announceConnectionTest(test),
  };
}

/** What a caller that has just read them (the prober, a page at a time) already knows of the server. */
export interface KnownServer {
  server: ServerRow;
  environment: EnvironmentRow | null;
  lastTest: ConnectionTestRow | null;
}

export async function testConnection(deps: TestConnectionDeps, serverId: string, known?: KnownServer): Promise<ConnectionTestRow> {
  const server = known?.server ?? (await deps.store.serversByIds([serverId]))[0];
  if (!server) throw new OperationError("NOT_FOUND", `No MCP server with id ${serverId}`);
  const environment = known ? known.environment : (await deps.store.environmentsByIds([server.environmentId]))[0];
  if (environment) refuseUnlessContactable(environment);
  const endpoint = buildEndpoint(endpointInput(server, environment), deps.dtmaPort);
  const result = await (async () => {
    if (!endpoint.url) return failedProbe("NO_ENDPOINT", endpoint.reason ?? "No endpoint can be built");
    if (hasPlaceholder(endpoint.url)) return failedProbe("PLACEHOLDER", `The endpoint still holds a placeholder: ${endpoint.url}`);
    if (server.transport === "websocket") {
      return failedProbe(
        "WRONG_TRANSPORT",
        "A WebSocket MCP server cannot be tested: WebSocket is not an MCP transport of the current specification (Streamable HTTP and SSE are)",
      );
    }
    if (stateOf(server.status) !== "RUNNING" && !deps.probeAnyway) {
      return failedProbe("NOT_RUNNING", `The server is not running (${server.status}); nothing was probed. Start it, or test with probe: true`);
    }
    // Only an actual probe goes out: only it needs the address to be one we may reach.
    const refusal = environment?.publicIp ? outboundRefusal(environment.publicIp, deps.allowPrivateTargets) : null;
    if (refusal) throw new OperationError("FORBIDDEN", refusal);
    // The server's own budget (setServerHealthPolicy) or the default; a first probe after a start gets at least its own.
    const lastVersion = known?.lastTest?.success ? known.lastTest.protocolVersion : null;
    const probed = await probeMcpServer(endpoint.url, {
      timeoutMs: Math.max(server.probeBudgetMs ?? deps.probeTimeoutMs, deps.minimumBudgetMs ?? 0),
      light: deps.light,
      eraHint: deps.light && lastVersion ? (lastVersion >= MODERN_VERSION ? "MODERN" : "LEGACY") : null,
    });
    // A server started with a placeholder for a value cannot work: that is the thing to fix.
    const unset = probed.success ? [] : placeholderVariables(server.baseConfigOverride);
    if (!unset.length) return probed;
    const names = unset.slice(0, 5).join(", ");
    return {
      ...probed,
      errorKind: "PLACEHOLDER" as const,
      error: `${names} still hold${unset.length === 1 ? "s" : ""} a placeholder (the probe failed: ${probed.error})`,
    };
  })();
  if (result.errorKind !== "NOT_RUNNING") deps.onProbe?.(result);
  deps.logger.info(
    { call: "mcp.probe", server: serverId, target: endpoint.url, ms: result.latencyMs, outcome: result.success ? "ok" : result.errorKind },
    "MCP connection test",
  );
  // A success decides reachability alone (the newest success decides): written with the test.
  const reached =
    deps.reachability && result.success
      ? reachabilityOf([{ success: true, latencyMs: result.latencyMs, error: null, testedAt: result.timestamp }], deps.reachability).status
      : undefined;
  const stored = await deps.store.insertConnectionTest(
    {
      serverId,
      success: result.success,
      errorKind: result.errorKind,
      error: result.error,
      httpStatus: result.httpStatus,
      latencyMs: result.latencyMs,
      phases: result.phases,
      transport: result.transport,
      endpoint: endpoint.url,
      protocolVersion: result.protocolVersion,
      serverInfo: result.serverInfo,
      capabilities: result.capabilities,
      tools: result.tools,
      testedAt: result.timestamp,
    },
    deps.historyLimit,
    reached,
  );
  if (result.success) {
    const discovery = discoveryRecord(result);
    // Rewritten only when the server offers something else: a row write is an event to every
    // dashboard, and the prober finds the same tools on every server every interval.
    if (!sameDiscovery(server, discovery)) await deps.store.recordDiscovery(serverId, discovery.capabilities, discovery.metadata);
  }
  if (deps.reachability && !stored.success) {
    // On the row, so it can be filtered and its changes are status events; written only when it
    // changes. A failure's verdict depends on the failures before it.
    const recent = (await deps.store.connectionTestsOf([serverId], REACHABILITY_TESTS))[0] ?? [];
    const { status } = reachabilityOf(recent, deps.reachability);
    // A row read for this test shows what is stored; one a caller read earlier may be stale.
    if (status !== "UNKNOWN" && (known || status !== server.reachability)) await deps.store.setReachability(serverId, status);
  }
  deps.onStored?.(stored);
  return stored;
}

/**
 * What a successful test learned, kept on the server so a front end can show its tools without
 * testing again: bounded like everything an MCP server (a tenant's image) sends. At most 100 tools;
 * names of 128 and descriptions of 1,000 characters; an input schema of at most 4 KB, and no more
 * schemas once the record passes 200 KB.
 */
export const DISCOVERY_BOUNDS = { tools: 100, name: 128, description: 1000, schemaBytes: 4096, recordBytes: 200_000, capabilitiesBytes: 8192 };

export function discoveryRecord(result: ProbeResult): { capabilities: unknown; metadata: Record<string, unknown> } {
  const b = DISCOVERY_BOUNDS;
  let size = 0;
  const tools = result.toolDetails.slice(0, b.tools).map((t) => {
    const schema = t.inputSchema == null ? null : JSON.stringify(t.inputSchema);
    const keep = schema !== null && schema.length <= b.schemaBytes && size + schema.length <= b.recordBytes;
    const tool = {
      name: clip(t.name, b.name),
      description: t.description === null ? null : clip(t.description, b.description),
      inputSchema: keep ? t.inputSchema : null,
      ...(schema !== null && !keep ? { inputSchemaOmitted: `larger than ${b.schemaBytes} bytes, or past the record's bound` } : {}),
    };
    size += JSON.stringify(tool).length;
    return tool;
  });
  const declared = result.declaredCapabilities ?? {};
  const capabilities =
    JSON.stringify(declared).length <= b.capabilitiesBytes
      ? declared
      : Object.fromEntries(
          Object.keys(declared)
            .slice(0, 32)
            .map((k) => [clip(k, 100), {}]),
        );
  return {
    capabilities,
    metadata: {
      source: "mcp-fleet connection test",
      learnedAt: result.timestamp.toISOString(),
      protocolVersion: result.protocolVersion,
      serverInfo: result.serverInfo && { name: clip(result.serverInfo.name, 200), version: clip(result.serverInfo.version, 200) },
      transport: result.transport,
      toolCount: result.toolDetails.length,
      tools,
    },
  };
}

/** Whether a server's stored discovery record says what `discovery` says (when it was learned aside; jsonb reorders keys). */
function sameDiscovery(server: ServerRow, discovery: ReturnType<typeof discoveryRecord>): boolean {
  const { learnedAt: _stored, ...stored } = (server.discoveryMetadata ?? {}) as Record<string, unknown>;
  const { learnedAt: _fresh, ...fresh } = discovery.metadata;
  return isDeepStrictEqual(server.capabilities, discovery.capabilities) && isDeepStrictEqual(stored, fresh);
}
