// Live subscriptions (graphql-ws over WebSocket, and SSE): status changes, server changes,
// environment changes; optionally resumed from a cursor (`since`).
import { canSeeEnvironment, ownerScope } from "../auth/visibility.ts";
import { REMOVED_SERVERS_KEPT_MS } from "../data/store.ts";
import type { ChangeKind, EnvironmentEvent, EventSource, ServerEvent } from "../live/events.ts";
import type { Pushable } from "../live/hub.ts";
import type { ReplayFrom } from "../data/store.ts";
import { createLoaders } from "../data/loaders.ts";
import { builder } from "./builder.ts";
import { holdSubscription, type Context } from "./context.ts";
import { badInput, userError } from "./errors.ts";
import { nodeIdEncoder, parseId } from "./ids.ts";

const encodeServerId = nodeIdEncoder("MCPServer");
const encodeEnvironmentId = nodeIdEncoder("Environment");
import { ConnectionTestRef } from "./connection-test.ts";
import { EnvironmentRef, ServerRef } from "./refs.ts";
import { DesiredStateEnum, ReachabilityEnum, RecoveryStatusEnum, RiskLevelEnum, ServerHealthEnum, ServerStateEnum } from "./enums.ts";
import { ServerStatusRef } from "./mcp-server.ts";

export const SourceEnum = builder.enumType("ChangeSource", {
  values: {
    DATABASE: { description: "A row was written (by anything but the writers below)." },
    LIFECYCLE: { description: "A lifecycle action through this API wrote the row: deploy, start, stop, restart, configure, delete." },
    AGENT_REPORT: { description: "A droplet agent's report wrote the row: a heartbeat, or a status refresh." },
    MONITOR: { description: "The droplet monitor wrote the row: an agent that stopped answering is marked unresponsive." },
    AUTO_RECOVERY: { description: "Automatic recovery wrote the row: a restart it attempted, its outcome, or giving up." },
    EARLY_WARNING: { description: "The early-warning watch changed a server's or droplet's risk level." },
    PROBE: {
      description: "A connection test (the background prober's or anyone's) changed the server's reachability, or what it offers (tools, capabilities).",
    },
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
    at: t.field({ type: "DateTime", description: "When it changed.", resolve: (e) => e.at }),
    cursor: t.string({ description: CURSOR, resolve: (e) => encodeResume(e.resumeFrom) }),
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
    cursor: t.string({ description: CURSOR, resolve: (e) => encodeResume(e.resumeFrom) }),
  }),
});

const EnvironmentChangeRef = builder.objectRef<EnvironmentEvent>("EnvironmentChange").implement({
  fields: (t) => ({
    kind: t.field({ type: KindEnum, resolve: (e) => e.kind }),
    environmentId: t.id({ description: "The droplet's global id (its `id`), also when it was removed.", resolve: (e) => encodeEnvironmentId(e.environmentId) }),
    environment: t.field({ type: EnvironmentRef, nullable: true, description: "Null when removed.", resolve: (e) => e.environment }),
    source: t.field({ type: SourceEnum, resolve: (e) => e.source }),
    at: t.field({ type: "DateTime", resolve: (e) => e.at }),
    cursor: t.string({ description: CURSOR, resolve: (e) => encodeResume(e.resumeFrom) }),
  }),
});

const ServerEventFilterInput = builder.inputType("ServerEventFilter", {
  description: "Every given condition must hold; states and healths apply to the status after the change.",
  fields: (t) => ({
    serverIds: t.idList(),
    environmentIds: t.idList(),
    states: t.field({ type: [ServerStateEnum] }),
    healths: t.field({ type: [ServerHealthEnum] }),
    desiredStates: t.field({ type: [DesiredStateEnum] }),
    reachabilities: t.field({ type: [ReachabilityEnum] }),
    recoveries: t.field({ type: [RecoveryStatusEnum] }),
    risks: t.field({ type: [RiskLevelEnum] }),
  }),
});

