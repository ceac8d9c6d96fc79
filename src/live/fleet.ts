// The live view of the fleet: database changes and the passage of time, turned into events.
// It caches what clients can see of every server (rebuilt from the database at start), reloads
// changed rows in one batched statement, and publishes only what changed for a client.
import type { ConnectionTestRow, EnvironmentRow, ServerRow } from "../data/rows.ts";
import { CHANGE_CHANNEL, FEED_TABLES, parseNotice } from "../data/notices.ts";
import {
  allPages,
  type ChangeFeed,
  type EnvironmentTransition,
  type RemovedServer,
  type ReplayFrom,
  type StatusTransition,
  type Store,
} from "../data/store.ts";
import { nextHealthChange, serverStatus, type HeartbeatThresholds, type ServerStatus } from "../domain/status.ts";
import type { Logger } from "../log.ts";
import type { BusMessage, ReplicaBus } from "./bus.ts";
import type { Clock } from "./clock.ts";
import { serverEvent, stateOrHealthChanged, writtenBy, type ConnectionTestEvent, type EnvironmentEvent, type EventSource, type ServerEvent } from "./events.ts";
import { HealthClock } from "./health-clock.ts";
import { type CountedEnvironment, type CountedServer, FleetCounts } from "./summary.ts";

/** Whose fleet summary moved: the owners (the empty string for droplets with no owner) and the droplets. */
export interface SummaryEvent {
  owners: Set<string>;
  environments: Set<string>;
}

const countedServer = (c: Cached): CountedServer => ({
  owner: c.userId,
  environmentId: c.row.environmentId,
  state: c.status.state,
  health: c.status.health,
});
const countedEnvironment = (e: EnvironmentRow): CountedEnvironment => ({ owner: e.userId, status: e.status, region: e.region });
import { Hub } from "./hub.ts";

interface Cached {
  row: ServerRow;
  status: ServerStatus;
  /** What a client can see of the row, to tell a visible change from an invisible one. */
  key: string;
  /** When `status` was computed (ms): a transition computed for an earlier moment is stale. */
  evaluatedAt: number;
  /** When its health next changes with time alone (ms), if it will. */
  nextAt: number | undefined;
  /** The droplet's owner, kept for the REMOVED event after the droplet itself is gone. */
  userId: string | null;
}

const LOAD_PAGE = 1000;
/** Connection test ids remembered, so a result arriving by two paths is published once. */
const REMEMBERED_TESTS = 10_000;

export interface LiveFleetOptions {
  store: Store;
  feed: ChangeFeed;
  clock: Clock;
  thresholds: HeartbeatThresholds;
  logger: Logger;
  /**
   * The least time between two reloads: notices arriving within it are gathered into one. A notice
   * after a quiet spell is applied at once (no added latency for an isolated change).
   */
  coalesceMs?: number;
  /** Seconds from a row's updated_at to its event being published (metrics). */
  onLag?: (seconds: number) => void;
  /** Carries health-clock transitions and connection test results to the other replicas (REDIS_URL). */
  bus?: ReplicaBus;
  /** Days of status history kept (STATUS_HISTORY_DAYS); 0 records none. */
  historyDays?: number;
}

export class LiveFleet {
  readonly serverEvents = new Hub<ServerEvent>();
  readonly environmentEvents = new Hub<EnvironmentEvent>();
  /** New connection test results, from any replica (through the database, and the bus when there is one). */
  readonly connectionTests = new Hub<ConnectionTestEvent>();
  /** The fleet's counts, kept as it changes; `summaryEvents` says whose moved (after each batch). */
  readonly counts = new FleetCounts();
  readonly summaryEvents = new Hub<SummaryEvent>();
  private readonly pendingTests = new Set<string>();
  private readonly publishedTests = new Set<string>();
  private readonly servers = new Map<string, Cached>();
  private readonly healthClock: HealthClock;
  private readonly environments = new Map<string, EnvironmentRow>();
  private readonly pendingServers = new Set<string>();
  private readonly pendingEnvironments = new Set<string>();
  private flushTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  /** When the last reload started (ms, performance.now()). */
  private lastFlushAt = Number.NEGATIVE_INFINITY;
  private unlisten: (() => Promise<void>) | undefined;
  private stopped = false;
  /** False while the change feed's connection is lost (changes then arrive by resync when it is back). */
  feedUp = true;
  /**
   * The commit position every published change is covered by (SQL stores; null on Supabase): each
   * reload reads what changed since it, in the same snapshot as the new position, so every change
   * visible at a position has been published when an event carries it. Notices only say when.
   */
  private position: string | null = null;
  /** Transitions published and not yet written to the status history. */
  private pendingHistory: { servers: StatusTransition[]; environments: EnvironmentTransition[] } = { servers: [], environments: [] };
  private historyWriting: Promise<void> = Promise.resolve();

