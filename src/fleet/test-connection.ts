// Testing a server's connection: a real MCP handshake with its endpoint (mcp/probe.ts), stored in
// its history and announced to connectionTested subscribers.
import type { ConnectionTestRow } from "../data/rows.ts";
import type { Store } from "../data/store.ts";
import { buildEndpoint, endpointInput, outboundRefusal } from "../domain/endpoint.ts";
import { stateOf } from "../domain/status.ts";
import type { Logger } from "../log.ts";
import { failedProbe, probeMcpServer, type ProbeResult } from "../mcp/probe.ts";
import { OperationError } from "./errors.ts";
import { refuseUnlessContactable } from "./operations.ts";

export interface TestConnectionDeps {
  /** The viewer's store: a server they cannot see is NOT_FOUND. */
  store: Store;
  dtmaPort: number;
  allowPrivateTargets: boolean;
  probeTimeoutMs: number;
  /** Tests kept per server (older ones are deleted). */
  historyLimit: number;
  /** Probe even a server that is not running (by default such a test answers NOT_RUNNING without probing). */
  probeAnyway?: boolean;
  logger: Logger;
  /** Told of every probe (metrics). */
  onProbe?: (result: ProbeResult) => void;
  /** Told of every stored result (the live fleet publishes it). */
  onStored?: (test: ConnectionTestRow) => void;
}

export async function testConnection(deps: TestConnectionDeps, serverId: string): Promise<ConnectionTestRow> {
  const [server] = await deps.store.serversByIds([serverId]);
  if (!server) throw new OperationError("NOT_FOUND", `No MCP server with id ${serverId}`);
  const [environment] = await deps.store.environmentsByIds([server.environmentId]);
  if (environment) refuseUnlessContactable(environment);
  const endpoint = buildEndpoint(endpointInput(server, environment), deps.dtmaPort);
  const refusal = environment?.publicIp ? outboundRefusal(environment.publicIp, deps.allowPrivateTargets) : null;
  if (refusal) throw new OperationError("FORBIDDEN", refusal);
  const state = stateOf(server.status);
  const result = !endpoint.url
    ? failedProbe("NO_ENDPOINT", endpoint.reason ?? "No endpoint can be built")
    : state !== "RUNNING" && !deps.probeAnyway
      ? failedProbe("NOT_RUNNING", `The server is not running (${server.status}); nothing was probed. Start it, or test with probe: true`)
      : await probeMcpServer(endpoint.url, { timeoutMs: deps.probeTimeoutMs });
  if (result.errorKind !== "NOT_RUNNING") deps.onProbe?.(result);
  deps.logger.info(
    { call: "mcp.probe", server: serverId, target: endpoint.url, ms: result.latencyMs, outcome: result.success ? "ok" : result.errorKind },
    "MCP connection test",
  );
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
  );
  deps.onStored?.(stored);
  return stored;
}
