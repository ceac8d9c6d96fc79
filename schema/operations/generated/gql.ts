/* eslint-disable */
import * as types from './graphql';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "query FleetEnvironments($first: Int, $after: String, $filter: EnvironmentFilter) {\n  environments(first: $first, after: $after, filter: $filter) {\n    totalCount\n    edges {\n      node {\n        id\n        name\n        status\n        publicIP\n        privateIP\n        region\n        size\n        lastHeartbeatAt\n        dtmaVersion\n        systemMetrics {\n          cpuLoadPercent\n          memory {\n            usedPercent\n          }\n          disk {\n            usedPercent\n          }\n        }\n        servers(first: 10) {\n          totalCount\n          edges {\n            node {\n              name\n              status {\n                state\n                health\n              }\n            }\n          }\n        }\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}": typeof types.FleetEnvironmentsDocument,
    "query Fleet {\n  servers(first: 20) {\n    totalCount\n    edges {\n      node {\n        name\n        rawStatus\n        status {\n          state\n          health\n          uptime\n          heartbeatAge\n          lastError\n        }\n        endpoint\n        endpointProblem\n        environment {\n          name\n          status\n          publicIP\n          region\n        }\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}": typeof types.FleetDocument,
    "fragment ServerSummary on MCPServer {\n  id\n  uuid\n  name\n  serverType\n  transport\n  rawStatus\n  status {\n    state\n    health\n    uptime\n    heartbeatAge\n    lastError\n  }\n  endpoint\n  endpointProblem\n  lastHeartbeat\n  environment {\n    id\n    name\n    status\n    publicIP\n    region\n  }\n}\n\nquery FleetServers($first: Int, $after: String, $filter: ServerFilter) {\n  servers(first: $first, after: $after, filter: $filter) {\n    totalCount\n    edges {\n      cursor\n      node {\n        ...ServerSummary\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}\n\nquery ServerDetail($id: ID!) {\n  server(id: $id) {\n    ...ServerSummary\n    capabilities\n    discoveryMetadata\n    createdAt\n    updatedAt\n  }\n}": typeof types.ServerSummaryFragmentDoc,
};
const documents: Documents = {
    "query FleetEnvironments($first: Int, $after: String, $filter: EnvironmentFilter) {\n  environments(first: $first, after: $after, filter: $filter) {\n    totalCount\n    edges {\n      node {\n        id\n        name\n        status\n        publicIP\n        privateIP\n        region\n        size\n        lastHeartbeatAt\n        dtmaVersion\n        systemMetrics {\n          cpuLoadPercent\n          memory {\n            usedPercent\n          }\n          disk {\n            usedPercent\n          }\n        }\n        servers(first: 10) {\n          totalCount\n          edges {\n            node {\n              name\n              status {\n                state\n                health\n              }\n            }\n          }\n        }\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}": types.FleetEnvironmentsDocument,
    "query Fleet {\n  servers(first: 20) {\n    totalCount\n    edges {\n      node {\n        name\n        rawStatus\n        status {\n          state\n          health\n          uptime\n          heartbeatAge\n          lastError\n        }\n        endpoint\n        endpointProblem\n        environment {\n          name\n          status\n          publicIP\n          region\n        }\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}": types.FleetDocument,
    "fragment ServerSummary on MCPServer {\n  id\n  uuid\n  name\n  serverType\n  transport\n  rawStatus\n  status {\n    state\n    health\n    uptime\n    heartbeatAge\n    lastError\n  }\n  endpoint\n  endpointProblem\n  lastHeartbeat\n  environment {\n    id\n    name\n    status\n    publicIP\n    region\n  }\n}\n\nquery FleetServers($first: Int, $after: String, $filter: ServerFilter) {\n  servers(first: $first, after: $after, filter: $filter) {\n    totalCount\n    edges {\n      cursor\n      node {\n        ...ServerSummary\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}\n\nquery ServerDetail($id: ID!) {\n  server(id: $id) {\n    ...ServerSummary\n    capabilities\n    discoveryMetadata\n    createdAt\n    updatedAt\n  }\n}": types.ServerSummaryFragmentDoc,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query FleetEnvironments($first: Int, $after: String, $filter: EnvironmentFilter) {\n  environments(first: $first, after: $after, filter: $filter) {\n    totalCount\n    edges {\n      node {\n        id\n        name\n        status\n        publicIP\n        privateIP\n        region\n        size\n        lastHeartbeatAt\n        dtmaVersion\n        systemMetrics {\n          cpuLoadPercent\n          memory {\n            usedPercent\n          }\n          disk {\n            usedPercent\n          }\n        }\n        servers(first: 10) {\n          totalCount\n          edges {\n            node {\n              name\n              status {\n                state\n                health\n              }\n            }\n          }\n        }\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}"): (typeof documents)["query FleetEnvironments($first: Int, $after: String, $filter: EnvironmentFilter) {\n  environments(first: $first, after: $after, filter: $filter) {\n    totalCount\n    edges {\n      node {\n        id\n        name\n        status\n        publicIP\n        privateIP\n        region\n        size\n        lastHeartbeatAt\n        dtmaVersion\n        systemMetrics {\n          cpuLoadPercent\n          memory {\n            usedPercent\n          }\n          disk {\n            usedPercent\n          }\n        }\n        servers(first: 10) {\n          totalCount\n          edges {\n            node {\n              name\n              status {\n                state\n                health\n              }\n            }\n          }\n        }\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query Fleet {\n  servers(first: 20) {\n    totalCount\n    edges {\n      node {\n        name\n        rawStatus\n        status {\n          state\n          health\n          uptime\n          heartbeatAge\n          lastError\n        }\n        endpoint\n        endpointProblem\n        environment {\n          name\n          status\n          publicIP\n          region\n        }\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}"): (typeof documents)["query Fleet {\n  servers(first: 20) {\n    totalCount\n    edges {\n      node {\n        name\n        rawStatus\n        status {\n          state\n          health\n          uptime\n          heartbeatAge\n          lastError\n        }\n        endpoint\n        endpointProblem\n        environment {\n          name\n          status\n          publicIP\n          region\n        }\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "fragment ServerSummary on MCPServer {\n  id\n  uuid\n  name\n  serverType\n  transport\n  rawStatus\n  status {\n    state\n    health\n    uptime\n    heartbeatAge\n    lastError\n  }\n  endpoint\n  endpointProblem\n  lastHeartbeat\n  environment {\n    id\n    name\n    status\n    publicIP\n    region\n  }\n}\n\nquery FleetServers($first: Int, $after: String, $filter: ServerFilter) {\n  servers(first: $first, after: $after, filter: $filter) {\n    totalCount\n    edges {\n      cursor\n      node {\n        ...ServerSummary\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}\n\nquery ServerDetail($id: ID!) {\n  server(id: $id) {\n    ...ServerSummary\n    capabilities\n    discoveryMetadata\n    createdAt\n    updatedAt\n  }\n}"): (typeof documents)["fragment ServerSummary on MCPServer {\n  id\n  uuid\n  name\n  serverType\n  transport\n  rawStatus\n  status {\n    state\n    health\n    uptime\n    heartbeatAge\n    lastError\n  }\n  endpoint\n  endpointProblem\n  lastHeartbeat\n  environment {\n    id\n    name\n    status\n    publicIP\n    region\n  }\n}\n\nquery FleetServers($first: Int, $after: String, $filter: ServerFilter) {\n  servers(first: $first, after: $after, filter: $filter) {\n    totalCount\n    edges {\n      cursor\n      node {\n        ...ServerSummary\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}\n\nquery ServerDetail($id: ID!) {\n  server(id: $id) {\n    ...ServerSummary\n    capabilities\n    discoveryMetadata\n    createdAt\n    updatedAt\n  }\n}"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;