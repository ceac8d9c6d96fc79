// The result of testing an MCP server's connection. Filled by testServerConnection (issue #4).
import { builder } from "./builder.ts";

export interface ConnectionTestResult {
  success: boolean;
  error: string | null;
  latencyMs: number | null;
  capabilities: string[];
  timestamp: Date;
  protocolVersion: string | null;
  serverInfo: { name: string; version: string } | null;
}

const ServerInfoRef = builder.objectRef<{ name: string; version: string }>("MCPServerInfo").implement({
  fields: (t) => ({ name: t.exposeString("name"), version: t.exposeString("version") }),
});

export const ConnectionTestRef = builder.objectRef<ConnectionTestResult>("ConnectionTest").implement({
  description: "The outcome of an MCP handshake with a server.",
  fields: (t) => ({
    success: t.exposeBoolean("success"),
    error: t.exposeString("error", { nullable: true }),
    latency: t.int({ nullable: true, description: "Milliseconds the whole test took.", resolve: (c) => c.latencyMs }),
    capabilities: t.exposeStringList("capabilities", { description: "Capabilities the server declared (tools, prompts, resources, ...)." }),
    timestamp: t.field({ type: "DateTime", resolve: (c) => c.timestamp }),
    protocolVersion: t.exposeString("protocolVersion", { nullable: true }),
    serverInfo: t.field({ type: ServerInfoRef, nullable: true, resolve: (c) => c.serverInfo }),
  }),
});
