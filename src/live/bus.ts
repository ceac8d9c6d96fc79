// The replica bus: events that originate in one process (health-clock transitions, connection test
// results) carried to the other replicas over Redis pub/sub, enabled by REDIS_URL.
//
// Every replica still derives database changes from its own change feed; the bus only makes
// process-made events arrive everywhere at once and the same, whichever replica made them. It is an
// accelerator, not a source of truth: the receivers check each message against their own rows, and
// when Redis is down every replica goes on serving from its own clock and change feed.
//
// ioredis directly rather than yoga's Redis event target: that target drops the promise of each
// PUBLISH, so a Redis outage would surface as unhandled rejections; here a failed publish is
// counted and logged, and the process keeps serving.
import { randomUUID } from "node:crypto";
import type { ConnectionTestRow } from "../data/rows.ts";
import { outageLog, type Logger } from "../log.ts";

export type BusMessage =
  /** A server's health crossed a threshold at `at`, for the row version `version` (its updated_at, ms). */
  | { type: "health"; serverId: string; version: number; at: string }
  /** A connection test finished and was stored. */
  | { type: "connectionTest"; test: ConnectionTestRow };

export interface ReplicaBus {
  publish(message: BusMessage): void;
  onMessage(handler: (message: BusMessage) => void): void;
  close(): Promise<void>;
}

export interface RedisBusOptions {
  url: string;
  channel: string;
  logger: Logger;
  /** How long to wait for Redis at start before serving without it (it joins when it comes back). */
  connectTimeoutMs: number;
  onOutcome?: (direction: "published" | "received", outcome: "ok" | "failed" | "ignored") => void;
}

interface Envelope {
  origin: string;
  message: BusMessage;
}

export async function openRedisBus(options: RedisBusOptions): Promise<ReplicaBus> {
  const { logger, channel } = options;
  const origin = randomUUID();
  const { Redis } = await import("ioredis"); // only REDIS_URL needs it
  const common = { connectTimeout: options.connectTimeoutMs };
  // Publishing never queues: an event that cannot go now is dropped (the receivers' own clocks
  // and change feeds still deliver it), rather than delivered late and stale.
  const publisher = new Redis(options.url, { ...common, commandTimeout: options.connectTimeoutMs, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
  // Subscribing waits for Redis as long as it takes, and ioredis resubscribes after a reconnect.
  const subscriber = new Redis(options.url, { ...common, maxRetriesPerRequest: null });
  const handlers: Array<(message: BusMessage) => void> = [];
  const outage = outageLog(logger, {
    lost: "replica bus: Redis is unreachable; each replica serves from its own clock and change feed until it returns",
    back: "replica bus: Redis is reachable again",
  });
  const onError = (error: Error) => outage.lost(error);
  publisher.on("error", onError);
  subscriber.on("error", onError);
  subscriber.on("ready", () => outage.back());
  subscriber.on("message", (_channel: string, raw: string) => {
    let envelope: Envelope;
    try {
      envelope = reviveEnvelope(JSON.parse(raw));
    } catch {
      options.onOutcome?.("received", "failed");
      return;
    }
    if (envelope.origin === origin) return; // already applied here
    options.onOutcome?.("received", "ok");
    for (const handler of handlers) handler(envelope.message);
  });

  // The subscription is queued until Redis answers, however long that takes.
  const subscribed = subscriber.subscribe(channel);
  const timeout = new Promise<"timeout">((resolve) => setTimeout(resolve, options.connectTimeoutMs, "timeout").unref());
  const started = await Promise.race([
    subscribed.then(
      () => "ok" as const,
      (error: Error) => error,
    ),
    timeout,
  ]);
  if (started === "ok") logger.info({ channel }, "replica bus: on Redis");
  else onError(started === "timeout" ? new Error(`no answer within ${options.connectTimeoutMs} ms`) : started);
  subscribed.catch(() => undefined);

  return {
    publish(message) {
      publisher.publish(channel, JSON.stringify({ origin, message } satisfies Envelope)).then(
        () => options.onOutcome?.("published", "ok"),
        (error: Error) => {
          options.onOutcome?.("published", "failed");
          logger.debug({ err: error.message }, "replica bus: publish failed");
        },
      );
    },
    onMessage(handler) {
      handlers.push(handler);
    },
    async close() {
      publisher.disconnect();
      subscriber.disconnect();
    },
  };
}

function reviveEnvelope(value: Envelope): Envelope {
  if (typeof value?.origin !== "string" || typeof value.message?.type !== "string") throw new Error("not a bus message");
  const { message } = value;
  if (message.type === "connectionTest") message.test.testedAt = new Date(message.test.testedAt);
  return value;
}
