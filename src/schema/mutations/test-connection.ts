// testServerConnection: a real MCP handshake with the server's endpoint, stored and published.
import { connectionTestDeps, testConnection } from "../../fleet/test-connection.ts";
import { builder } from "../builder.ts";
import { ConnectionTestRef } from "../connection-test.ts";
import { limitDropletCalls } from "../context.ts";
import { parseId } from "../ids.ts";
import { runOperation } from "./run.ts";

builder.mutationField("testServerConnection", (t) =>
  t.field({
    type: ConnectionTestRef,
    description:
      "Connects to the server with the MCP SDK (Streamable HTTP, then SSE), lists what it declares and pings it. The result is stored and published to connectionTested subscribers.",
    args: {
      id: t.arg.id({ required: true }),
      probe: t.arg.boolean({
        defaultValue: false,
        description: "Probe even when the server is not running (by default such a test answers NOT_RUNNING without probing).",
      }),
    },
    resolve: async (_root, args, ctx) => {
      const id = parseId(String(args.id), "MCPServer");
      await limitDropletCalls(ctx);
      return runOperation(() => testConnection(connectionTestDeps(ctx, args.probe ?? false), id));
    },
  }),
);
