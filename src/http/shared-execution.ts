// Subscriptions (WebSocket and SSE), with one execution per event for every subscriber that would get
// the same result: the same document, operation, variables and viewer. A dashboard watched by many
// people, or many tabs, then costs one GraphQL execution per change instead of one per subscriber.
import type { Plugin } from "graphql-yoga";
import { createSourceEventStream, GraphQLError, type DocumentNode, type ExecutionArgs, type ExecutionResult } from "graphql";
import { compileQuery, isCompiledQuery, type CompiledQuery } from "graphql-jit";
import type { Viewer } from "../auth/visibility.ts";
import { isPushable, type Pushable, SubscriberTooSlowError } from "../live/hub.ts";
import { atExpiry } from "./expiry.ts";

/**
 * Where a WebSocket subscription's results go when its source can push (see Pushable): straight
 * to the socket, as a `next` message around the shared result's JSON.
 */
export interface DirectSink {
  /** Sends a `next` message with this payload (JSON); false when the client is too far behind to take it. */
  next(payloadJson: string): boolean;
}

/** One event's result for one share key: executed once, serialised at most once. */
class SharedResult {
  result: ExecutionResult | undefined;
  /** Until the execution settles: what pulling subscribers await. */
  pending: Promise<ExecutionResult> | undefined;
  /** Pushing subscribers waiting for it to settle, in the order they received the event. */
  waiters: SharedSubscription[] | undefined;
  private json: string | undefined;

  get payload(): string {
    this.json ??= JSON.stringify(this.result);
    return this.json;
  }

  settle(result: ExecutionResult): ExecutionResult {
    this.result = result;
    this.pending = undefined;
    const waiters = this.waiters;
    this.waiters = undefined;
    if (waiters) for (const waiter of waiters) waiter.flushBacklog();
    return result;
  }
}

// Per event (the object every subscriber's source yields, shared by the hub), the results by key.
// Events are dropped once delivered, and their results with them.
const resultsByEvent = new WeakMap<object, Map<string, SharedResult>>();

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
  sink?: DirectSink,
): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> {
  const query = compiled(args);
  if (!isCompiledQuery(query)) return maskErrors(query);
  const source = await createSourceEventStream(args);
  if (!(Symbol.asyncIterator in source)) return maskErrors(source);
  return new SharedSubscription(args, query, (source as AsyncIterable<unknown>)[Symbol.asyncIterator](), maskErrors, sink);
}

/**
 * One subscriber's results. A class, not closures: thousands of idle subscribers each hold one.
 * Not an async generator: return() must end the source at once, not after a pending next().
 *
 * Pulled (SSE, and sources that cannot push): each next() awaits the source's next event and its
 * shared result. Pushed (WebSocket, with a DirectSink, from a Pushable source): the first next()
 * starts listening and settles only when the subscription ends; meanwhile each event's shared
 * result goes to the sink as soon as it is known, in the order of the events, synchronously within
 * the hub's publish when the execution is (as it is for events that carry their rows).
 */
class SharedSubscription implements AsyncIterableIterator<ExecutionResult> {
  private readonly key: string;
  private finished = false;
  private cancelExpiry: (() => void) | undefined;
  /** Resolves when the viewer's token expires (SSE; over WebSocket the socket expires instead, and the context carries none). */
  private readonly expired: Promise<"expired"> | undefined;
  /** Pushed: results received and not yet sent, because the first of them is still executing. */
  private backlog: SharedResult[] | undefined;
  /** Pushed: settles the pending next() when the subscription ends. */
  private settleEnd: ((step: IteratorResult<ExecutionResult>) => void) | undefined;
  /** Pushed: the source ended (with its error, if any) while the backlog was not yet sent. */
  private endAfterBacklog: { error?: unknown } | undefined;

  constructor(
    private readonly args: ExecutionArgs,
    private readonly query: CompiledQuery,
    private readonly events: AsyncIterator<unknown>,
    private readonly maskErrors: (result: ExecutionResult) => ExecutionResult,
    private readonly sink?: DirectSink,
  ) {
    this.key = shareKey(args);
    const expiresAt = (args.contextValue as { expiresAt?: Date | null } | undefined)?.expiresAt;
    if (expiresAt) this.expired = new Promise((resolve) => (this.cancelExpiry = atExpiry(expiresAt, () => resolve("expired"))));
  }

