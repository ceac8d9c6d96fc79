// Live subscriptions (graphql-ws over WebSocket, and SSE): status changes, server changes,
// environment changes; optionally resumed from a cursor (`since`).
import { canSeeEnvironment, ownerScope } from "../auth/visibility.ts";
import { REMOVED_SERVERS_KEPT_MS } from "../data/store.ts";
import type { EnvironmentEvent, ServerEvent } from "../live/events.ts";
import { builder } from "./builder.ts";
import type { Context } from "./context.ts";
import { badInput, userError } from "./errors.ts";
import { nodeIdEncoder, parseId } from "./ids.ts";
import { createLoaders } from "../data/loaders.ts";

const encodeServerId = nodeIdEncoder("MCPServer");
const encodeEnvironmentId = nodeIdEncoder("Environment");
import { ConnectionTestRef } from "./connection-test.ts";
import { EnvironmentRef, ServerRef } from "./refs.ts";
import { ServerHealthEnum, ServerStateEnum } from "./enums.ts";
import { ServerStatusRef } from "./mcp-server.ts";

const SourceEnum = builder.enumType("ChangeSource", {
  values: {
    DATABASE: { description: "A row was written." },
    HEALTH_CLOCK: { description: "Time passed: a heartbeat aged past a threshold." },
    RESYNC: { description: "Found while re-reading the fleet after the change feed reconnected." },
    REPLAY: { description: "Changed since the `since` cursor, sent before live events." },
  } as const,
});
const KindEnum = builder.enumType("ChangeKind", { values: ["ADDED", "UPDATED", "REMOVED"] as const });

export const ServerStatusChangeRef = builder.objectRef<ServerEvent>("ServerStatusChange").implement({
  fields: (t) => ({
    server: t.field({ type: ServerRef, resolve: (e) => e.server! }),
    previous: t.field({ type: ServerStatusRef, nullable: true, description: "Null for a new server, and on REPLAY.", resolve: (e) => e.previous }),
    current: t.field({ type: ServerStatusRef, resolve: (e) => e.current! }),
    source: t.field({ type: SourceEnum, resolve: (e) => e.source }),
    at: t.field({ type: "DateTime", description: "When it changed; pass the last one as `since` to resume.", resolve: (e) => e.at }),
  }),
});

const ServerChangeRef = builder.objectRef<ServerEvent>("ServerChange").implement({
  fields: (t) => ({
    kind: t.field({ type: KindEnum, resolve: (e) => e.kind }),
    serverId: t.id({
      description: "The server's global id (its `id`), also when it was removed: a client cache can evict it.",
      resolve: (e) => encodeServerId(e.serverId),
    }),
    server: t.field({ type: ServerRef, nullable: true, description: "Null when removed.", resolve: (e) => e.server }),
    status: t.field({ type: ServerStatusRef, nullable: true, resolve: (e) => e.current }),
    source: t.field({ type: SourceEnum, resolve: (e) => e.source }),
    at: t.field({ type: "DateTime", resolve: (e) => e.at }),
  }),
});

const EnvironmentChangeRef = builder.objectRef<EnvironmentEvent>("EnvironmentChange").implement({
  fields: (t) => ({
    kind: t.field({ type: KindEnum, resolve: (e) => e.kind }),
    environmentId: t.id({ description: "The droplet's global id (its `id`), also when it was removed.", resolve: (e) => encodeEnvironmentId(e.environmentId) }),
    environment: t.field({ type: EnvironmentRef, nullable: true, description: "Null when removed.", resolve: (e) => e.environment }),
    source: t.field({ type: SourceEnum, resolve: (e) => e.source }),
    at: t.field({ type: "DateTime", resolve: (e) => e.at }),
  }),
});

const ServerEventFilterInput = builder.inputType("ServerEventFilter", {
  description: "Every given condition must hold; states and healths apply to the status after the change.",
  fields: (t) => ({
    serverIds: t.idList(),
    environmentIds: t.idList(),
    states: t.field({ type: [ServerStateEnum] }),
    healths: t.field({ type: [ServerHealthEnum] }),
  }),
});

