// Importing each file registers its types with the builder.
import { isObjectType, lexicographicSortSchema, printSchema, type GraphQLSchema } from "graphql";
import { builder } from "./builder.ts";
import type { Context } from "./context.ts";
import { nodeIdEncoder } from "./ids.ts";
import "./enums.ts";
import "./mcp-server.ts";
import "./environment.ts";
import "./connection-test.ts";
import "./catalog.ts";
import "./logs.ts";
import "./summary.ts";
import "./history.ts";
import "./risk.ts";
import "./active-health.ts";
import "./subscriptions.ts";
import "./mutations/test-connection.ts";
import "./mutations/lifecycle.ts";
import "./mutations/bulk.ts";

let schema: GraphQLSchema | undefined;
export function buildSchema(): GraphQLSchema {
  return (schema ??= timeRootFields(synchronousNodeIds(builder.toSchema())));
}

// The relay plugin resolves every Node's `id` through an async function: a promise per id, two
// hundred per page of servers, which showed in profiles. Every node's id is its row's `id`
// (environment.ts, mcp-server.ts), so it is encoded synchronously instead (same value), and each
// type remembers the ids it has encoded.
function synchronousNodeIds(built: GraphQLSchema): GraphQLSchema {
  for (const type of Object.values(built.getTypeMap())) {
    if (!isObjectType(type) || !type.getInterfaces().some((i) => i.name === "Node")) continue;
    const encode = nodeIdEncoder(type.name);
    type.getFields().id.resolve = (parent: { id: string }) => encode(String(parent.id));
  }
  return built;
}

// Resolver timings for root fields only: one wrapped call per operation, where envelop's resolver
// metric wraps every field of every response (see BENCHMARKS.md for what /metrics costs).
function timeRootFields(built: GraphQLSchema): GraphQLSchema {
  for (const type of [built.getQueryType(), built.getMutationType()]) {
    for (const field of Object.values(type?.getFields() ?? {})) {
      const resolve = field.resolve;
      if (!resolve) continue;
      const label = `${type!.name}.${field.name}`;
      field.resolve = (parent, args, ctx: Context, info) => {
        const started = performance.now();
        const done = (outcome: string) => ctx.metrics?.rootResolver.observe({ field: label, outcome }, (performance.now() - started) / 1000);
        try {
          const result = resolve(parent, args, ctx, info);
          if (result instanceof Promise) {
            return result.then(
              (v) => {
                done("ok");
                return v;
              },
              (e) => {
                done("error");
                throw e;
              },
            );
          }
          done("ok");
          return result;
        } catch (error) {
          done("error");
          throw error;
        }
      };
    }
  }
  return built;
}

export function printedSchema(): string {
  return `${printSchema(lexicographicSortSchema(buildSchema()))}\n`;
}
