// Errors a client can act on carry a code in `extensions.code`; anything else is masked by yoga.
import { GraphQLError } from "graphql";

export type ErrorCode = "BAD_USER_INPUT" | "NOT_FOUND" | "UNAUTHENTICATED" | "FORBIDDEN" | "UPSTREAM_UNAVAILABLE" | "TIMEOUT" | "CONFLICT";

export function userError(code: ErrorCode, message: string, extra: Record<string, unknown> = {}): GraphQLError {
  return new GraphQLError(message, { extensions: { code, ...extra } });
}

export const badInput = (message: string, field?: string) => userError("BAD_USER_INPUT", message, field ? { field } : {});
