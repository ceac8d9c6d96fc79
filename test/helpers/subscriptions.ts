// Real subscription clients: graphql-ws over WebSocket, and an SSE reader over fetch.
import { createClient, type Client } from "graphql-ws";
import WebSocket from "ws";

export interface Subscription<T> {
  /** The next event, or a failure after `timeoutMs`. */
  next(timeoutMs?: number): Promise<T>;
  /** Resolves true if no event arrives within `ms`. */
  quiet(ms: number): Promise<boolean>;
  close(): Promise<void>;
}

class Queue<T> {
  private items: T[] = [];
  private waiters: Array<(v: T) => void> = [];
  push(v: T) {
    const w = this.waiters.shift();
    if (w) w(v);
    else this.items.push(v);
  }
  next(timeoutMs: number, what: string): Promise<T> {
    if (this.items.length) return Promise.resolve(this.items.shift() as T);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${what} within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push((v) => {
        clearTimeout(timer);
        resolve(v);
      });
    });
  }
  get size() {
    return this.items.length;
  }
}

export function wsClient(httpUrl: string, connectionParams?: Record<string, unknown>): Client {
  return createClient({ url: httpUrl.replace(/^http/, "ws"), webSocketImpl: WebSocket, connectionParams, retryAttempts: 0, lazy: true });
}

/**
 * Disposes of a client that retries. graphql-ws's dispose() rejects with its own close event
 * {code 1000, "All Subscriptions Gone"} when called while the client waits to reconnect with nothing
 * left subscribed (enisdenjo/graphql-ws#565): that is a clean end, so only that one is let through.
 */
export async function disposeRetryingClient(client: Client): Promise<void> {
  try {
    await client.dispose();
  } catch (error) {
    const { code, reason } = (error ?? {}) as { code?: number; reason?: string };
    if (code !== 1000 || reason !== "All Subscriptions Gone") throw error;
  }
}

export function subscribeWs<T = any>(client: Client, query: string, variables?: Record<string, unknown>): Subscription<T> {
  const queue = new Queue<{ data?: T; errors?: unknown }>();
  const dispose = client.subscribe<T>(
    { query, variables },
    {
      next: (v) => queue.push(v as { data?: T }),
      error: (e) => queue.push({ errors: e }),
      complete: () => undefined,
    },
  );
  return {
    async next(timeoutMs = 5000) {
      const v = await queue.next(timeoutMs, "subscription event");
      if (v.errors) throw new Error(`subscription error: ${JSON.stringify(v.errors)}`);
      return v.data as T;
    },
    async quiet(ms) {
      await new Promise((r) => setTimeout(r, ms));
      return queue.size === 0;
    },
    async close() {
      dispose();
    },
  };
}

/** A subscription over GraphQL over SSE (yoga's default), read from a real HTTP stream. */
export function subscribeSse<T = any>(httpUrl: string, query: string, variables?: Record<string, unknown>): Subscription<T> {
  const queue = new Queue<T>();
  const controller = new AbortController();
  const ready = (async () => {
    const res = await fetch(httpUrl, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify({ query, variables }),
      signal: controller.signal,
    });
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block
          .split("\n")
          .filter((l) => l.startsWith("data:"))
          .map((l) => l.slice(5).trim())
          .join("\n");
        if (data) queue.push(JSON.parse(data).data as T);
      }
    }
  })().catch(() => undefined);
  return {
    next: (timeoutMs = 5000) => queue.next(timeoutMs, "SSE event"),
    async quiet(ms) {
      await new Promise((r) => setTimeout(r, ms));
      return queue.size === 0;
    },
    async close() {
      controller.abort();
      await ready;
    },
  };
}
