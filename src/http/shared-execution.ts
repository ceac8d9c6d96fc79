// Subscriptions (WebSocket and SSE), with one execution per event for every subscriber that would get
// the same result: the same document, operation, variables and viewer. A dashboard watched by many
// people, or many tabs, then costs one GraphQL execution per change instead of one per subscriber.
import type { Plugin } from "graphql-yoga";
import { createSourceEventStream, GraphQLError, type DocumentNode, type ExecutionArgs, type ExecutionResult } from "graphql";
import { compileQuery, isCompiledQuery, type CompiledQuery } from "graphql-jit";
import type { Viewer } from "../auth/visibility.ts";
import { atExpiry } from "./expiry.ts";

// Per event (the object every subscriber's source yields, shared by the hub), the results by key.
// Events are dropped once delivered, and their results with them.
const resultsByEvent = new WeakMap<object, Map<string, ExecutionResult | Promise<ExecutionResult>>>();

// Compiled once per parsed document (yoga's parser cache hands out the same document for the
// same text) and operation name.
const compiledByDocument = new WeakMap<DocumentNode, Map<string, CompiledQuery | ExecutionResult>>();

function compiled(args: ExecutionArgs): CompiledQuery | ExecutionResult {
  let byOperation = compiledByDocument.get(args.document);
  if (!byOperation) compiledByDocument.set(args.document, (byOperation = new Map()));
  const name = args.operationName ?? "";
  let query = byOperation.get(name);
  if (!query) byOperation.set(name, (query = compileQuery(args.schema, args.document, args.operationName ?? undefined)));
  return query;
}

// Parsed documents are cached and reused by yoga, so a document's identity stands for its text.
const documentIds = new WeakMap<DocumentNode, number>();
let nextDocumentId = 0;

/** What a subscription's results depend on besides the event: document, operation, variables, viewer. */
function shareKey(args: ExecutionArgs): string {
  let id = documentIds.get(args.document);
  if (id === undefined) documentIds.set(args.document, (id = nextDocumentId++));
  const viewer = (args.contextValue as { viewer?: Viewer } | undefined)?.viewer;
  return JSON.stringify([id, args.operationName ?? null, args.variableValues ?? null, viewer?.role ?? null, viewer?.userId ?? null]);
}

/**
 * The subscription's source stream (the root field's `subscribe`, with its filter and visibility
 * check per subscriber), each event executed once for all subscribers with the same document,
 * operation name, variables and viewer (the context's), with the context of the first subscriber
 * to reach it. Errors, whether they end the subscription before it starts or come with an event,
 * go through `maskErrors` as a response's would.
 */
export async function subscribeShared(
  args: ExecutionArgs,
  maskErrors: (result: ExecutionResult) => ExecutionResult,
): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> {
  const query = compiled(args);
  if (!isCompiledQuery(query)) return maskErrors(query);
  const source = await createSourceEventStream(args);
  if (!(Symbol.asyncIterator in source)) return maskErrors(source);
  return new SharedSubscription(args, query, (source as AsyncIterable<unknown>)[Symbol.asyncIterator](), maskErrors);
}

/**
 * One subscriber's results. A class, not closures: thousands of idle subscribers each hold one.
 * Not an async generator: return() must end the source at once, not after a pending next().
 */
class SharedSubscription implements AsyncIterableIterator<ExecutionResult> {
  private readonly key: string;
  private finished = false;
  private cancelExpiry: (() => void) | undefined;
  /** Resolves when the viewer's token expires (SSE; over WebSocket the socket expires instead, and the context carries none). */
  private readonly expired: Promise<"expired"> | undefined;

  constructor(
    private readonly args: ExecutionArgs,
    private readonly query: CompiledQuery,
    private readonly events: AsyncIterator<unknown>,
    private readonly maskErrors: (result: ExecutionResult) => ExecutionResult,
  ) {
    this.key = shareKey(args);
    const expiresAt = (args.contextValue as { expiresAt?: Date | null } | undefined)?.expiresAt;
    if (expiresAt) this.expired = new Promise((resolve) => (this.cancelExpiry = atExpiry(expiresAt, () => resolve("expired"))));
  }

  async next(): Promise<IteratorResult<ExecutionResult>> {
    if (this.finished) return { done: true, value: undefined };
    try {
      const step = await (this.expired ? Promise.race([this.events.next(), this.expired]) : this.events.next());
      if (step === "expired")
        return this.finish(new GraphQLError("Token expired: subscribe again with a fresh token", { extensions: { code: "UNAUTHENTICATED" } }));
      if (step.done) this.cancelExpiry?.();
      return step.done ? { done: true, value: undefined } : { done: false, value: await this.resultOf(step.value) };
    } catch (error) {
      // A failure while streaming (the database during a replay, a subscriber left too far
      // behind) ends this subscription with a coded error, never the connection.
      return this.finish(error);
    }
  }

  async return(): Promise<IteratorResult<ExecutionResult>> {
    this.finished = true;
    this.cancelExpiry?.();
    await this.events.return?.();
    return { done: true, value: undefined };
  }

  async throw(error?: unknown): Promise<IteratorResult<ExecutionResult>> {
    this.cancelExpiry?.();
    await this.events.return?.();
    throw error;
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  /** The event's result for this subscriber's key: executed by the first subscriber to reach it. */
  private resultOf(event: unknown): ExecutionResult | Promise<ExecutionResult> {
    if (typeof event !== "object" || event === null) return this.execute(event);
    let results = resultsByEvent.get(event);
    if (!results) resultsByEvent.set(event, (results = new Map()));
    let result = results.get(this.key);
    if (!result) results.set(this.key, (result = this.execute(event)));
    return result;
  }

  private async execute(event: unknown): Promise<ExecutionResult> {
    const result = await this.query.query(event, this.args.contextValue, this.args.variableValues);
    return result.errors?.length ? this.maskErrors(result) : result;
  }

  /** The last result of a subscription that ends with an error: masked, then done. */
  private async finish(error: unknown): Promise<IteratorResult<ExecutionResult>> {
    this.finished = true;
    this.cancelExpiry?.();
    await this.events.return?.();
    const graphqlError =
      error instanceof GraphQLError ? error : new GraphQLError(error instanceof Error ? error.message : String(error), { originalError: error as Error });
    return { done: false, value: this.maskErrors({ errors: [graphqlError] }) };
  }
}

/**
 * The same sharing for subscriptions that go through yoga's envelope (SSE): this plugin replaces
 * the subscribe function, and yoga's own plugins (error masking) still see every result.
 */
export function useSharedSubscriptions(): Plugin {
  return {
    onSubscribe({ setSubscribeFn }) {
      setSubscribeFn((args) => subscribeShared(args, (result) => result));
    },
  };
}
