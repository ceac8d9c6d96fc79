// A per-viewer budget for queries and mutations, in the cost units the cost limit already uses
// (graphql-armor's: fields, nesting): a token bucket of QUERY_COST_PER_MINUTE per viewer, shared
// through Redis with REDIS_URL. One viewer's burst of heavy queries then waits its turn instead of
// taking the database pool from everyone else. Subscriptions are bounded by their own quota, and
// the service role (the trusted back end) is not counted.
import type { Plugin } from "@envelop/core";
import { costLimitRule } from "@escape.tech/graphql-armor-cost-limit";
import { type DocumentNode, getOperationAST, GraphQLError, type GraphQLSchema, validate } from "graphql";
import type { Limiter } from "../auth/rate-limit.ts";
import type { Context } from "../schema/context.ts";

/** The document's cost, as the cost limit computes it; once per parsed document (yoga caches those). */
export function documentCost(schema: GraphQLSchema, document: DocumentNode): number {
  let cost = 0;
  validate(schema, document, [
    costLimitRule({ maxCost: Number.MAX_SAFE_INTEGER, ignoreIntrospection: true, onAccept: [(_context, details: { n: number }) => (cost += details.n)] }),
  ]);
  return cost;
}

export function useQueryBudget(limiter: Limiter, perMinute: number): Plugin<Context> {
  const costs = new WeakMap<DocumentNode, number>();
  return {
    onExecute({ args, setResultAndStopExecution }) {
      if (perMinute <= 0) return;
      const ctx = args.contextValue as Context;
      if (ctx.viewer.role === "service_role") return;
      const operation = getOperationAST(args.document, args.operationName);
      if (!operation || operation.operation === "subscription") return;
      let cost = costs.get(args.document);
      if (cost === undefined) {
        cost = documentCost(args.schema, args.document);
        costs.set(args.document, cost);
      }
      const refuse = (retryAfterSeconds: number) =>
        setResultAndStopExecution({
          errors: [
            new GraphQLError(`This viewer's query budget (${perMinute} cost per minute) is used up; retry in ${retryAfterSeconds} s`, {
              extensions: {
                code: "RATE_LIMITED",
                limit: "queryCost",
                cost,
                retryAfterSeconds,
                http: { status: 429, headers: { "Retry-After": String(retryAfterSeconds) } },
              },
            }),
          ],
        });
      const verdict = limiter.take(ctx.viewer.userId ?? ctx.viewer.role, cost);
      // The in-process bucket answers at once; only Redis makes the request wait for it.
      if (!(verdict instanceof Promise)) {
        if (!verdict.ok) refuse(verdict.retryAfterSeconds);
        return;
      }
      return verdict.then((v) => {
        if (!v.ok) refuse(v.retryAfterSeconds);
      });
    },
  };
}
