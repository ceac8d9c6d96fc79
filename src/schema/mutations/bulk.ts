// Many servers in one mutation: start, stop, restart, refresh or test each, a few at a time
// towards the agents, each within the viewer's rate limit, one result per server.
import { GraphQLError } from "graphql";
import type { ConnectionTestRow, ServerRow } from "../../data/rows.ts";
import { mapLimited } from "../../fleet/concurrency.ts";
import { OperationError } from "../../fleet/errors.ts";
import * as ops from "../../fleet/operations.ts";
import { connectionTestDeps, testConnection } from "../../fleet/test-connection.ts";
import { builder } from "../builder.ts";
import { ConnectionTestRef } from "../connection-test.ts";
import { type Context, limitDropletCalls } from "../context.ts";
import { badInput } from "../errors.ts";
import { parseId } from "../ids.ts";
import { ServerRef } from "../refs.ts";

/** At most this many servers per bulk action. */
const MAX_BULK = 100;

const BulkActionEnum = builder.enumType("BulkServerAction", { values: ["START", "STOP", "RESTART", "REFRESH", "TEST"] as const });

type BulkResult = { serverId: string; server: ServerRow | null; connectionTest: ConnectionTestRow | null; error: { code: string; message: string } | null };

const BulkErrorRef = builder.objectRef<{ code: string; message: string }>("BulkServerError").implement({
  fields: (t) => ({ code: t.exposeString("code"), message: t.exposeString("message") }),
});

const BulkResultRef = builder.objectRef<BulkResult>("BulkServerResult").implement({
  description: "One server's outcome: the server (or the test) on success, its coded error otherwise.",
  fields: (t) => ({
    serverId: t.exposeID("serverId", { description: "The id as given." }),
    ok: t.boolean({ resolve: (r) => r.error === null }),
    server: t.field({ type: ServerRef, nullable: true, resolve: (r) => r.server }),
    connectionTest: t.field({ type: ConnectionTestRef, nullable: true, resolve: (r) => r.connectionTest }),
    error: t.field({ type: BulkErrorRef, nullable: true, resolve: (r) => r.error }),
  }),
});

/** A failure as the code and message a client acts on; anything unexpected is logged and masked. */
function codedError(error: unknown, ctx: Context): { code: string; message: string } {
  if (error instanceof OperationError) return { code: error.code, message: error.message };
  if (error instanceof GraphQLError && typeof error.extensions?.code === "string") return { code: error.extensions.code, message: error.message };
  ctx.logger.error({ err: (error as Error)?.message, stack: (error as Error)?.stack }, "unexpected error in a bulk action");
  return { code: "INTERNAL_SERVER_ERROR", message: "Unexpected error" };
}

builder.mutationField("bulkServerAction", (t) =>
  t.field({
    type: [BulkResultRef],
    description: `Starts, stops, restarts, refreshes or tests up to ${MAX_BULK} servers, a few at a time towards the droplets (BULK_CONCURRENCY), each counted against the viewer's rate limit; one result per server, in the order given.`,
    args: { action: t.arg({ type: BulkActionEnum, required: true }), ids: t.arg.idList({ required: true }), probe: t.arg.boolean({ defaultValue: false }) },
    resolve: async (_root, args, ctx) => {
      if (args.ids.length > MAX_BULK) throw badInput(`At most ${MAX_BULK} servers per bulk action`, "ids");
      const deps = ops.operationDeps(ctx.config, { store: ctx.store, dtma: ctx.dtma, logger: ctx.logger });
      return mapLimited(args.ids.map(String), ctx.config.bulkConcurrency, async (given): Promise<BulkResult> => {
        const result: BulkResult = { serverId: given, server: null, connectionTest: null, error: null };
        try {
          const id = parseId(given, "MCPServer", "ids");
          await limitDropletCalls(ctx);
          if (args.action === "TEST") result.connectionTest = await testConnection(connectionTestDeps(ctx, args.probe ?? false), id);
          else {
            const action = { START: ops.startServer, STOP: ops.stopServer, RESTART: ops.restartServer, REFRESH: ops.refreshServer }[args.action];
            result.server = await action(deps, id);
          }
        } catch (error) {
          result.error = codedError(error, ctx);
        }
        return result;
      });
    },
  }),
);