const REPLAY_DAYS = REMOVED_SERVERS_KEPT_MS / 86_400_000;
/** Allowance for the database's clock against ours when telling live rows from replayed ones. */
const REPLAY_OVERLAP_MS = 5_000;
const CURSOR =
  "Where a subscription resumed from this event starts: pass the last one received as `after`. Opaque; gap-free on Postgres and the embedded database.";
const AFTER = `Resume after the event whose \`cursor\` this is: every change committed after that event was issued is sent first (source REPLAY), whenever its transaction began; then live events. At most ${REPLAY_DAYS} days back.`;
const SINCE = `Resume by time (prefer \`after\`): servers changed or deleted after this moment are sent first (source REPLAY). A change whose transaction began before it but committed later can be missed. At most ${REPLAY_DAYS} days back.`;
const SNAPSHOT = /^\d{1,20}:\d{1,20}:(\d{1,20}(,\d{1,20})*)?$/;

/** An event's cursor: its commit position (a database snapshot, when the store has them) and its moment. */
function encodeResume(from: ReplayFrom): string {
  return Buffer.from(JSON.stringify({ p: from.position, t: from.at.getTime() })).toString("base64url");
}

function decodeResume(cursor: string): ReplayFrom {
  const bad = () => badInput("`after` is not a cursor from an event of this API", "after");
  if (cursor.length > 65_536) throw bad();
  let parsed: { p?: unknown; t?: unknown };
  try {
    parsed = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw bad();
  }
  if (typeof parsed?.t !== "number" || !Number.isFinite(parsed.t)) throw bad();
  if (parsed.p !== null && (typeof parsed.p !== "string" || !SNAPSHOT.test(parsed.p))) throw bad();
  return { position: parsed.p, at: new Date(parsed.t) };
}

builder.queryField("changeCursor", (t) =>
  t.string({
    description:
      "A cursor for this moment: a subscription started later with it as `after` receives every change committed since (REPLAY first). Take it before the query that reads the current state, so nothing committed in between is missed.",
    resolve: async (_root, _args, ctx) => {
      const position = (await ctx.store.capabilities.positions?.current()) ?? null;
      // Milliseconds: a cursor without a position (Supabase) replays writes after this moment.
      return encodeResume({ position, at: new Date(Date.now() - 1) });
    },
  }),
);

/** Where a subscription resumes from, if it does: `after` (a cursor) or `since` (a moment), within the replay window. */
function resumeFrom(args: { after?: string | null; since?: Date | null }): ReplayFrom | null {
  if (args.after && args.since) throw badInput("Give `after` or `since`, not both", "after");
  const from = args.after ? decodeResume(args.after) : args.since ? { position: null, at: args.since } : null;
  if (!from) return null;
  const field = args.after ? "after" : "since";
  if (from.at.getTime() > Date.now() + 60_000) throw badInput(`\`${field}\` is in the future`, field);
  if (from.at.getTime() < Date.now() - REMOVED_SERVERS_KEPT_MS) {
    throw badInput(
      `\`${field}\` is older than the ${REPLAY_DAYS}-day replay window (deletions before it are forgotten): read the list again and subscribe without it`,
      field,
    );
  }
  return from;
}

function liveOf(ctx: Context) {
  if (!ctx.live) throw userError("UPSTREAM_UNAVAILABLE", "Live updates are not running on this server");
  return ctx.live;
}

