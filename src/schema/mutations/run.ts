// A use case's refusal (fleet/errors.ts) as the coded GraphQL error a client sees.
import { OperationError } from "../../fleet/errors.ts";
import { userError } from "../errors.ts";

export async function runOperation<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof OperationError) throw userError(error.code, error.message);
    throw error;
  }
}