  constructor(private readonly options: LiveFleetOptions) {
    this.healthClock = new HealthClock(options.clock, (id, now) => this.onHealthDue(id, now));
  }

  private get store() {
    return this.options.store;
  }

  async start(): Promise<void> {
    // Listen first, so no change between the initial load and the listener is missed.
    this.unlisten = await this.options.feed.listen(
      CHANGE_CHANNEL,
      (payload) => this.onNotice(payload),
      () => {
        this.feedUp = true;
        this.requestResync();
      },
      () => (this.feedUp = false),
    );
    await this.loadAll("RESYNC", false);
    this.options.bus?.onMessage((message) => this.onBusMessage(message));
    this.healthClock.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.flushTimer);
    this.healthClock.stop();
    await this.unlisten?.();
    await this.options.bus?.close();
    await this.flushing.catch(() => undefined);
    this.writeHistory();
    await this.historyWriting;
  }

  /** Runs `fn` after every change already notified has been applied (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.pendingServers.size || this.pendingEnvironments.size || this.pendingTests.size || this.flushTimer) {
      await new Promise((r) => setTimeout(r, this.options.coalesceMs ?? 10));
      await this.flushing.catch(() => undefined);
    }
    await this.flushing.catch(() => undefined);
  }

  environmentOf(id: string): EnvironmentRow | undefined {
    return this.environments.get(id);
  }

  private onNotice(payload: string) {
    const notice = parseNotice(payload);
    if (!notice) return;
    if (notice.table === FEED_TABLES.server) this.pendingServers.add(notice.id);
    else if (notice.table === FEED_TABLES.environment) this.pendingEnvironments.add(notice.id);
    else if (notice.table === FEED_TABLES.connectionTest) this.pendingTests.add(notice.id);
    // At once after a quiet spell (the timer of 0 still gathers every notice of the same read);
    // within coalesceMs of the last reload, at its end, with whatever arrived meanwhile.
    const coalesceMs = this.options.coalesceMs ?? 10;
    this.scheduleFlush(Math.max(0, this.lastFlushAt + coalesceMs - performance.now()));
  }

  private scheduleFlush(delay: number) {
    if (this.flushTimer || this.stopped) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      this.flushing = this.flushing
        .then(() => {
          this.lastFlushAt = performance.now();
          return this.flush();
        })
        .catch((error) => {
          this.options.logger.warn({ err: String(error) }, "live: applying changes failed; retrying");
          this.scheduleFlush(1000);
        });
    }, delay);
  }

  private async flush() {
    const serverIds = [...this.pendingServers];
    const environmentIds = [...this.pendingEnvironments];
    const testIds = [...this.pendingTests];
    if (testIds.length) {
      const unseen = testIds.filter((id) => !this.publishedTests.has(id));
      if (unseen.length) for (const test of await this.store.connectionTestsByIds(unseen)) if (test) this.publishTest(test);
      for (const id of testIds) this.pendingTests.delete(id);
    }
    const { positions } = this.store.capabilities;
    const delta = positions && this.position !== null ? await positions.changedSince(this.position) : undefined;
    const envIds = [...new Set([...environmentIds, ...(delta?.environmentIds ?? [])])];
    const changedServers = [...serverIds, ...(delta?.serverIds ?? [])];
    if (!changedServers.length && !envIds.length) {
      if (delta) this.position = delta.position;
      return;
    }
    const now = this.options.clock.now();
    const envRows = envIds.length ? await this.store.environmentsByIds(envIds) : [];
    // A droplet's address is part of its servers' endpoints: re-derive them too.
    const affected = new Set(envIds);
    for (const [id, cached] of this.servers) if (affected.has(cached.row.environmentId)) changedServers.push(id);
    const ids = [...new Set(changedServers)];
    const rows = ids.length ? await this.store.serversByIds(ids) : [];
    if (delta) this.position = delta.position;
    for (const [i, id] of envIds.entries()) this.applyEnvironment(id, envRows[i], "DATABASE", now);
    await this.loadMissingEnvironments(rows);
    for (const [i, id] of ids.entries()) this.applyServer(id, rows[i], "DATABASE", now);
    // Only now forget the notices: a failed reload is retried.
    for (const id of serverIds) this.pendingServers.delete(id);
    for (const id of environmentIds) this.pendingEnvironments.delete(id);
    this.healthClock.schedule();
    this.writeHistory();
    this.announceSummary();
  }

  /** Tells summary subscribers whose counts moved in the batch just applied. */
  private announceSummary() {
    const moved = this.counts.takeDirty();
    if (moved.owners.size) this.summaryEvents.publish(moved);
  }

  /**
   * Writes the transitions published since the last write, in the background (the change feed
   * never waits for it), one statement at a time. Every replica writes what it published; the
   * history's unique keys keep one copy. A failure is logged, and those transitions are lost.
   */
  private writeHistory() {
    const days = this.options.historyDays ?? 0;
    const { servers, environments } = this.pendingHistory;
    if (days <= 0 || (!servers.length && !environments.length)) {
      this.pendingHistory = { servers: [], environments: [] };
      return;
    }
    this.pendingHistory = { servers: [], environments: [] };
    this.historyWriting = this.historyWriting.then(() =>
      this.store.recordHistory(servers, environments, days).catch((error) => {
        this.options.logger.warn({ err: String(error), transitions: servers.length + environments.length }, "status history: write failed");
      }),
    );
  }

  /**
   * A connection test this replica just stored: published here at once and sent to the other
   * replicas; the database's notice of the same row, arriving later, is then skipped.
   */
  announceConnectionTest(test: ConnectionTestRow): void {
    if (this.publishTest(test)) this.options.bus?.publish({ type: "connectionTest", test });
  }

  /** Publishes a test result once, whichever path brings it first. */
  private publishTest(test: ConnectionTestRow): boolean {
    if (this.publishedTests.has(test.id)) return false;
    this.publishedTests.add(test.id);
    if (this.publishedTests.size > REMEMBERED_TESTS) this.publishedTests.delete(this.publishedTests.values().next().value as string);
    const server = this.servers.get(test.serverId);
    this.connectionTests.publish({ test, environment: server ? (this.environments.get(server.row.environmentId) ?? null) : null });
    return true;
  }

  private onBusMessage(message: BusMessage) {
    if (this.stopped) return;
    if (message.type === "connectionTest") {
      // A server this replica has not loaded yet has no owner to check visibility against: its
      // database notice, which follows the row, will publish the result instead.
      if (this.servers.has(message.test.serverId)) this.publishTest(message.test);
      return;
    }
    // Another replica's clock saw a threshold pass. Re-derive it from our own copy of the row, and
    // only for the same row version and a moment later than our own last look.
    const cached = this.servers.get(message.serverId);
    const at = new Date(message.at);
    if (!cached || cached.row.updatedAt.getTime() !== message.version || !(at.getTime() > cached.evaluatedAt)) return;
    this.applyClockTransition(message.serverId, cached, at);
    this.healthClock.schedule();
  }

  private async loadMissingEnvironments(rows: (ServerRow | null)[]) {
    const missing = [...new Set(rows.filter((r): r is ServerRow => !!r && !this.environments.has(r.environmentId)).map((r) => r.environmentId))];
    if (!missing.length) return;
    const envs = await this.store.environmentsByIds(missing);
    for (const env of envs) if (env) this.setEnvironment(env);
  }

  private requestResync() {
    this.flushing = this.flushing
      .then(() => this.loadAll("RESYNC", true))
      .catch((error) => {
        this.options.logger.warn({ err: String(error) }, "live: resync failed; retrying");
        setTimeout(() => this.requestResync(), 1000).unref();
      });
  }

  /** Reads every server (in pages); with `publish`, emits what differs from the cache. */
  private async loadAll(source: EventSource, publish: boolean) {
    // The position before the first page: whatever commits while the pages are read is read again
    // by the next reload (an unchanged row publishes nothing).
    const { positions } = this.store.capabilities;
    if (positions) this.position = await positions.current();
    const now = this.options.clock.now();
    const time = { now, thresholds: this.options.thresholds };
    const seen = new Set<string>();
    for await (const page of allPages((after) => this.store.listServers({}, { first: LOAD_PAGE, after }, time))) {
      for (const env of page.environments) {
        if (publish) this.applyEnvironment(env.id, env, source, now);
        else this.setEnvironment(env);
      }
      for (const row of page.rows) {
        seen.add(row.id);
        if (publish) this.applyServer(row.id, row, source, now);
        else this.remember(row.id, this.toCached(row, now));
      }
    }
    if (publish) for (const id of [...this.servers.keys()]) if (!seen.has(id)) this.applyServer(id, null, source, now);
    this.healthClock.schedule();
    this.announceSummary();
  }

  private toCached(row: ServerRow, now: Date): Cached {
    const env = this.environments.get(row.environmentId);
    const status = serverStatus(row, now, this.options.thresholds);
    const { updatedAt: _ignored, writeSource: _writer, ...visible } = row;
    return {
      row,
      status,
      key: JSON.stringify([visible, env?.publicIp ?? null, env?.name ?? null]),
      userId: env?.userId ?? null,
      evaluatedAt: now.getTime(),
      nextAt: nextHealthChange(status.state, row.lastHeartbeatMs, now, this.options.thresholds, row.lastStartedAtMs) ?? undefined,
    };
  }

  private setEnvironment(env: EnvironmentRow) {
    const before = this.environments.get(env.id);
    this.environments.set(env.id, env);
    this.counts.environment(env.id, before && countedEnvironment(before), countedEnvironment(env));
  }

  private deleteEnvironment(id: string) {
    const before = this.environments.get(id);
    this.environments.delete(id);
    this.counts.environment(id, before && countedEnvironment(before), undefined);
  }

  private remember(id: string, cached: Cached) {
    const before = this.servers.get(id);
    this.counts.server(before && countedServer(before), countedServer(cached));
    this.servers.set(id, cached);
    this.healthClock.set(id, cached.nextAt);
  }

  private forget(id: string) {
    const before = this.servers.get(id);
    if (before) this.counts.server(countedServer(before), undefined);
    this.servers.delete(id);
    this.healthClock.set(id, undefined);
  }

  private applyEnvironment(id: string, row: EnvironmentRow | null, source: EventSource, at: Date) {
    const before = this.environments.get(id);
    if (!row) {
      if (!before) return;
      this.deleteEnvironment(id);
      this.environmentEvents.publish({
        kind: "REMOVED",
        environmentId: id,
        environment: null,
        userId: before.userId,
        source,
        at,
        resumeFrom: { position: this.position, at },
      });
      return;
    }
    this.setEnvironment(row);
    if (before && JSON.stringify({ ...before, updatedAt: 0, writeSource: 0 }) === JSON.stringify({ ...row, updatedAt: 0, writeSource: 0 })) return;
    const eventAt = source === "DATABASE" ? row.updatedAt : at;
    if (source === "DATABASE") source = writtenBy(row);
    if (!before || before.status !== row.status) {
      this.pendingHistory.environments.push({
        environmentId: id,
        userId: row.userId,
        at: row.updatedAt,
        previousStatus: before?.status ?? null,
        status: row.status,
        source,
      });
    }
    this.environmentEvents.publish({
      kind: before ? "UPDATED" : "ADDED",
      environmentId: id,
      environment: row,
      userId: row.userId,
      source,
      at: eventAt,
      resumeFrom: { position: this.position, at: eventAt },
    });
  }

  private applyServer(id: string, row: ServerRow | null, source: EventSource, now: Date) {
    const before = this.servers.get(id);
    if (!row) {
      if (!before) return;
      this.forget(id);
      this.serverEvents.publish(
        serverEvent("REMOVED", source, now, this.position, {
          serverId: id,
          server: null,
          environment: this.environments.get(before.row.environmentId) ?? null,
          scope: { environmentId: before.row.environmentId, userId: before.userId },
          previous: before.status,
          current: null,
        }),
      );
      return;
    }
    const after = this.toCached(row, now);
    this.remember(id, after);
    if (source === "DATABASE") this.options.onLag?.(Math.max(0, Date.now() - row.updatedAt.getTime()) / 1000);
    const written = source === "DATABASE";
    const event = serverEvent(before ? "UPDATED" : "ADDED", written ? writtenBy(row) : source, written ? row.updatedAt : now, this.position, {
      serverId: id,
      server: row,
      environment: this.environments.get(row.environmentId) ?? null,
      scope: { environmentId: row.environmentId, userId: after.userId },
      previous: before?.status ?? null,
      current: after.status,
    });
    if (before && before.key === after.key && !event.statusChanged) return;
    if (stateOrHealthChanged(event.previous, event.current)) this.recordTransition(event, row.updatedAt);
    this.serverEvents.publish(event);
  }

  private recordTransition(e: ServerEvent, at: Date) {
    if (!e.current) return;
    this.pendingHistory.servers.push({
      serverId: e.serverId,
      environmentId: e.scope.environmentId,
      userId: e.scope.userId,
      at,
      previous: e.previous && { state: e.previous.state, health: e.previous.health },
      current: { state: e.current.state, health: e.current.health },
      source: e.source,
    });
  }

  /** A server's health may change now with time alone (the health clock): re-derive it. */
  private onHealthDue(id: string, now: Date) {
    const cached = this.servers.get(id);
    if (cached && this.applyClockTransition(id, cached, now))
      this.options.bus?.publish({ type: "health", serverId: id, version: cached.row.updatedAt.getTime(), at: now.toISOString() });
  }

  /** Re-evaluates a server's status at `at` (and when it next changes); publishes and returns true when it changed. */
  private applyClockTransition(id: string, cached: Cached, at: Date): boolean {
    const { thresholds } = this.options;
    // The threshold's own moment, not this replica's clock: every replica records the same one.
    const moment = new Date(cached.nextAt !== undefined && cached.nextAt <= at.getTime() ? cached.nextAt : at.getTime());
    const status = serverStatus(cached.row, at, thresholds);
    const nextAt = nextHealthChange(status.state, cached.row.lastHeartbeatMs, at, thresholds, cached.row.lastStartedAtMs) ?? undefined;
    const changed = status.health !== cached.status.health || status.state !== cached.status.state;
    this.remember(id, { ...cached, status, evaluatedAt: at.getTime(), nextAt });
    if (!changed) return false;
    const event = serverEvent("UPDATED", "HEALTH_CLOCK", at, this.position, {
      serverId: id,
      server: cached.row,
      environment: this.environments.get(cached.row.environmentId) ?? null,
      scope: { environmentId: cached.row.environmentId, userId: cached.userId },
      previous: cached.status,
      current: status,
    });
    this.recordTransition(event, moment);
    this.serverEvents.publish(event);
    this.writeHistory();
    this.announceSummary();
    return true;
  }

  /**
   * Servers changed after `from`, as events, to replay before live events on a resumed
   * subscription: those written or aged since then, then those deleted since then. Each carries
   * `from` as its own resume point: a client that leaves during the replay gets all of it again.
   */
  async *replay(from: ReplayFrom, ownerId?: string): AsyncGenerator<ServerEvent> {
    const now = this.options.clock.now();
    const time = { now, thresholds: this.options.thresholds };
    for await (const page of allPages((after) => this.store.serversChangedSince(from, time, { first: LOAD_PAGE, after }, ownerId))) {
      const envs = new Map(page.environments.map((e) => [e.id, e]));
      for (const row of page.rows) {
        const current = serverStatus(row, now, this.options.thresholds);
        const environment = envs.get(row.environmentId) ?? null;
        const at = new Date(Math.max(row.updatedAt.getTime(), now.getTime()));
        yield {
          ...serverEvent("UPDATED", "REPLAY", at, from.position, {
            serverId: row.id,
            server: row,
            environment,
            scope: { environmentId: row.environmentId, userId: environment?.userId ?? null },
            previous: null,
            current,
          }),
          resumeFrom: from,
        };
      }
    }
    for await (const page of allPages(
      (after) => this.store.serversRemovedSince(from, { first: LOAD_PAGE, after }, ownerId),
      (removed: RemovedServer) => removed.cursor,
    )) {
      for (const removed of page.rows) {
        yield {
          ...serverEvent("REMOVED", "REPLAY", removed.removedAt, from.position, {
            serverId: removed.id,
            server: null,
            environment: this.environments.get(removed.environmentId) ?? null,
            scope: { environmentId: removed.environmentId, userId: removed.userId },
            previous: null,
            current: null,
          }),
          resumeFrom: from,
        };
      }
    }
  }

  /** Environments changed or deleted after `from`, as events (as replay() for servers). */
  async *replayEnvironments(from: ReplayFrom, ownerId?: string): AsyncGenerator<EnvironmentEvent> {
    const now = this.options.clock.now();
    for await (const page of allPages((after) => this.store.environmentsChangedSince(from, { first: LOAD_PAGE, after }, ownerId))) {
      for (const row of page.rows) {
        const at = new Date(Math.max(row.updatedAt?.getTime() ?? 0, now.getTime()));
        yield { kind: "UPDATED", environmentId: row.id, environment: row, userId: row.userId, source: "REPLAY", at, resumeFrom: from };
      }
    }
    for await (const page of allPages(
      (after) => this.store.environmentsRemovedSince(from, { first: LOAD_PAGE, after }, ownerId),
      (removed: RemovedServer) => removed.cursor,
    )) {
      for (const removed of page.rows) {
        yield {
          kind: "REMOVED",
          environmentId: removed.id,
          environment: null,
          userId: removed.userId,
          source: "REPLAY",
          at: removed.removedAt,
          resumeFrom: from,
        };
      }
    }
  }
}
