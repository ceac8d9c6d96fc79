// What a use case refuses or fails with, as a code a client can act on (the schema maps it to a
// GraphQL error; fleet/ knows no GraphQL).
export type OperationErrorCode = "NOT_FOUND" | "UPSTREAM_UNAVAILABLE" | "TIMEOUT" | "CONFLICT" | "BAD_USER_INPUT" | "FORBIDDEN";

export class OperationError extends Error {
  constructor(
    readonly code: OperationErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "OperationError";
  }
}