  async next(): Promise<IteratorResult<ExecutionResult>> {
    if (this.finished) return { done: true, value: undefined };
    if (this.sink && !this.expired && isPushable(this.events)) return this.pushUntilEnd(this.events);
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
    this.end();
    await this.events.return?.();
    return { done: true, value: undefined };
  }

  async throw(error?: unknown): Promise<IteratorResult<ExecutionResult>> {
    this.cancelExpiry?.();
    this.end();
    await this.events.return?.();
    throw error;
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  /** Pushed: listens to the source until it ends; the promise settles then (graphql-ws then completes the operation). */
  private pushUntilEnd(events: Pushable<unknown>) {
    const ended = new Promise<IteratorResult<ExecutionResult>>((resolve) => (this.settleEnd = resolve));
    // Only one pushing next() at a time: the next call after the end is answered above (finished).
    this.finished = true;
    events.listen(
      (event) => this.push(event),
      (error) => this.sourceEnded(error),
    );
    return ended;
  }

  private push(event: unknown): void {
    if (!this.settleEnd) return;
    let shared: SharedResult;
    try {
      shared = this.sharedResultOf(event);
    } catch (error) {
      this.end(error);
      return;
    }
    if (!this.backlog && shared.result) this.send(shared);
    else {
      (this.backlog ??= []).push(shared);
      if (!shared.result) (shared.waiters ??= []).push(this);
    }
  }

  /** Sends the backlog's leading results that have settled (called when one does). */
  flushBacklog(): void {
    const backlog = this.backlog;
    if (!backlog) return;
    while (backlog.length && backlog[0].result && this.settleEnd) this.send(backlog.shift() as SharedResult);
    if (backlog.length) return;
    this.backlog = undefined;
    if (this.endAfterBacklog) this.end(this.endAfterBacklog.error);
  }

  private send(shared: SharedResult): void {
    // A client that does not read its socket ends here, as a slow pulling subscriber does in the hub.
    if (!this.sink?.next(shared.payload)) this.end(new SubscriberTooSlowError());
  }

  private sourceEnded(error?: Error): void {
    if (this.backlog) this.endAfterBacklog = { error };
    else this.end(error);
  }

  /** Pushed: ends the subscription, with an error result first when it failed. */
  private end(error?: unknown): void {
    const settle = this.settleEnd;
    if (!settle) return;
    this.settleEnd = undefined;
    this.backlog = undefined;
    void this.events.return?.();
    settle(error === undefined ? { done: true, value: undefined } : { done: false, value: this.errorResult(error) });
  }

  /** The event's result for this subscriber's key: executed by the first subscriber to reach it. */
  private resultOf(event: unknown): ExecutionResult | Promise<ExecutionResult> {
    const shared = this.sharedResultOf(event);
    return shared.result ?? (shared.pending as Promise<ExecutionResult>);
  }

  private sharedResultOf(event: unknown): SharedResult {
    if (typeof event !== "object" || event === null) return this.execute(event);
    let results = resultsByEvent.get(event);
    if (!results) resultsByEvent.set(event, (results = new Map()));
    let shared = results.get(this.key);
    if (!shared) results.set(this.key, (shared = this.execute(event)));
    return shared;
  }

  /** Executes the event: settled at once when the execution is synchronous. */
  private execute(event: unknown): SharedResult {
    const shared = new SharedResult();
    let result: ExecutionResult | Promise<ExecutionResult>;
    try {
      result = this.query.query(event, this.args.contextValue, this.args.variableValues);
    } catch (error) {
      result = { errors: [toGraphQLError(error)] };
    }
    if (result instanceof Promise) {
      shared.pending = result.then(
        (settled) => shared.settle(this.masked(settled)),
        (error) => shared.settle(this.errorResult(error)),
      );
    } else shared.settle(this.masked(result));
    return shared;
  }

  private masked(result: ExecutionResult): ExecutionResult {
    return result.errors?.length ? this.maskErrors(result) : result;
  }

  private errorResult(error: unknown): ExecutionResult {
    return this.maskErrors({ errors: [toGraphQLError(error)] });
  }

  /** The last result of a subscription that ends with an error: masked, then done. */
  private async finish(error: unknown): Promise<IteratorResult<ExecutionResult>> {
    this.finished = true;
    this.cancelExpiry?.();
    await this.events.return?.();
    return { done: false, value: this.errorResult(error) };
  }
}

function toGraphQLError(error: unknown): GraphQLError {
  return error instanceof GraphQLError ? error : new GraphQLError(error instanceof Error ? error.message : String(error), { originalError: error as Error });
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
