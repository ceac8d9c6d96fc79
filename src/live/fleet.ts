// The live view of the fleet: database changes and the passage of time, turned into events.
// It caches what clients can see of every server (rebuilt from the database at start), reloads
// changed rows in one batched statement, and publishes only what changed for a client.
import type { Db } from "../data/db.ts";
import type { ConnectionTestRow, EnvironmentRow, ServerRow } from "../data/rows.ts";
import { allPages, type Store } from "../data/store.ts";
import { nextHealthChange, serverStatus, type HeartbeatThresholds, type ServerStatus } from "../domain/status.ts";
import type { Logger } from "../log.ts";
import type { Clock } from "./clock.ts";
import { Hub } from "./hub.ts";

export const CHANGE_CHANNEL = "mcp_fleet_changes";

export type EventSource = "DATABASE" | "HEALTH_CLOCK" | "RESYNC" | "REPLAY";
export type ChangeKind = "ADDED" | "UPDATED" | "REMOVED";

export interface ServerEvent {
  kind: ChangeKind;
  serverId: string;
  server: ServerRow | null;
  environment: EnvironmentRow | null;
  previous: ServerStatus | null;
  current: ServerStatus | null;
  /** True when state or health changed (serverStatusChanged delivers only these). */
  statusChanged: boolean;
  source: EventSource;
  at: Date;
}

export interface EnvironmentEvent {
  kind: ChangeKind;
  environmentId: string;
  environment: EnvironmentRow | null;
  source: EventSource;
  at: Date;
}

interface Cached {
  row: ServerRow;
  status: ServerStatus;
  /** What a client can see of the row, to tell a visible change from an invisible one. */
  key: string;
}

interface Notice {
  table: string;
  op: string;
  id: string;
  environment_id: string | null;
}

const LOAD_PAGE = 1000;

/** Where change notices come from: Postgres LISTEN (pg, PGlite) or Supabase Realtime. */
export type ChangeFeed = Pick<Db, "listen">;

export interface LiveFleetOptions {
  store: Store;
  feed: ChangeFeed;
  clock: Clock;
  thresholds: HeartbeatThresholds;
  logger: Logger;
  /** How long to gather notices into one reload. */
  coalesceMs?: number;
  /** Seconds from a row's updated_at to its event being published (metrics). */
  onLag?: (seconds: number) => void;
}

export class LiveFleet {
  readonly serverEvents = new Hub<ServerEvent>();
  readonly environmentEvents = new Hub<EnvironmentEvent>();
  /** New connection test results, from any replica (they come through the database). */
  readonly connectionTests = new Hub<{ test: ConnectionTestRow; environment: EnvironmentRow | null }>();
  private readonly pendingTests = new Set<string>();
  private readonly servers = new Map<string, Cached>();
  private readonly environments = new Map<string, EnvironmentRow>();
  private readonly pendingServers = new Set<string>();
  private readonly pendingEnvironments = new Set<string>();
  private flushTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private clockTimer: unknown;
  private clockDue: number | undefined;
  private unlisten: (() => Promise<void>) | undefined;
  private stopped = false;

  constructor(private readonly options: LiveFleetOptions) {}

  private get store() {
    return this.options.store;
  }

