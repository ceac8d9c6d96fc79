// Root query fields.
import { builder } from "./builder.ts";
import { EnvironmentFilterInput, ServerFilterInput, toEnvironmentFilter, toServerFilter } from "./filters.ts";
import { parseId } from "./ids.ts";
import { toConnection, toPageArgs } from "./pagination.ts";
import { EnvironmentRef, ServerRef } from "./refs.ts";
import { selectedFields } from "./selection.ts";
import { serverColumnsFor } from "./server.ts";

builder.queryFields((t) => ({
  servers: t.connection({
    type: ServerRef,
    description: "MCP servers, in name order.",
    args: { filter: t.arg({ type: ServerFilterInput }) },
    resolve: async (_root, args, ctx, info) => {
      const page = toPageArgs(args, ctx.config);
      const filter = toServerFilter(args.filter);
      // Only the columns the selected fields read.
      const columns = serverColumnsFor(selectedFields(info, ["edges", "node"]));
      const result = await ctx.store.listServers(filter, page, ctx.time, columns);
      // Prime the loaders: the page brought its environments, and later lookups cost nothing.
      // Rows read with some columns only stay out of the server loader (a later lookup needs all).
      if (!columns) for (const row of result.rows) ctx.loaders.server.prime(row.id, row);
      for (const env of result.environments) ctx.loaders.environment.prime(env.id, env);
      return toConnection(result, () => ctx.store.countServers(filter, ctx.time));
    },
  }),
  server: t.field({
    type: ServerRef,
    nullable: true,
    description: "One MCP server by id (global id or database UUID); null if there is none.",
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => ctx.loaders.server.load(parseId(String(args.id), "MCPServer")),
  }),
  environments: t.connection({
    type: EnvironmentRef,
    description: "Droplets, in name order.",
    args: { filter: t.arg({ type: EnvironmentFilterInput }) },
    resolve: async (_root, args, ctx) => {
      const page = toPageArgs(args, ctx.config);
      const filter = toEnvironmentFilter(args.filter);
      const result = await ctx.store.listEnvironments(filter, page);
      for (const row of result.rows) ctx.loaders.environment.prime(row.id, row);
      return toConnection(result, () => ctx.store.countEnvironments(filter));
    },
  }),
  environment: t.field({
    type: EnvironmentRef,
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => ctx.loaders.environment.load(parseId(String(args.id), "Environment")),
  }),
}));
