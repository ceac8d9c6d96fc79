// In-process fan-out of events to subscribers. A subscription starts buffering the moment it is
// created (before its first read), so nothing published in between is lost; a subscriber that
// falls too far behind is ended with an error instead of growing without bound.
export class SubscriberTooSlowError extends Error {
  constructor() {
    super("The subscriber fell too far behind and was disconnected; resubscribe with the last event's `cursor` as `after` to catch up");
  }
}

export class Hub<E> {
  private readonly subscribers = new Set<(event: E) => void>();

  constructor(private readonly maxQueued = 10_000) {}

  get size(): number {
    return this.subscribers.size;
  }

  publish(event: E): void {
    for (const deliver of this.subscribers) deliver(event);
  }

  subscribe(accept: (event: E) => boolean): AsyncIterableIterator<E> {
    const queue: E[] = [];
    let wake: (() => void) | undefined;
    let ended = false;
    let failure: Error | undefined;
    const deliver = (event: E) => {
      if (ended || !accept(event)) return;
      if (queue.length >= this.maxQueued) {
        // What it has not read goes too: it resumes from its last event with `since`.
        failure = new SubscriberTooSlowError();
        queue.length = 0;
        end();
        return;
      }
      queue.push(event);
      wake?.();
    };
    const end = () => {
      ended = true;
      this.subscribers.delete(deliver);
      wake?.();
    };
    this.subscribers.add(deliver);
    const iterator: AsyncIterableIterator<E> = {
      async next() {
        while (queue.length === 0) {
          if (failure) throw failure;
          if (ended) return { done: true, value: undefined };
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
        return { done: false, value: queue.shift() as E };
      },
      async return() {
        end();
        queue.length = 0;
        return { done: true, value: undefined };
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }
}