  async start(): Promise<void> {
    // Listen first, so no change between the initial load and the listener is missed.
    this.unlisten = await this.options.feed.listen(CHANGE_CHANNEL, (payload) => this.onNotice(payload), () => this.requestResync());
    await this.loadAll("RESYNC", false);
    this.scheduleClock();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.flushTimer);
    if (this.clockTimer !== undefined) this.options.clock.clearTimer(this.clockTimer);
    await this.unlisten?.();
    await this.flushing.catch(() => undefined);
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
    let notice: Notice;
    try {
      notice = JSON.parse(payload);
    } catch {
      return;
    }
    if (notice.table === "account_tool_instances") this.pendingServers.add(notice.id);
    else if (notice.table === "account_tool_environments") this.pendingEnvironments.add(notice.id);
    else if (notice.table === "mcp_connection_tests") this.pendingTests.add(notice.id);
    this.scheduleFlush(this.options.coalesceMs ?? 10);
  }

  private scheduleFlush(delay: number) {
    if (this.flushTimer || this.stopped) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      this.flushing = this.flushing.then(() => this.flush()).catch((error) => {
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
      for (const test of await this.store.connectionTestsByIds(testIds)) {
        if (!test) continue;
        const server = this.servers.get(test.serverId);
        this.connectionTests.publish({ test, environment: server ? this.environments.get(server.row.environmentId) ?? null : null });
      }
      for (const id of testIds) this.pendingTests.delete(id);
    }
    if (!serverIds.length && !environmentIds.length) return;
    const now = this.options.clock.now();
    if (environmentIds.length) {
      const rows = await this.store.environmentsByIds(environmentIds);
      environmentIds.forEach((id, i) => this.applyEnvironment(id, rows[i], "DATABASE", now));
      // A droplet's address is part of its servers' endpoints: re-derive them too.
      const affected = new Set(environmentIds);
      for (const [id, cached] of this.servers) if (affected.has(cached.row.environmentId)) serverIds.push(id);
    }
    const ids = [...new Set(serverIds)];
    if (ids.length) {
      const rows = await this.store.serversByIds(ids);
      await this.loadMissingEnvironments(rows);
      ids.forEach((id, i) => this.applyServer(id, rows[i], "DATABASE", now));
    }
    // Only now forget the notices: a failed reload is retried.
    for (const id of serverIds) this.pendingServers.delete(id);
    for (const id of environmentIds) this.pendingEnvironments.delete(id);
    this.scheduleClock();
  }

  private async loadMissingEnvironments(rows: (ServerRow | null)[]) {
    const missing = [...new Set(rows.filter((r): r is ServerRow => !!r && !this.environments.has(r.environmentId)).map((r) => r.environmentId))];
    if (!missing.length) return;
    const envs = await this.store.environmentsByIds(missing);
    for (const env of envs) if (env) this.environments.set(env.id, env);
  }

  private requestResync() {
    this.flushing = this.flushing.then(() => this.loadAll("RESYNC", true)).catch((error) => {
      this.options.logger.warn({ err: String(error) }, "live: resync failed; retrying");
      setTimeout(() => this.requestResync(), 1000).unref();
    });
  }

  /** Reads every server (in pages); with `publish`, emits what differs from the cache. */
  private async loadAll(source: EventSource, publish: boolean) {
    const now = this.options.clock.now();
    const time = { now, thresholds: this.options.thresholds };
    const seen = new Set<string>();
    for await (const page of allPages((after) => this.store.listServers({}, { first: LOAD_PAGE, after }, time))) {
      for (const env of page.environments) {
        if (publish) this.applyEnvironment(env.id, env, source, now);
        else this.environments.set(env.id, env);
      }
      for (const row of page.rows) {
        seen.add(row.id);
        if (publish) this.applyServer(row.id, row, source, now);
        else this.servers.set(row.id, this.toCached(row, now));
      }
    }
    if (publish) for (const id of [...this.servers.keys()]) if (!seen.has(id)) this.applyServer(id, null, source, now);
    this.scheduleClock();
  }

  private toCached(row: ServerRow, now: Date): Cached {
    const env = this.environments.get(row.environmentId);
    const status = serverStatus(row, now, this.options.thresholds);
    const { updatedAt: _ignored, ...visible } = row;
    return { row, status, key: JSON.stringify([visible, env?.publicIp ?? null, env?.name ?? null]) };
  }

  private applyEnvironment(id: string, row: EnvironmentRow | null, source: EventSource, at: Date) {
    const before = this.environments.get(id);
    if (!row) {
      if (!before) return;
      this.environments.delete(id);
      this.environmentEvents.publish({ kind: "REMOVED", environmentId: id, environment: null, source, at });
      return;
    }
    this.environments.set(id, row);
    if (before && JSON.stringify({ ...before, updatedAt: 0 }) === JSON.stringify({ ...row, updatedAt: 0 })) return;
    this.environmentEvents.publish({ kind: before ? "UPDATED" : "ADDED", environmentId: id, environment: row, source, at: source === "DATABASE" ? row.updatedAt : at });
  }

  private applyServer(id: string, row: ServerRow | null, source: EventSource, now: Date) {
    const before = this.servers.get(id);
    if (!row) {
      if (!before) return;
      this.servers.delete(id);
      this.serverEvents.publish({
        kind: "REMOVED", serverId: id, server: null, environment: this.environments.get(before.row.environmentId) ?? null,
        previous: before.status, current: null, statusChanged: true, source, at: now,
      });
      return;
    }
    const after = this.toCached(row, now);
    this.servers.set(id, after);
    if (source === "DATABASE") this.options.onLag?.(Math.max(0, Date.now() - row.updatedAt.getTime()) / 1000);
    const statusChanged = !before || before.status.state !== after.status.state || before.status.health !== after.status.health;
    if (before && before.key === after.key && !statusChanged) return;
    this.serverEvents.publish({
      kind: before ? "UPDATED" : "ADDED", serverId: id, server: row, environment: this.environments.get(row.environmentId) ?? null,
      previous: before?.status ?? null, current: after.status, statusChanged, source, at: source === "DATABASE" ? row.updatedAt : now,
    });
  }

  // The health clock: one timer, for the nearest moment a running server's health changes.
  private scheduleClock() {
    if (this.stopped) return;
    const { clock, thresholds } = this.options;
    const now = clock.now();
    let next: number | undefined;
    for (const { row, status } of this.servers.values()) {
      const at = nextHealthChange(status.state, row.lastHeartbeat, now, thresholds)?.getTime();
      if (at !== undefined && (next === undefined || at < next)) next = at;
    }
    if (next === this.clockDue) return;
    if (this.clockTimer !== undefined) clock.clearTimer(this.clockTimer);
    this.clockTimer = undefined;
    this.clockDue = next;
    if (next !== undefined) this.clockTimer = clock.setTimer(() => this.tick(), next - now.getTime());
  }

  private tick() {
    this.clockTimer = undefined;
    this.clockDue = undefined;
    const now = this.options.clock.now();
    for (const [id, cached] of this.servers) {
      const status = serverStatus(cached.row, now, this.options.thresholds);
      if (status.health === cached.status.health && status.state === cached.status.state) continue;
      this.servers.set(id, { ...cached, status });
      this.serverEvents.publish({
        kind: "UPDATED", serverId: id, server: cached.row, environment: this.environments.get(cached.row.environmentId) ?? null,
        previous: cached.status, current: status, statusChanged: true, source: "HEALTH_CLOCK", at: now,
      });
    }
    this.scheduleClock();
  }

  /** Servers changed after `since`, as events, to replay before live events on a resumed subscription. */
  async *replay(since: Date): AsyncGenerator<ServerEvent> {
    const now = this.options.clock.now();
    const time = { now, thresholds: this.options.thresholds };
    for await (const page of allPages((after) => this.store.serversChangedSince(since, time, { first: LOAD_PAGE, after }))) {
      const envs = new Map(page.environments.map((e) => [e.id, e]));
      for (const row of page.rows) {
        const current = serverStatus(row, now, this.options.thresholds);
        yield { kind: "UPDATED", serverId: row.id, server: row, environment: envs.get(row.environmentId) ?? null, previous: null, current, statusChanged: true, source: "REPLAY", at: row.updatedAt > now ? row.updatedAt : now };
      }
    }
  }
}