const REPLAY_DAYS = REMOVED_SERVERS_KEPT_MS / 86_400_000;
/** Allowance for the database's clock against ours when telling live rows from replayed ones. */
const REPLAY_OVERLAP_MS = 5_000;
const SINCE = `Resume from the \`at\` of the last event received: servers changed or deleted after it are sent first (source REPLAY). At most ${REPLAY_DAYS} days back.`;

function liveOf(ctx: Context) {
  if (!ctx.live) throw userError("UPSTREAM_UNAVAILABLE", "Live updates are not running on this server");
  return ctx.live;
}

function serverFilter(input: typeof ServerEventFilterInput.$inferInput | null | undefined, ctx: Context) {
  const ids = input?.serverIds && new Set(input.serverIds.map((id) => parseId(String(id), "MCPServer", "serverIds")));
  const envs = input?.environmentIds && new Set(input.environmentIds.map((id) => parseId(String(id), "Environment", "environmentIds")));
  const states = input?.states && new Set(input.states);
  const healths = input?.healths && new Set(input.healths);
  return (e: ServerEvent) => {
    if (!canSeeEnvironment(ctx.viewer, e.scope)) return false;
    if (ids && !ids.has(e.serverId)) return false;
    if (envs && !envs.has(e.scope.environmentId)) return false;
    if (states && (!e.current || !states.has(e.current.state))) return false;
    if (healths && (!e.current || !healths.has(e.current.health))) return false;
    return true;
  };
}

/** Live events, preceded (with `since`) by a replay of what changed since. Subscribes first, so nothing falls between. */
function withReplay(ctx: Context, accept: (e: ServerEvent) => boolean, since: Date | null | undefined): AsyncIterable<ServerEvent> {
  const live = liveOf(ctx);
  if (since && since.getTime() > Date.now() + 60_000) throw badInput("`since` is in the future", "since");
  if (since && since.getTime() < Date.now() - REMOVED_SERVERS_KEPT_MS) {
    throw badInput(
      `\`since\` is older than the ${REPLAY_DAYS}-day replay window (deletions before it are forgotten): read the list again and subscribe without \`since\``,
      "since",
    );
  }
  return ctx.holdSubscription(() => {
    const events = live.serverEvents.subscribe(accept);
    // Without a replay, the hub's iterator is the subscription: one async layer less per event.
    // Read only the viewer's own servers: the query is scoped, not its results filtered.
    return since ? replayThen(live.replay(since, ownerScope(ctx.viewer)), accept, events) : events;
  });
}

/**
 * The replay, then the live events. Not an async generator: a generator's return() waits for the
 * pending next(), which for a quiet subscription never settles, so closing it would leave its hub
 * subscriber behind. Here return() ends the live subscription at once.
 */