function serverFilter(input: typeof ServerEventFilterInput.$inferInput | null | undefined, ctx: Context) {
  const ids = input?.serverIds && new Set(input.serverIds.map((id) => parseId(String(id), "MCPServer", "serverIds")));
  const envs = input?.environmentIds && new Set(input.environmentIds.map((id) => parseId(String(id), "Environment", "environmentIds")));
  const states = input?.states && new Set(input.states);
  const healths = input?.healths && new Set(input.healths);
  const desired = input?.desiredStates && new Set(input.desiredStates);
  const reachabilities = input?.reachabilities && new Set(input.reachabilities);
  const recoveries = input?.recoveries && new Set(input.recoveries);
  const risks = input?.risks && new Set(input.risks);
  return (e: ServerEvent) => {
    if (!canSeeEnvironment(ctx.viewer, e.scope)) return false;
    if (ids && !ids.has(e.serverId)) return false;
    if (envs && !envs.has(e.scope.environmentId)) return false;
    if (states && (!e.current || !states.has(e.current.state))) return false;
    if (healths && (!e.current || !healths.has(e.current.health))) return false;
    if (desired && (!e.current || !desired.has(e.current.desired))) return false;
    if (reachabilities && (!e.current || !reachabilities.has(e.current.reachability))) return false;
    if (recoveries && (!e.current || !recoveries.has(e.current.recovery))) return false;
    if (risks && (!e.current || !risks.has(e.current.risk))) return false;
    return true;
  };
}

/** Live server events, preceded (when resuming) by a replay of what changed since. Subscribes first, so nothing falls between. */
function withReplay(ctx: Context, accept: (e: ServerEvent) => boolean, from: ReplayFrom | null): AsyncIterable<ServerEvent> {
  const live = liveOf(ctx);
  return holdSubscription(ctx, () => {
    const events = live.serverEvents.subscribe(accept);
    // Without a replay, the hub's iterator is the subscription: one async layer less per event.
    // Read only the viewer's own servers: the query is scoped, not its results filtered.
    return from ? replayThen(live.replay(from, ownerScope(ctx.viewer)), accept, events, serverVersion) : events;
  });
}

/** What identifies a delivered row version, to skip a live copy of what the replay sent. */
type Version = { id: string; updatedAt: number | null };
const serverVersion = (e: ServerEvent): Version => ({ id: e.serverId, updatedAt: e.server?.updatedAt.getTime() ?? null });
const environmentVersion = (e: EnvironmentEvent): Version => ({ id: e.environmentId, updatedAt: e.environment?.updatedAt?.getTime() ?? null });

/**
 * The replay, then the live events. Not an async generator: a generator's return() waits for the
 * pending next(), which for a quiet subscription never settles, so closing it would leave its hub
 * subscriber behind. Here return() ends the live subscription at once. Pushable, as the hub's
 * subscription is: the replay is read page by page and pushed, then the live events as they come.
 */
