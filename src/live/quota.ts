// Open subscriptions per viewer, in this process: one viewer (over any number of sockets and SSE
// streams) cannot hold the server's memory. Each subscription holds a queue and, while it replays,
// a page of rows; a quota bounds what one viewer can make the server keep.
import { isPushable, type Pushable } from "./hub.ts";

export class SubscriptionQuota {
  private readonly open = new Map<string, number>();

  constructor(readonly max: number) {}

  /** How many subscriptions `key` holds now. */
  count(key: string): number {
    return this.open.get(key) ?? 0;
  }

  /**
   * Starts `subscribe()` counted against `key` until the subscription ends (returned, or done);
   * null, without subscribing, when `key` already holds `max`.
   */
  hold<T>(key: string, subscribe: () => AsyncIterableIterator<T>): AsyncIterableIterator<T> | null {
    const held = this.count(key);
    if (held >= this.max) return null;
    this.open.set(key, held + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const left = this.count(key) - 1;
      if (left > 0) this.open.set(key, left);
      else this.open.delete(key);
    };
    let inner: AsyncIterableIterator<T>;
    try {
      inner = subscribe();
    } catch (error) {
      release();
      throw error;
    }
    const iterator: AsyncIterableIterator<T> & Partial<Pushable<T>> = {
      async next() {
        try {
          const step = await inner.next();
          if (step.done) release();
          return step;
        } catch (error) {
          release();
          throw error;
        }
      },
      async return(value?: unknown) {
        release();
        return (await inner.return?.(value)) ?? { done: true, value: undefined };
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    if (isPushable<T>(inner)) {
      const pushable = inner;
      iterator.listen = (onEvent, onEnd) =>
        pushable.listen(onEvent, (error) => {
          release();
          onEnd(error);
        });
    }
    return iterator;
  }
}