function replayThen(
  replay: AsyncIterable<ServerEvent>,
  accept: (e: ServerEvent) => boolean,
  events: AsyncIterableIterator<ServerEvent>,
): AsyncIterableIterator<ServerEvent> {
  const replayed = replay[Symbol.asyncIterator]();
  let replaying = true;
  // What the replay sent, by server: the row version (ms), or REMOVED. A change committed while
  // the replay ran is in both the replay and the live queue; the live copy is then skipped.
  const sent = new Map<string, number | "REMOVED">();
  let replayEndedAt = 0;
  const alreadySent = (e: ServerEvent) => {
    const version = sent.get(e.serverId);
    if (version === undefined || e.source === "HEALTH_CLOCK") return false;
    if (e.kind === "REMOVED") return version === "REMOVED";
    return version !== "REMOVED" && !!e.server && e.server.updatedAt.getTime() <= version;
  };
  const iterator: AsyncIterableIterator<ServerEvent> = {
    async next() {
      try {
        while (replaying) {
          const step = await replayed.next();
          if (step.done) {
            replaying = false;
            replayEndedAt = Date.now();
          } else if (accept(step.value)) {
            const e = step.value;
            sent.set(e.serverId, e.kind === "REMOVED" ? "REMOVED" : (e.server?.updatedAt.getTime() ?? 0));
            return step;
          }
        }
      } catch (error) {
        await events.return?.();
        throw error;
      }
      for (;;) {
        const step = await events.next();
        if (step.done || !sent.size) return step;
        const e = step.value;
        // Rows written well after the replay ended cannot have been in it: forget what it sent.
        if (e.server && e.server.updatedAt.getTime() > replayEndedAt + REPLAY_OVERLAP_MS) sent.clear();
        if (!alreadySent(e)) return step;
        sent.delete(e.serverId);
      }
    },
    async return() {
      replaying = false;
      void replayed.return?.().catch(() => undefined);
      return (await events.return?.()) ?? { done: true, value: undefined };
    },
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
}

// A subscription's context lives as long as it does: each event brings its own time, rows and
// loaders (the subscription's first loaders would serve every later event what they read first).
function freshFor(ctx: Context, at: Date): void {
  ctx.time = { now: at, thresholds: ctx.time.thresholds };
  ctx.loaders = createLoaders(ctx.store);
  ctx.responseBytes = 0;
}

function forEvent(ctx: Context, e: ServerEvent): ServerEvent {
  freshFor(ctx, e.at);
  if (e.environment) ctx.loaders.environment.prime(e.environment.id, e.environment);
  return e;
}

builder.subscriptionType({
  fields: (t) => ({
    serverStatusChanged: t.field({
      type: ServerStatusChangeRef,
      description: "A server's state or health changed: by a write, or by its heartbeat ageing.",
      args: { filter: t.arg({ type: ServerEventFilterInput }), since: t.arg({ type: "DateTime", description: SINCE }) },
      subscribe: (_root, args, ctx) => {
        const accept = serverFilter(args.filter, ctx);
        return withReplay(ctx, (e) => e.statusChanged && e.kind !== "REMOVED" && accept(e), args.since);
      },
      resolve: (e, _args, ctx) => forEvent(ctx, e),
    }),
    serverChanged: t.field({
      type: ServerChangeRef,
      description: "Every visible change to a server: added, updated, removed.",
      args: { filter: t.arg({ type: ServerEventFilterInput }), since: t.arg({ type: "DateTime", description: SINCE }) },
      subscribe: (_root, args, ctx) => withReplay(ctx, serverFilter(args.filter, ctx), args.since),
      resolve: (e, _args, ctx) => forEvent(ctx, e),
    }),
    connectionTested: t.field({
      type: ConnectionTestRef,
      description: "A connection test finished (on any replica); all servers, or those in `serverIds`.",
      args: { serverIds: t.arg.idList() },
      subscribe: (_root, args, ctx) => {
        const ids = args.serverIds && new Set(args.serverIds.map((id) => parseId(String(id), "MCPServer", "serverIds")));
        const live = liveOf(ctx);
        return ctx.holdSubscription(() =>
          live.connectionTests.subscribe((e) => (!ids || ids.has(e.test.serverId)) && canSeeEnvironment(ctx.viewer, e.environment)),
        );
      },
      resolve: (e) => e.test,
    }),
    environmentChanged: t.field({
      type: EnvironmentChangeRef,
      description: "An environment (droplet) was added, changed or removed; all of them, or the one with `id`.",
      args: { id: t.arg.id() },
      subscribe: (_root, args, ctx) => {
        const id = args.id ? parseId(String(args.id), "Environment") : undefined;
        const live = liveOf(ctx);
        return ctx.holdSubscription(() =>
          live.environmentEvents.subscribe((e) => (!id || e.environmentId === id) && canSeeEnvironment(ctx.viewer, e.environment ?? { userId: "" })),
        );
      },
      resolve: (e, _args, ctx) => {
        freshFor(ctx, e.at);
        return e;
      },
    }),
  }),
});
