// The schema's enums, each from the domain's list of values.
import { ENDPOINT_PROBLEMS } from "../domain/endpoint.ts";
import { ENVIRONMENT_STATUSES, INSTALLATION_STATUSES, SERVER_HEALTHS, SERVER_STATES } from "../domain/status.ts";
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