function replayThen<E extends { kind: ChangeKind; source: EventSource }>(
  replay: AsyncIterable<E>,
  accept: (e: E) => boolean,
  events: AsyncIterableIterator<E> & Pushable<E>,
  versionOf: (e: E) => Version,
): AsyncIterableIterator<E> & Pushable<E> {
  const replayed = replay[Symbol.asyncIterator]();
  let replaying = true;
  // What the replay sent, by row: the row version (ms), or REMOVED. A change committed while
  // the replay ran is in both the replay and the live queue; the live copy is then skipped.
  const sent = new Map<string, number | "REMOVED">();
  let replayEndedAt = 0;
  /** The replay's next accepted event (recorded as sent), or undefined when it is over. */
  const nextReplayed = async (): Promise<E | undefined> => {
    while (replaying) {
      const step = await replayed.next();
      if (step.done) {
        replaying = false;
        replayEndedAt = Date.now();
      } else if (accept(step.value)) {
        const e = step.value;
        const { id, updatedAt } = versionOf(e);
        sent.set(id, e.kind === "REMOVED" ? "REMOVED" : (updatedAt ?? 0));
        return e;
      }
    }
    return undefined;
  };
  /** False for a live event the replay already sent. */
  const isNew = (e: E): boolean => {
    if (!sent.size) return true;
    const { id, updatedAt } = versionOf(e);
    // Rows written well after the replay ended cannot have been in it: forget what it sent.
    if (updatedAt !== null && updatedAt > replayEndedAt + REPLAY_OVERLAP_MS) sent.clear();
    const version = sent.get(id);
    if (version === undefined || e.source === "HEALTH_CLOCK") return true;
    const already = e.kind === "REMOVED" ? version === "REMOVED" : version !== "REMOVED" && updatedAt !== null && updatedAt <= version;
    if (already) sent.delete(id);
    return !already;
  };
  const iterator: AsyncIterableIterator<E> & Pushable<E> = {
    async next() {
      try {
        const e = await nextReplayed();
        if (e) return { done: false, value: e };
      } catch (error) {
        await events.return?.();
        throw error;
      }
      for (;;) {
        const step = await events.next();
        if (step.done || isNew(step.value)) return step;
      }
    },
    listen(onEvent, onEnd) {
      void (async () => {
        try {
          for (let e = await nextReplayed(); e; e = await nextReplayed()) onEvent(e);
        } catch (error) {
          await events.return?.();
          onEnd(error as Error);
          return;
        }
        events.listen((e) => {
          if (isNew(e)) onEvent(e);
        }, onEnd);
      })();
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
      description:
        "A server's status changed: its state or health (by a write, or by its heartbeat ageing), what its user wants, its reachability, its automatic recovery, or its risk level.",
      args: {
        filter: t.arg({ type: ServerEventFilterInput }),
        after: t.arg.string({ description: AFTER }),
        since: t.arg({ type: "DateTime", description: SINCE }),
      },
      subscribe: (_root, args, ctx) => {
        const accept = serverFilter(args.filter, ctx);
        return withReplay(ctx, (e) => e.statusChanged && e.kind !== "REMOVED" && accept(e), resumeFrom(args));
      },
      resolve: (e, _args, ctx) => forEvent(ctx, e),
    }),
    serverChanged: t.field({
      type: ServerChangeRef,
      description: "Every visible change to a server: added, updated, removed.",
      args: {
        filter: t.arg({ type: ServerEventFilterInput }),
        after: t.arg.string({ description: AFTER }),
        since: t.arg({ type: "DateTime", description: SINCE }),
      },
      subscribe: (_root, args, ctx) => withReplay(ctx, serverFilter(args.filter, ctx), resumeFrom(args)),
      resolve: (e, _args, ctx) => forEvent(ctx, e),
    }),
    connectionTested: t.field({
      type: ConnectionTestRef,
      description: "A connection test finished (on any replica); all servers, or those in `serverIds`.",
      args: { serverIds: t.arg.idList() },
      subscribe: (_root, args, ctx) => {
        const ids = args.serverIds && new Set(args.serverIds.map((id) => parseId(String(id), "MCPServer", "serverIds")));
        const live = liveOf(ctx);
        return holdSubscription(ctx, () =>
          live.connectionTests.subscribe((e) => (!ids || ids.has(e.test.serverId)) && canSeeEnvironment(ctx.viewer, e.environment)),
        );
      },
      resolve: (e) => e.test,
    }),
    environmentChanged: t.field({
      type: EnvironmentChangeRef,
      description: "An environment (droplet) was added, changed or removed; all of them, or the one with `id`.",
      args: { id: t.arg.id(), after: t.arg.string({ description: AFTER }), since: t.arg({ type: "DateTime", description: SINCE }) },
      subscribe: (_root, args, ctx) => {
        const id = args.id ? parseId(String(args.id), "Environment") : undefined;
        const from = resumeFrom(args);
        const live = liveOf(ctx);
        const accept = (e: EnvironmentEvent) => (!id || e.environmentId === id) && canSeeEnvironment(ctx.viewer, e);
        return holdSubscription(ctx, () => {
          const events = live.environmentEvents.subscribe(accept);
          return from ? replayThen(live.replayEnvironments(from, ownerScope(ctx.viewer)), accept, events, environmentVersion) : events;
        });
      },
      resolve: (e, _args, ctx) => {
        freshFor(ctx, e.at);
        return e;
      },
    }),
  }),
});
