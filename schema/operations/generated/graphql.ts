/* eslint-disable */
/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';
export type EndpointProblem =
  | 'DTMA_PORT_COLLISION'
  | 'INVALID_PORT_MAPPING'
  | 'NOT_NETWORK_REACHABLE'
  | 'NO_HOST_PORT'
  | 'NO_PUBLIC_ADDRESS';

export type EnvironmentFilter = {
  /** Case-insensitive substring of the environment or droplet name. */
  search?: string | null | undefined;
  statuses?: Array<EnvironmentStatus> | null | undefined;
};

/** account_tool_environment_status_enum, exactly as stored upstream. */
export type EnvironmentStatus =
  | 'active'
  | 'awaiting_heartbeat'
  | 'creating'
  | 'deleting'
  | 'deprovisioned'
  | 'deprovisioning'
  | 'error_creation'
  | 'error_deletion'
  | 'error_deprovisioning'
  | 'error_provisioning'
  | 'inactive'
  | 'pending_creation'
  | 'pending_deletion'
  | 'pending_deprovision'
  | 'pending_provision'
  | 'provisioning'
  | 'scaling'
  | 'unresponsive';

/** account_tool_installation_status_enum, exactly as stored upstream. */
export type InstallationStatus =
  | 'active'
  | 'deleting'
  | 'deploying'
  | 'disabled'
  | 'error'
  | 'error_install'
  | 'error_runtime'
  | 'error_uninstall'
  | 'installing'
  | 'pending_config'
  | 'pending_delete'
  | 'pending_deploy'
  | 'pending_install'
  | 'pending_uninstall'
  | 'running'
  | 'starting'
  | 'stopped'
  | 'stopping'
  | 'uninstalled'
  | 'uninstalling';

/** How clients talk to the server. Rows with no mcp_transport_type are HTTP, as upstream. */
export type McpTransport =
  /** Streamable HTTP */
  | 'HTTP'
  /** HTTP with Server-Sent Events (the older MCP transport) */
  | 'SSE'
  /** Standard I/O: not reachable over the network */
  | 'STDIO'
  | 'WEBSOCKET';

/** Every given condition must hold; within a list, any value matches. */
export type ServerFilter = {
  /** Environment ids (global or UUID). */
  environmentIds?: Array<string | number> | null | undefined;
  /** Evaluated at the time of the request. */
  healths?: Array<ServerHealth> | null | undefined;
  /** Case-insensitive substring of the server name. */
  search?: string | null | undefined;
  serverTypes?: Array<ServerType> | null | undefined;
  states?: Array<ServerState> | null | undefined;
};

/** How a server is doing: a running server's health follows its heartbeat age. */
export type ServerHealth =
  | 'DEGRADED'
  | 'HEALTHY'
  | 'UNHEALTHY'
  | 'UNKNOWN';

/** What a server is doing, derived from status_on_toolbox. */
export type ServerState =
  | 'ERROR'
  | 'RUNNING'
  | 'STARTING'
  | 'STOPPED'
  | 'STOPPING'
  | 'UNKNOWN';

export type ServerType =
  | 'MCP_SERVER'
  | 'STANDARD_TOOL';

export type FleetEnvironmentsQueryVariables = Exact<{
  first?: number | null | undefined;
  after?: string | null | undefined;
  filter?: EnvironmentFilter | null | undefined;
}>;


export type FleetEnvironmentsQuery = { environments: { totalCount: number, edges: Array<{ node: { id: string, name: string | null, status: EnvironmentStatus, publicIP: string | null, privateIP: string | null, region: string, size: string, lastHeartbeatAt: string | null, dtmaVersion: string | null, systemMetrics: { cpuLoadPercent: number | null, memory: { usedPercent: number | null } | null, disk: { usedPercent: number | null } | null } | null, servers: { totalCount: number, edges: Array<{ node: { name: string, status: { state: ServerState, health: ServerHealth } } }> } } }>, pageInfo: { hasNextPage: boolean, endCursor: string | null } } };

export type FleetQueryVariables = Exact<{ [key: string]: never; }>;


