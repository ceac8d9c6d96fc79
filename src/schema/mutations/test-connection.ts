// testServerConnection: a real MCP handshake with the server's endpoint, stored and published.
import { buildEndpoint, outboundRefusal } from "../../domain/endpoint.ts";
import { failedProbe, probeMcpServer } from "../../mcp/probe.ts";
import { builder } from "../builder.ts";
import { ConnectionTestRef } from "../connection-test.ts";
import { userError } from "../errors.ts";
import { parseId } from "../ids.ts";

builder.mutationField("testServerConnection", (t) =>
  t.field({
    type: ConnectionTestRef,
    description: "Connects to the server with the MCP SDK (Streamable HTTP, then SSE), lists what it declares and pings it. The result is stored and published to connectionTested subscribers.",
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, ctx) => {
      const id = parseId(String(args.id), "MCPServer");
      await ctx.limitDropletCalls();
      const server = await ctx.loaders.server.load(id);
      if (!server) throw userError("NOT_FOUND", `No MCP server with id ${args.id}`);
      const environment = await ctx.loaders.environment.load(server.environmentId);
      const endpoint = buildEndpoint(
        { publicIp: environment?.publicIp ?? null, transport: server.transport, endpointPath: server.endpointPath, portMapping: server.portMapping, baseConfigOverride: server.baseConfigOverride },
        ctx.config.dtmaPort,
      );
      const refusal = environment?.publicIp ? outboundRefusal(environment.publicIp, ctx.config.allowPrivateTargets) : null;
      if (refusal) throw userError("FORBIDDEN", refusal);
      const result = endpoint.url ? await probeMcpServer(endpoint.url, { timeoutMs: ctx.config.mcpProbeTimeoutMs }) : failedProbe("NO_ENDPOINT", endpoint.reason ?? "No endpoint can be built");
      ctx.metrics.mcpProbe.observe({ outcome: result.success ? "ok" : (result.errorKind ?? "error") }, result.latencyMs / 1000);
      ctx.logger.info({ call: "mcp.probe", server: id, target: endpoint.url, ms: result.latencyMs, outcome: result.success ? "ok" : result.errorKind }, "MCP connection test");
      const stored = await ctx.store.insertConnectionTest({
        serverId: id, success: result.success, errorKind: result.errorKind, error: result.error, httpStatus: result.httpStatus, latencyMs: result.latencyMs,
        phases: result.phases, transport: result.transport, endpoint: endpoint.url, protocolVersion: result.protocolVersion, serverInfo: result.serverInfo,
        capabilities: result.capabilities, tools: result.tools, testedAt: result.timestamp,
      });
      ctx.live?.announceConnectionTest(stored);
      return stored;
    },
  }),
);
