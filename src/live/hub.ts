// In-process fan-out of events to subscribers. A subscription starts buffering the moment it is
// created (before its first read), so nothing published in between is lost; a subscriber that
// falls too far behind is ended with an error instead of growing without bound.
export class SubscriberTooSlowError extends Error {
  constructor() {
    super("The subscriber fell too far behind and was disconnected; resubscribe with the last event's `cursor` as `after` to catch up");
  }
}

/**
 * A subscription that can also push its events, as they are published, instead of being pulled
 * one `next()` at a time: a WebSocket delivers to thousands of subscribers in one synchronous
 * loop this way, with no promise per subscriber per event.
 */
export interface Pushable<E> {
  /**
   * From now on, calls `onEvent` with each event (first those already queued) and `onEnd` once
   * when the subscription ends by itself (with the error that ended it, if any).
   */
  listen(onEvent: (event: E) => void, onEnd: (error?: Error) => void): void;
}

export function isPushable<E>(source: unknown): source is Pushable<E> {
  return typeof (source as Partial<Pushable<E>> | null)?.listen === "function";
}

export class Hub<E> {
  private readonly subscribers = new Set<HubSubscription<E>>();

  constructor(private readonly maxQueued = 10_000) {}

  get size(): number {
    return this.subscribers.size;
  }

  publish(event: E): void {
    for (const subscription of this.subscribers) subscription.deliver(event);
  }

  subscribe(accept: (event: E) => boolean): AsyncIterableIterator<E> & Pushable<E> {
    const subscription = new HubSubscription(this.subscribers, accept, this.maxQueued);
    this.subscribers.add(subscription);
    return subscription;
  }
}

/** One subscriber's queue. A class, not closures: thousands of idle subscribers each hold one. */
class HubSubscription<E> implements AsyncIterableIterator<E>, Pushable<E> {
  private readonly queue: E[] = [];
  private wake: (() => void) | undefined;
  private ended = false;
  private failure: Error | undefined;
  /** Set by listen(): events go straight to it (the listener bounds its own backlog). */
  private onEvent: ((event: E) => void) | undefined;
  private onEnd: ((error?: Error) => void) | undefined;

  constructor(
    private readonly subscribers: Set<HubSubscription<E>>,
    private readonly accept: (event: E) => boolean,
    private readonly maxQueued: number,
  ) {}

  deliver(event: E): void {
    if (this.ended || !this.accept(event)) return;
    if (this.onEvent) {
      this.onEvent(event);
      return;
    }
    if (this.queue.length >= this.maxQueued) {
      // What it has not read goes too: it resumes from its last event's cursor.
      this.failure = new SubscriberTooSlowError();
      this.queue.length = 0;
      this.end();
      return;
    }
    this.queue.push(event);
    this.wake?.();
  }

  async next(): Promise<IteratorResult<E>> {
    while (this.queue.length === 0) {
      if (this.failure) throw this.failure;
      if (this.ended) return { done: true, value: undefined };
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
    return { done: false, value: this.queue.shift() as E };
  }

  listen(onEvent: (event: E) => void, onEnd: (error?: Error) => void): void {
    for (const event of this.queue.splice(0)) onEvent(event);
    if (this.ended) {
      onEnd(this.failure);
      return;
    }
    this.onEvent = onEvent;
    this.onEnd = onEnd;
  }

  async return(): Promise<IteratorResult<E>> {
    this.onEnd = undefined; // ended by its reader, who needs no telling
    this.end();
    this.queue.length = 0;
    return { done: true, value: undefined };
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  private end() {
    this.ended = true;
    this.subscribers.delete(this);
    this.wake?.();
    this.onEnd?.(this.failure);
    this.onEvent = this.onEnd = undefined;
  }
}
