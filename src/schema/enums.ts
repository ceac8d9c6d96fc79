// The schema's enums, each from the domain's list of values.
import { ENDPOINT_PROBLEMS } from "../domain/endpoint.ts";
import { REACHABILITIES } from "../domain/reachability.ts";
import type { RECOVERY_STATUSES } from "../domain/recovery.ts";
import { RISK_LEVELS } from "../domain/risk.ts";
import { DESIRED_STATES, ENVIRONMENT_STATUSES, INSTALLATION_STATUSES, SERVER_HEALTHS, SERVER_STATES } from "../domain/status.ts";
import { builder } from "./builder.ts";

export const ServerStateEnum = builder.enumType("ServerState", {
  description: "What a server is doing, derived from status_on_toolbox.",
  values: SERVER_STATES,
});

export const ServerHealthEnum = builder.enumType("ServerHealth", {
  description: "How a server is doing: a running server's health follows its heartbeat age.",
  values: SERVER_HEALTHS,
});

export const InstallationStatusEnum = builder.enumType("InstallationStatus", {
  description: "account_tool_installation_status_enum, exactly as stored upstream.",
  values: INSTALLATION_STATUSES,
});

export const EnvironmentStatusEnum = builder.enumType("EnvironmentStatus", {
  description: "account_tool_environment_status_enum, exactly as stored upstream.",
  values: ENVIRONMENT_STATUSES,
});

export const ServerTypeEnum = builder.enumType("ServerType", {
  values: { MCP_SERVER: { value: "mcp_server" }, STANDARD_TOOL: { value: "standard_tool" } } as const,
});

export const TransportEnum = builder.enumType("MCPTransport", {
  description: "How clients talk to the server. Rows with no mcp_transport_type are HTTP, as upstream.",
  values: {
    HTTP: { value: "http", description: "Streamable HTTP" },
    SSE: { value: "sse", description: "HTTP with Server-Sent Events (the older MCP transport)" },
    WEBSOCKET: { value: "websocket" },
    STDIO: { value: "stdio", description: "Standard I/O: not reachable over the network" },
  } as const,
});

export const EndpointProblemEnum = builder.enumType("EndpointProblem", { values: ENDPOINT_PROBLEMS });

export const DesiredStateEnum = builder.enumType("DesiredState", {
  description: "What someone last asked of a server (a deploy or start: RUNNING; a stop: STOPPED), whoever wrote it; an agent's report never changes it.",
  values: DESIRED_STATES,
});

export const ReachabilityEnum = builder.enumType("Reachability", {
  description: "Whether the MCP endpoint answers: UNREACHABLE after PROBE_FAILURES failed tests in a row, SLOW above PROBE_SLOW_MS, UNKNOWN before any test.",
  values: REACHABILITIES,
});

export const RecoveryStatusEnum = builder.enumType("RecoveryStatus", {
  description: "Automatic recovery of a server (README, Automatic recovery).",
  values: {
    IDLE: { description: "Nothing to recover, or a person acted since." },
    RECOVERING: { description: "Attempts are being made, with backoff." },
    RECOVERED: { description: "The last fault was mended (attempts stay counted in the window)." },
    BLOCKED: { description: "A fault, but the droplet's agent cannot be asked: the droplet's problem; nothing is sent." },
    GAVE_UP: { description: "Too many attempts in the window: the circuit is open until a person starts, stops or restarts the server, or it recovers." },
    DISABLED: { description: "The server's policy is off (setServerHealthPolicy)." },
  } satisfies Record<(typeof RECOVERY_STATUSES)[number], unknown>,
});

export const RiskLevelEnum = builder.enumType("RiskLevel", { values: RISK_LEVELS });
