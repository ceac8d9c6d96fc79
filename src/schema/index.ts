// Importing each file registers its types with the builder.
import { lexicographicSortSchema, printSchema, type GraphQLSchema } from "graphql";
import { builder } from "./builder.ts";
import "./status.ts";
import "./server.ts";
import "./environment.ts";
import "./connection-test.ts";
import "./query.ts";
import "./subscriptions.ts";
import "./mutations/test-connection.ts";
import "./mutations/lifecycle.ts";

let schema: GraphQLSchema | undefined;
export function buildSchema(): GraphQLSchema {
  return (schema ??= builder.toSchema());
}

export function printedSchema(): string {
  return `${printSchema(lexicographicSortSchema(buildSchema()))}\n`;
}