export type FleetQuery = { servers: { totalCount: number, edges: Array<{ node: { name: string, rawStatus: InstallationStatus, endpoint: string | null, endpointProblem: EndpointProblem | null, status: { state: ServerState, health: ServerHealth, uptime: number | null, heartbeatAge: number | null, lastError: string | null }, environment: { name: string | null, status: EnvironmentStatus, publicIP: string | null, region: string } } }>, pageInfo: { hasNextPage: boolean, endCursor: string | null } } };

export type ServerSummaryFragment = { id: string, uuid: string, name: string, serverType: ServerType, transport: McpTransport, rawStatus: InstallationStatus, endpoint: string | null, endpointProblem: EndpointProblem | null, lastHeartbeat: string | null, status: { state: ServerState, health: ServerHealth, uptime: number | null, heartbeatAge: number | null, lastError: string | null }, environment: { id: string, name: string | null, status: EnvironmentStatus, publicIP: string | null, region: string } };

export type FleetServersQueryVariables = Exact<{
  first?: number | null | undefined;
  after?: string | null | undefined;
  filter?: ServerFilter | null | undefined;
}>;


export type FleetServersQuery = { servers: { totalCount: number, edges: Array<{ cursor: string, node: { id: string, uuid: string, name: string, serverType: ServerType, transport: McpTransport, rawStatus: InstallationStatus, endpoint: string | null, endpointProblem: EndpointProblem | null, lastHeartbeat: string | null, status: { state: ServerState, health: ServerHealth, uptime: number | null, heartbeatAge: number | null, lastError: string | null }, environment: { id: string, name: string | null, status: EnvironmentStatus, publicIP: string | null, region: string } } }>, pageInfo: { hasNextPage: boolean, endCursor: string | null } } };

export type ServerDetailQueryVariables = Exact<{
  id: string | number;
}>;


export type ServerDetailQuery = { server: { capabilities: unknown, discoveryMetadata: unknown, createdAt: string, updatedAt: string, id: string, uuid: string, name: string, serverType: ServerType, transport: McpTransport, rawStatus: InstallationStatus, endpoint: string | null, endpointProblem: EndpointProblem | null, lastHeartbeat: string | null, status: { state: ServerState, health: ServerHealth, uptime: number | null, heartbeatAge: number | null, lastError: string | null }, environment: { id: string, name: string | null, status: EnvironmentStatus, publicIP: string | null, region: string } } | null };

