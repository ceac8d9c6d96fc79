// A server's logs: read once (MCPServer.logs) or watched (serverLogs), through its droplet's agent.
import { GraphQLError } from "graphql";
import { type LogBatch, MAX_LOG_TAIL, readLogs } from "../fleet/logs.ts";
import { operationDeps } from "../fleet/operations.ts";
import { builder } from "./builder.ts";
import { type Context, holdSubscription, limitDropletCalls } from "./context.ts";
import { badInput, userError } from "./errors.ts";
import { parseId } from "./ids.ts";
import { runOperation } from "./mutations/run.ts";
import { ServerRef } from "./refs.ts";
import { reads } from "./selection.ts";

const deps = (ctx: Context) => operationDeps(ctx.config, { store: ctx.store, dtma: ctx.dtma, logger: ctx.logger });

const ServerLogsRef = builder.objectRef<{ lines: string[]; fetchedAt: Date }>("ServerLogs").implement({
  description: "Log lines of a server's container, oldest first, each as the agent gave it (Docker's timestamp first).",
  fields: (t) => ({
    lines: t.exposeStringList("lines"),
    fetchedAt: t.field({ type: "DateTime", resolve: (l) => l.fetchedAt }),
  }),
});

const ServerLogLinesRef = builder.objectRef<{ lines: string[]; at: Date }>("ServerLogLines").implement({
  description: "New log lines of a watched server.",
  fields: (t) => ({
    lines: t.exposeStringList("lines"),
    at: t.field({ type: "DateTime", description: "When the agent was read.", resolve: (b) => b.at }),
  }),
});

builder.objectField(ServerRef, "logs", (t) =>
  t.field({
    ...reads([]),
    type: ServerLogsRef,
    description: `The container's last \`tail\` log lines (at most ${MAX_LOG_TAIL}), or those after \`since\`, read from the droplet's agent now (counts against the rate limit of calls to droplets).`,
    args: { tail: t.arg.int({ required: true }), since: t.arg({ type: "DateTime" }) },
    resolve: async (s, args, ctx) => {
      await limitDropletCalls(ctx);
      return runOperation(() => readLogs(deps(ctx), s.id, { tail: args.tail, since: args.since ?? undefined }));
    },
  }),
);

builder.subscriptionField("serverLogs", (t) =>
  t.field({
    type: ServerLogLinesRef,
    description: `A server's log lines as they appear: first its last \`tail\`, then new ones. One poll of the agent per watched server (LOG_POLL_MS), whoever watches.`,
    args: { id: t.arg.id({ required: true }), tail: t.arg.int({ defaultValue: 50 }) },
    subscribe: async (_root, args, ctx) => {
      const id = parseId(String(args.id), "MCPServer");
      const tail = args.tail ?? 50;
      if (tail < 1 || tail > MAX_LOG_TAIL) throw badInput(`\`tail\` must be between 1 and ${MAX_LOG_TAIL}`, "tail");
      // The viewer's store: a server they cannot see is NOT_FOUND.
      const [server] = await ctx.store.serversByIds([id]);
      if (!server) throw userError("NOT_FOUND", `No MCP server with id ${id}`);
      return holdSubscription(ctx, () => {
        const batches = ctx.logWatches.watch(deps(ctx), id, tail);
        // A batch that carries the error ends the subscription with it, coded.
        const iterator: AsyncIterableIterator<LogBatch> = {
          async next() {
            const step = await batches.next();
            if (!step.done && "error" in step.value) {
              await batches.return?.();
              throw new GraphQLError(step.value.error.message, { extensions: { code: step.value.error.code } });
            }
            return step;
          },
          return: () => batches.return?.() ?? Promise.resolve({ done: true, value: undefined }),
          [Symbol.asyncIterator]: () => iterator,
        };
        return iterator;
      });
    },
    resolve: (batch) => batch as { lines: string[]; at: Date },
  }),
);
