// Root query fields.
import { builder } from "./builder.ts";
import { EnvironmentFilterInput, ServerFilterInput, toEnvironmentFilter, toServerFilter } from "./filters.ts";
import { parseId } from "./ids.ts";
import { toConnection, toPageArgs } from "./pagination.ts";
import { EnvironmentRef, ServerRef } from "./refs.ts";
import { columnsFor, selectedFields } from "./selection.ts";
import { ENVIRONMENT_FIELD_COLUMNS } from "./environment.ts";
import { SERVER_FIELD_COLUMNS, SERVER_FIELD_ENVIRONMENT_COLUMNS } from "./server.ts";

builder.queryFields((t) => ({
  servers: t.connection({
    type: ServerRef,
    description: "MCP servers, in name order.",
    args: { filter: t.arg({ type: ServerFilterInput }) },
    resolve: async (_root, args, ctx, info) => {
      const page = toPageArgs(args, ctx.config);
      const filter = toServerFilter(args.filter);
      // Only the columns the selected fields read, of the servers and of their environments.
      const fields = selectedFields(info, ["edges", "node"]);
      const server = columnsFor(SERVER_FIELD_COLUMNS, fields);
      // Environments are read in part only with servers read in part: such servers are reachable
      // through this page alone, so nothing else can reach their partial environments.
      const environment = server && columnsFor(ENVIRONMENT_FIELD_COLUMNS, fields.has("environment") ? selectedFields(info, ["edges", "node", "environment"]) : [], [...fields].flatMap((f) => SERVER_FIELD_ENVIRONMENT_COLUMNS[f] ?? []));
      const result = await ctx.store.listServers(filter, page, ctx.time, { server, environment });
      // Prime the loaders: the page brought its environments, and later lookups cost nothing.
      // Rows read with some columns only stay out of the loaders (a later lookup needs all).
      if (!server) for (const row of result.rows) ctx.loaders.server.prime(row.id, row);
      if (!environment) for (const env of result.environments) ctx.loaders.environment.prime(env.id, env);
      else {
        const byId = new Map(result.environments.map((env) => [env.id, env]));
        for (const row of result.rows) {
          const env = byId.get(row.environmentId);
          if (env) ctx.loaders.pageEnvironments.set(row, env);
        }
      }
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