export const ServerSummaryFragmentDoc = {"kind":"Document","definitions":[{"kind":"FragmentDefinition","name":{"kind":"Name","value":"ServerSummary"},"typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"MCPServer"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"uuid"}},{"kind":"Field","name":{"kind":"Name","value":"name"}},{"kind":"Field","name":{"kind":"Name","value":"serverType"}},{"kind":"Field","name":{"kind":"Name","value":"transport"}},{"kind":"Field","name":{"kind":"Name","value":"rawStatus"}},{"kind":"Field","name":{"kind":"Name","value":"status"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"state"}},{"kind":"Field","name":{"kind":"Name","value":"health"}},{"kind":"Field","name":{"kind":"Name","value":"uptime"}},{"kind":"Field","name":{"kind":"Name","value":"heartbeatAge"}},{"kind":"Field","name":{"kind":"Name","value":"lastError"}}]}},{"kind":"Field","name":{"kind":"Name","value":"endpoint"}},{"kind":"Field","name":{"kind":"Name","value":"endpointProblem"}},{"kind":"Field","name":{"kind":"Name","value":"lastHeartbeat"}},{"kind":"Field","name":{"kind":"Name","value":"environment"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"name"}},{"kind":"Field","name":{"kind":"Name","value":"status"}},{"kind":"Field","name":{"kind":"Name","value":"publicIP"}},{"kind":"Field","name":{"kind":"Name","value":"region"}}]}}]}}]} as unknown as DocumentNode<ServerSummaryFragment, unknown>;
export const FleetEnvironmentsDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"query","name":{"kind":"Name","value":"FleetEnvironments"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"first"}},"type":{"kind":"NamedType","name":{"kind":"Name","value":"Int"}}},{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"after"}},"type":{"kind":"NamedType","name":{"kind":"Name","value":"String"}}},{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"filter"}},"type":{"kind":"NamedType","name":{"kind":"Name","value":"EnvironmentFilter"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"environments"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"first"},"value":{"kind":"Variable","name":{"kind":"Name","value":"first"}}},{"kind":"Argument","name":{"kind":"Name","value":"after"},"value":{"kind":"Variable","name":{"kind":"Name","value":"after"}}},{"kind":"Argument","name":{"kind":"Name","value":"filter"},"value":{"kind":"Variable","name":{"kind":"Name","value":"filter"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"totalCount"}},{"kind":"Field","name":{"kind":"Name","value":"edges"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"node"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"name"}},{"kind":"Field","name":{"kind":"Name","value":"status"}},{"kind":"Field","name":{"kind":"Name","value":"publicIP"}},{"kind":"Field","name":{"kind":"Name","value":"privateIP"}},{"kind":"Field","name":{"kind":"Name","value":"region"}},{"kind":"Field","name":{"kind":"Name","value":"size"}},{"kind":"Field","name":{"kind":"Name","value":"lastHeartbeatAt"}},{"kind":"Field","name":{"kind":"Name","value":"dtmaVersion"}},{"kind":"Field","name":{"kind":"Name","value":"systemMetrics"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"cpuLoadPercent"}},{"kind":"Field","name":{"kind":"Name","value":"memory"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"usedPercent"}}]}},{"kind":"Field","name":{"kind":"Name","value":"disk"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"usedPercent"}}]}}]}},{"kind":"Field","name":{"kind":"Name","value":"servers"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"first"},"value":{"kind":"IntValue","value":"10"}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"totalCount"}},{"kind":"Field","name":{"kind":"Name","value":"edges"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"node"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"name"}},{"kind":"Field","name":{"kind":"Name","value":"status"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"state"}},{"kind":"Field","name":{"kind":"Name","value":"health"}}]}}]}}]}}]}}]}}]}},{"kind":"Field","name":{"kind":"Name","value":"pageInfo"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"hasNextPage"}},{"kind":"Field","name":{"kind":"Name","value":"endCursor"}}]}}]}}]}}]} as unknown as DocumentNode<FleetEnvironmentsQuery, FleetEnvironmentsQueryVariables>;
export const FleetDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"query","name":{"kind":"Name","value":"Fleet"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"servers"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"first"},"value":{"kind":"IntValue","value":"20"}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"totalCount"}},{"kind":"Field","name":{"kind":"Name","value":"edges"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"node"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"name"}},{"kind":"Field","name":{"kind":"Name","value":"rawStatus"}},{"kind":"Field","name":{"kind":"Name","value":"status"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"state"}},{"kind":"Field","name":{"kind":"Name","value":"health"}},{"kind":"Field","name":{"kind":"Name","value":"uptime"}},{"kind":"Field","name":{"kind":"Name","value":"heartbeatAge"}},{"kind":"Field","name":{"kind":"Name","value":"lastError"}}]}},{"kind":"Field","name":{"kind":"Name","value":"endpoint"}},{"kind":"Field","name":{"kind":"Name","value":"endpointProblem"}},{"kind":"Field","name":{"kind":"Name","value":"environment"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"name"}},{"kind":"Field","name":{"kind":"Name","value":"status"}},{"kind":"Field","name":{"kind":"Name","value":"publicIP"}},{"kind":"Field","name":{"kind":"Name","value":"region"}}]}}]}}]}},{"kind":"Field","name":{"kind":"Name","value":"pageInfo"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"hasNextPage"}},{"kind":"Field","name":{"kind":"Name","value":"endCursor"}}]}}]}}]}}]} as unknown as DocumentNode<FleetQuery, FleetQueryVariables>;
export const FleetServersDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"query","name":{"kind":"Name","value":"FleetServers"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"first"}},"type":{"kind":"NamedType","name":{"kind":"Name","value":"Int"}}},{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"after"}},"type":{"kind":"NamedType","name":{"kind":"Name","value":"String"}}},{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"filter"}},"type":{"kind":"NamedType","name":{"kind":"Name","value":"ServerFilter"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"servers"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"first"},"value":{"kind":"Variable","name":{"kind":"Name","value":"first"}}},{"kind":"Argument","name":{"kind":"Name","value":"after"},"value":{"kind":"Variable","name":{"kind":"Name","value":"after"}}},{"kind":"Argument","name":{"kind":"Name","value":"filter"},"value":{"kind":"Variable","name":{"kind":"Name","value":"filter"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"totalCount"}},{"kind":"Field","name":{"kind":"Name","value":"edges"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"cursor"}},{"kind":"Field","name":{"kind":"Name","value":"node"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"FragmentSpread","name":{"kind":"Name","value":"ServerSummary"}}]}}]}},{"kind":"Field","name":{"kind":"Name","value":"pageInfo"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"hasNextPage"}},{"kind":"Field","name":{"kind":"Name","value":"endCursor"}}]}}]}}]}},{"kind":"FragmentDefinition","name":{"kind":"Name","value":"ServerSummary"},"typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"MCPServer"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"uuid"}},{"kind":"Field","name":{"kind":"Name","value":"name"}},{"kind":"Field","name":{"kind":"Name","value":"serverType"}},{"kind":"Field","name":{"kind":"Name","value":"transport"}},{"kind":"Field","name":{"kind":"Name","value":"rawStatus"}},{"kind":"Field","name":{"kind":"Name","value":"status"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"state"}},{"kind":"Field","name":{"kind":"Name","value":"health"}},{"kind":"Field","name":{"kind":"Name","value":"uptime"}},{"kind":"Field","name":{"kind":"Name","value":"heartbeatAge"}},{"kind":"Field","name":{"kind":"Name","value":"lastError"}}]}},{"kind":"Field","name":{"kind":"Name","value":"endpoint"}},{"kind":"Field","name":{"kind":"Name","value":"endpointProblem"}},{"kind":"Field","name":{"kind":"Name","value":"lastHeartbeat"}},{"kind":"Field","name":{"kind":"Name","value":"environment"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"name"}},{"kind":"Field","name":{"kind":"Name","value":"status"}},{"kind":"Field","name":{"kind":"Name","value":"publicIP"}},{"kind":"Field","name":{"kind":"Name","value":"region"}}]}}]}}]} as unknown as DocumentNode<FleetServersQuery, FleetServersQueryVariables>;
export const ServerDetailDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"query","name":{"kind":"Name","value":"ServerDetail"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"id"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"ID"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"server"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"id"},"value":{"kind":"Variable","name":{"kind":"Name","value":"id"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"FragmentSpread","name":{"kind":"Name","value":"ServerSummary"}},{"kind":"Field","name":{"kind":"Name","value":"capabilities"}},{"kind":"Field","name":{"kind":"Name","value":"discoveryMetadata"}},{"kind":"Field","name":{"kind":"Name","value":"createdAt"}},{"kind":"Field","name":{"kind":"Name","value":"updatedAt"}}]}}]}},{"kind":"FragmentDefinition","name":{"kind":"Name","value":"ServerSummary"},"typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"MCPServer"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"uuid"}},{"kind":"Field","name":{"kind":"Name","value":"name"}},{"kind":"Field","name":{"kind":"Name","value":"serverType"}},{"kind":"Field","name":{"kind":"Name","value":"transport"}},{"kind":"Field","name":{"kind":"Name","value":"rawStatus"}},{"kind":"Field","name":{"kind":"Name","value":"status"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"state"}},{"kind":"Field","name":{"kind":"Name","value":"health"}},{"kind":"Field","name":{"kind":"Name","value":"uptime"}},{"kind":"Field","name":{"kind":"Name","value":"heartbeatAge"}},{"kind":"Field","name":{"kind":"Name","value":"lastError"}}]}},{"kind":"Field","name":{"kind":"Name","value":"endpoint"}},{"kind":"Field","name":{"kind":"Name","value":"endpointProblem"}},{"kind":"Field","name":{"kind":"Name","value":"lastHeartbeat"}},{"kind":"Field","name":{"kind":"Name","value":"environment"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"name"}},{"kind":"Field","name":{"kind":"Name","value":"status"}},{"kind":"Field","name":{"kind":"Name","value":"publicIP"}},{"kind":"Field","name":{"kind":"Name","value":"region"}}]}}]}}]} as unknown as DocumentNode<ServerDetailQuery, ServerDetailQueryVariables>;