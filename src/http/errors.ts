// One masking rule for every transport (HTTP, SSE, WebSocket): what a client sees of an error.
import { randomUUID } from "node:crypto";
import { GraphQLError } from "graphql";
import { DatabaseUnavailableError, InvalidInputError } from "../data/db.ts";
import { SubscriberTooSlowError } from "../live/hub.ts";
import type { Logger } from "../log.ts";

// By name, not instanceof: a bundler or test runner may load two copies of `graphql`.
function isGraphQLError(e: unknown): e is GraphQLError {
  return e instanceof Error && e.name === "GraphQLError";
}

function causeChain(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e = error; e && chain.length < 5; e = (e as { originalError?: unknown; cause?: unknown }).originalError ?? (e as { cause?: unknown }).cause)
    chain.push(e);
  return chain;
}

/**
 * Coded errors as they are; GraphQL's own request errors as BAD_USER_INPUT; a database outage as
 * UPSTREAM_UNAVAILABLE; anything else as an opaque INTERNAL_SERVER_ERROR with an id that finds the
 * logged details.
 */
export function maskError(error: unknown, logger: Logger): Error {
  const chain = causeChain(error);
  const coded = chain.find((e): e is GraphQLError => isGraphQLError(e) && typeof e.extensions?.code === "string");
  if (coded) return error as Error;
  // GraphQL's own errors about the request (a variable of the wrong type, an unknown enum
  // value) carry no code and wrap no program error: the client can fix them.
  if (isGraphQLError(error) && chain.every(isGraphQLError)) {
    return new GraphQLError(error.message, { nodes: error.nodes, path: error.path, extensions: { ...error.extensions, code: "BAD_USER_INPUT" } });
  }
  if (chain.some((e) => e instanceof SubscriberTooSlowError)) {
    return new GraphQLError((chain.find((e) => e instanceof SubscriberTooSlowError) as Error).message, { extensions: { code: "SUBSCRIBER_TOO_SLOW" } });
  }
  const invalid = chain.find((e) => e instanceof InvalidInputError) as Error | undefined;
  if (invalid) return new GraphQLError(invalid.message, { extensions: { code: "BAD_USER_INPUT" } });
  if (chain.some((e) => e instanceof DatabaseUnavailableError)) {
    return new GraphQLError("The database is unavailable; try again shortly", { extensions: { code: "UPSTREAM_UNAVAILABLE" } });
  }
  const errorId = randomUUID();
  const original = chain.at(-1) as Error | undefined;
  logger.error({ errorId, err: original?.message, stack: original?.stack }, "unexpected error in a GraphQL request");
  return new GraphQLError("Unexpected error", { extensions: { code: "INTERNAL_SERVER_ERROR", errorId } });
}
