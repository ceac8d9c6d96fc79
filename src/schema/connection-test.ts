// ConnectionTest: the stored result of an MCP handshake with a server (mcp_connection_tests).
import type { ConnectionTestRow } from "../data/rows.ts";
import { MODERN_VERSION } from "../mcp/modern.ts";
import type { PROBE_ERROR_KINDS } from "../mcp/probe.ts";
import { builder } from "./builder.ts";
import { nodeIdEncoder } from "./ids.ts";

const encodeTestId = nodeIdEncoder("ConnectionTest");

/** About how many bytes a test adds to a response: what its MCP server chose to answer, plus the fixed fields. */
export function responseSize(test: ConnectionTestRow | null): number {
  if (!test) return 0;
  let size = 400 + (test.error?.length ?? 0) + (test.endpoint?.length ?? 0);
  for (const name of test.tools) size += name.length + 3;
  for (const c of test.capabilities) size += c.length + 3;
  for (const p of test.phases) size += 60 + (p.detail?.length ?? 0);
  return size;
}

const ServerInfoRef = builder.objectRef<{ name: string; version: string }>("MCPServerInfo").implement({
  fields: (t) => ({ name: t.exposeString("name"), version: t.exposeString("version") }),
});

const PhaseRef = builder.objectRef<ConnectionTestRow["phases"][number]>("ConnectionTestPhase").implement({
  description: "One step of the test: health, initialize, tools/list, resources/list, prompts/list, ping.",
  fields: (t) => ({
    name: t.exposeString("name"),
    durationMs: t.int({ resolve: (p) => p.ms }),
    ok: t.exposeBoolean("ok"),
    detail: t.string({ nullable: true, resolve: (p) => p.detail ?? null }),
  }),
});

export const ConnectionErrorKindEnum = builder.enumType("ConnectionErrorKind", {
  values: {
    REFUSED: { description: "Nothing answered at the address (refused, reset, unreachable): is the container running and its port published?" },
    DNS: { description: "The endpoint's host name does not resolve." },
    TIMEOUT: { description: "The server did not answer within the probe's budget (a slow cold start? raise probeBudgetMs)." },
    TLS: { description: "The TLS handshake failed." },
    AUTH_REQUIRED: { description: "The server wants credentials: HTTP 401, or 403 with a WWW-Authenticate challenge." },
    SERVER_ERROR: { description: "The server failed (HTTP 5xx): see its logs." },
    HTTP_STATUS: { description: "The server answered with another HTTP error status (see httpStatus)." },
    WRONG_TRANSPORT: {
      description:
        "No MCP transport this API speaks is served there (HTTP 404 or 405 over Streamable HTTP and SSE), or the server's transport is not a network one (WebSocket, stdio): check the endpoint path and transport.",
    },
    PROTOCOL: { description: "Something answered, but not a working MCP server." },
    UNSUPPORTED_VERSION: { description: "A modern MCP server that supports none of the protocol versions this API speaks (its list is in `error`)." },
    PLACEHOLDER: {
      description:
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a placeholder as users write it
        "The endpoint, or an environment variable of a server that failed, still holds a placeholder such as ${API_KEY} or {{TOKEN}}: set the real value.",
    },
    NO_ENDPOINT: { description: "No endpoint could be built for the server (see MCPServer.endpointProblem)." },
    NOT_RUNNING: { description: "The server is not running; nothing was probed (testServerConnection with probe: true tries anyway)." },
  } satisfies Record<(typeof PROBE_ERROR_KINDS)[number], { description: string }>,
});

const TransportUsedEnum = builder.enumType("ConnectionTransport", { values: ["STREAMABLE_HTTP", "SSE"] as const });

const ProtocolEraEnum = builder.enumType("ProtocolEra", {
  description: "Which era of MCP the server spoke (see README, Testing a server's connection).",
  values: {
    MODERN: { description: "Revision 2026-07-28 or later: stateless, `server/discover`, version and identity on every request." },
    LEGACY: { description: "Revision 2025-11-25 or earlier: an `initialize` handshake and a session." },
  } as const,
});

export const ConnectionTestRef = builder.objectRef<ConnectionTestRow>("ConnectionTest").implement({
  description: "The outcome of an MCP handshake with a server.",
  fields: (t) => ({
    id: t.id({ description: "Stable and unique: a client cache can normalise a test by it.", resolve: (c) => encodeTestId(c.id) }),
    success: t.exposeBoolean("success"),
    error: t.exposeString("error", { nullable: true }),
    errorKind: t.field({ type: ConnectionErrorKindEnum, nullable: true, resolve: (c) => c.errorKind as "TIMEOUT" | null }),
    httpStatus: t.int({ nullable: true, resolve: (c) => c.httpStatus }),
    latency: t.int({ description: "Milliseconds the whole test took.", resolve: (c) => c.latencyMs }),
    phases: t.field({ type: [PhaseRef], resolve: (c) => c.phases }),
    transport: t.field({ type: TransportUsedEnum, nullable: true, description: "The MCP transport that worked.", resolve: (c) => c.transport as "SSE" | null }),
    endpoint: t.string({ nullable: true, description: "The URL that was tested.", resolve: (c) => c.endpoint }),
    capabilities: t.exposeStringList("capabilities", { description: "Capabilities the server declared (tools, prompts, resources, ...)." }),
    tools: t.exposeStringList("tools", { description: "The names of the server's tools." }),
    timestamp: t.field({ type: "DateTime", resolve: (c) => c.testedAt }),
    protocolVersion: t.exposeString("protocolVersion", { nullable: true }),
    era: t.field({
      type: ProtocolEraEnum,
      nullable: true,
      description: "Follows from the protocol version that answered (revisions are dates); null when none did.",
      resolve: (c) => (c.protocolVersion ? (c.protocolVersion >= MODERN_VERSION ? "MODERN" : "LEGACY") : null),
    }),
    serverInfo: t.field({ type: ServerInfoRef, nullable: true, resolve: (c) => c.serverInfo }),
  }),
});
