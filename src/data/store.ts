// The store interface every implementation (SQL over pg or PGlite, supabase-js) fulfils.
import type { Reachability } from "../domain/reachability.ts";
import type { RecoveryStatus } from "../domain/recovery.ts";
import type { RiskLevel } from "../domain/risk.ts";
import type { DesiredState, HeartbeatThresholds, InstallationStatus, ServerHealth, ServerState } from "../domain/status.ts";
import type { Db } from "./db.ts";
import type { CatalogToolRow, ConnectionTestRow, EnvironmentColumn, EnvironmentRow, NewConnectionTest, ServerColumn, ServerRow } from "./rows.ts";

export type ServerType = "mcp_server" | "standard_tool";

/** Who wrote a fleet row, as the write tags itself (migration 014); any other write is DATABASE. */
export type WriteSource = "LIFECYCLE" | "AGENT_REPORT" | "MONITOR" | "AUTO_RECOVERY" | "PROBE" | "EARLY_WARNING";
export const WRITE_SOURCES: readonly WriteSource[] = ["LIFECYCLE", "AGENT_REPORT", "MONITOR", "AUTO_RECOVERY", "PROBE", "EARLY_WARNING"];

export interface DtmaReport {
  at: Date;
  version: string | null;
  systemMetrics: Record<string, unknown> | null;
  /** Matched by id when given, else by container name within the environment. */
  instances: Array<{ id: string | null; name: string | null; status: InstallationStatus }>;
  /** Instances of the environment the report does not mention, and which were running, become `error` with this message. */
  missingMessage?: string;
}

export interface NewServer {
  environmentId: string;
  image: string;
  /** Deploy of a catalog entry: the row references it (else a private entry for `image` is made). */
  catalogToolId?: string;
  name: string;
  status: InstallationStatus;
  portMapping: unknown;
  baseConfigOverride: unknown;
  transport: string;
  endpointPath: string;
}

/** The counts at the top of a dashboard: the viewer's servers (under a filter) and their droplets. */
export interface FleetSummary {
  servers: number;
  byState: Record<ServerState, number>;
  byHealth: Record<ServerHealth, number>;
  environments: number;
  byEnvironmentStatus: Array<{ status: string; count: number }>;
  byRegion: Array<{ region: string; servers: number; environments: number }>;
}

export interface RiskLevelChange {
  id: string;
  level: RiskLevel;
}

/** One transition of a server's state or health (status history). */
export interface StatusTransition {
  serverId: string;
  environmentId: string;
  userId: string | null;
  /** The row version's time for a write, the threshold's moment for heartbeat ageing: the same on every replica. */
  at: Date;
  previous: { state: ServerState; health: ServerHealth } | null;
  current: { state: ServerState; health: ServerHealth };
  source: string;
  /** What automatic recovery did (an attempt, its outcome, giving up); null for a plain transition. */
  detail?: string | null;
}

/** One change of a droplet's status (status history). */
export interface EnvironmentTransition {
  environmentId: string;
  userId: string | null;
  at: Date;
  previousStatus: string | null;
  status: string;
  source: string;
}

export interface ServerConfig {
  baseConfigOverride: unknown;
  portMapping: unknown;
  transport: string;
  endpointPath: string;
  version: string | null;
  containerId: string | null;
}

export interface ServerFilter {
  /** Only servers on environments of this user (tenant isolation, as upstream's RLS). */
  ownerId?: string;
  /** Only these servers. */
  ids?: string[];
  environmentIds?: string[];
  states?: ServerState[];
  healths?: ServerHealth[];
  serverTypes?: ServerType[];
  /** Case-insensitive substring of the server's name. */
  search?: string;
  /** The desired axis (a row nobody spoke for wants what it is: domain/status.ts desiredStateOf). */
  desiredStates?: DesiredState[];
  /** The reachability the last test left (UNKNOWN: never tested). */
  reachabilities?: Reachability[];
  /** Automatic recovery's status (domain/recovery.ts recoveryStatusOf). */
  recoveries?: RecoveryStatus[];
  /** The risk level the early-warning watch last judged (NONE before it did). */
  risks?: RiskLevel[];
}

export interface CatalogFilter {
  /** Public entries and this user's own (raw-image deploys); every entry when absent (service role). */
  ownerId?: string;
  search?: string;
  categories?: string[];
  statuses?: string[];
}

export interface EnvironmentFilter {
  /** Only environments of this user. */
  ownerId?: string;
  statuses?: string[];
  search?: string;
  /** As ServerFilter's. */
  risks?: RiskLevel[];
}

/**
 * Position after which a page starts: the row's sort key as the database prints it (exact, so
 * timestamps keep their microseconds; the name in the default order) and its id, the tie-break.
 */
export interface Cursor {
  key: string | null;
  id: string;
}

export type ServerOrderField = "NAME" | "STATE" | "HEALTH" | "LAST_HEARTBEAT" | "UPTIME" | "CREATED_AT" | "UPDATED_AT";
export type EnvironmentOrderField = "NAME" | "STATUS" | "REGION" | "LAST_HEARTBEAT" | "CREATED_AT" | "UPDATED_AT";

/** A list's order: by `field`, ties by id; rows without a value (never a heartbeat) come last either way. */
export interface Order<F extends string> {
  field: F;
  descending: boolean;
}

export interface PageArgs {
  /** How many rows, in the direction of travel. */
  first: number;
  /** Start after this row, in the direction of travel. */
  after?: Cursor;
  /** Travel from the end towards the start (Relay's `last`/`before`); rows still come in list order. */
  backward?: boolean;
}

export interface ServerPageArgs extends PageArgs {
  order?: Order<ServerOrderField>;
}

export interface EnvironmentPageArgs extends PageArgs {
  order?: Order<EnvironmentOrderField>;
}

/** A page of environments; with `serverCounts` asked for, each one's count of MCP servers. */
export interface EnvironmentPage extends Page<EnvironmentRow> {
  serverCounts?: number[];
}

export interface Page<T> {
  rows: T[];
  /** More rows lie beyond this page in the direction of travel. */
  hasNextPage: boolean;
  /** Each row's sort key (as in `Cursor.key`), when the list is not in name order. */
  keys?: Array<string | null>;
}

/**
 * Where a resumed subscription starts. `position` is a database snapshot (SQL stores, migration
 * 010): a change is replayed when its transaction is not visible in it, i.e. committed after the
 * cursor was issued. Without one (Supabase), writes after `at` are replayed. Health crossings by
 * time are replayed from `at` either way.
 */
export interface ReplayFrom {
  position: string | null;
  at: Date;
}

/** What changed since a position, and the position that covers it (one statement, one snapshot). */
export interface Delta {
  position: string;
  /** Servers written or deleted after the old position. */
  serverIds: string[];
  /** Environments written or deleted after the old position. */
  environmentIds: string[];
}

/** A deleted MCP server (or droplet: `id` = `environmentId`), remembered for `REMOVED_SERVERS_KEPT_MS` (migrations 008, 010). */
export interface RemovedServer {
  id: string;
  environmentId: string;
  /** The droplet's owner when it was deleted. */
  userId: string | null;
  removedAt: Date;
  /** Exact position (the database's microseconds) to page on. */
  cursor: { at: string; id: string };
}

/** How long deletions are remembered for replay (the interval migration 008 prunes at); `since` older than this is refused. */
export const REMOVED_SERVERS_KEPT_MS = 7 * 24 * 3600_000;

/** A page of servers with the environments they belong to, read in the same round trip. */
export interface ServerPage extends Page<ServerRow> {
  environments: EnvironmentRow[];
}

/** Time-dependent filters (health) are evaluated at `now`. */
export interface QueryTime {
  now: Date;
  thresholds: HeartbeatThresholds;
}

/** The columns a page reads, of its servers and of their environments; all of them if not given. */
export interface Columns {
  server?: readonly ServerColumn[];
  /** Of the page's environments; an empty list: the selection reads none, and a SQL store reads none. */
  environment?: readonly EnvironmentColumn[];
}

/** Where change notices come from: Postgres LISTEN (pg, PGlite) or Supabase Realtime. */
export type ChangeFeed = Pick<Db, "listen">;

/** What a store can do beyond reading and writing rows, known once when it is opened. */
export interface StoreCapabilities {
  /** The change feed the live fleet listens to. */
  feed: ChangeFeed;
  /** Runs `fn` on one replica at a time (a session advisory lock); absent where there is none. */
  withLock?: Db["withAdvisoryLock"];
  /** The store as a user's own access token sees it (upstream row-level security); absent elsewhere. */
  asUser?: (accessToken: string) => Store;
  /** Commit positions (SQL stores): what the live fleet reloads, and what gap-free cursors hold. */
  positions?: {
    current(): Promise<string>;
    changedSince(position: string): Promise<Delta>;
  };
}

export interface Store {
  readonly kind: "postgres" | "pglite" | "supabase";
  readonly capabilities: StoreCapabilities;
  /** With `columns`, rows carry only those (and the keys); the rest are null. */
  listServers(filter: ServerFilter, page: ServerPageArgs, time: QueryTime, columns?: Columns): Promise<ServerPage>;
  countServers(filter: ServerFilter, time: QueryTime): Promise<number>;
  /** Counts by state, health, droplet status and region; one statement on SQL stores. */
  fleetSummary(filter: ServerFilter, time: QueryTime): Promise<FleetSummary>;
  /** The count for each environment, in one round trip where the engine allows (key order). */
  countServersByEnvironment(environmentIds: readonly string[], filter: ServerFilter, time: QueryTime): Promise<number[]>;
  /** One page of servers for each environment, in one round trip. */
  listServersByEnvironment(
    environmentIds: readonly string[],
    filter: ServerFilter,
    page: ServerPageArgs,
    time: QueryTime,
  ): Promise<Map<string, Page<ServerRow>>>;
  serversByIds(ids: readonly string[], ownerId?: string): Promise<(ServerRow | null)[]>;
  /** Servers changed after `from`: written since then, or whose health crossed a threshold with time. */
  serversChangedSince(from: ReplayFrom, time: QueryTime, page: PageArgs, ownerId?: string): Promise<ServerPage>;
  /** Servers deleted after `from`, in deletion order, paged after `after`. */
  serversRemovedSince(from: ReplayFrom, page: { first: number; after?: RemovedServer["cursor"] }, ownerId?: string): Promise<Page<RemovedServer>>;
  /** Environments written after `from`, by name. */
  environmentsChangedSince(from: ReplayFrom, page: PageArgs, ownerId?: string): Promise<Page<EnvironmentRow>>;
  /** Environments deleted after `from`, in deletion order. */
  environmentsRemovedSince(from: ReplayFrom, page: { first: number; after?: RemovedServer["cursor"] }, ownerId?: string): Promise<Page<RemovedServer>>;
  /** With `serverCounts`, each environment's count of MCP servers too, in the same statement. */
  listEnvironments(filter: EnvironmentFilter, page: EnvironmentPageArgs, options?: { serverCounts?: boolean }): Promise<EnvironmentPage>;
  countEnvironments(filter: EnvironmentFilter): Promise<number>;
  environmentsByIds(ids: readonly string[], ownerId?: string): Promise<(EnvironmentRow | null)[]>;
  /** Catalog entries in name order, those the filter's owner may see. */
  listCatalog(filter: CatalogFilter, page: PageArgs): Promise<Page<CatalogToolRow>>;
  countCatalog(filter: CatalogFilter): Promise<number>;
  catalogByIds(ids: readonly string[], ownerId?: string): Promise<(CatalogToolRow | null)[]>;
  /** Stores a test and keeps only the server's newest `keep` (history retention). */
  /** Stores a test, keeping the server's newest `keep`; with `reachability`, also the server's (as setReachability does), in the same statement where the engine allows. */
  insertConnectionTest(test: NewConnectionTest, keep: number, reachability?: string): Promise<ConnectionTestRow>;
  /** The newest test of each server, in key order (null when never tested). */
  lastConnectionTests(serverIds: readonly string[]): Promise<(ConnectionTestRow | null)[]>;
  /** Each server's newest `first` tests, newest first, in one round trip where the engine allows (key order). */
  connectionTestsOf(serverIds: readonly string[], first: number): Promise<ConnectionTestRow[][]>;
  connectionTestsByIds(ids: readonly string[]): Promise<(ConnectionTestRow | null)[]>;
  // Writes (fleet operations). Each is one statement.
  /** Sets a server's stored status; `errorMessage` undefined keeps the stored message. Written as `source` (LIFECYCLE). */
  setServerStatus(id: string, status: InstallationStatus, errorMessage?: string | null, source?: WriteSource): Promise<ServerRow | null>;
  /** A server's health policy; only the given fields change. Turning recovery on again clears its record (an open circuit closes). */
  setServerHealthPolicy(id: string, policy: { autoRecovery?: boolean; probeBudgetMs?: number | null }): Promise<ServerRow | null>;
  /** Automatic recovery's record of a server (written as AUTO_RECOVERY); null clears it. */
  setRecovery(id: string, record: unknown): Promise<void>;
  /** The reachability the last test left, written (as PROBE) only when it differs; true when it did. */
  setReachability(id: string, reachability: string): Promise<boolean>;
  /** Risk levels the early-warning watch judged, written (as EARLY_WARNING) only where they differ. */
  setRiskLevels(levels: { servers: RiskLevelChange[]; environments: RiskLevelChange[] }): Promise<void>;
  /** Records transitions once each (copies from other replicas are ignored) and prunes past `keepDays`. */
  recordHistory(servers: StatusTransition[], environments: EnvironmentTransition[], keepDays: number): Promise<void>;
  /** Each server's newest transitions (before `before`), newest first, in key order. */
  statusHistoryOf(serverIds: readonly string[], page: { first: number; before?: Date }): Promise<StatusTransition[][]>;
  environmentHistoryOf(environmentIds: readonly string[], page: { first: number; before?: Date }): Promise<EnvironmentTransition[][]>;
  /** Stores what a successful connection test learned: the declared capabilities and the discovery record. */
  recordDiscovery(id: string, capabilities: unknown, discoveryMetadata: unknown): Promise<void>;
  /** Records the container a deploy created (the agent's container id). */
  setServerContainer(id: string, containerId: string | null): Promise<void>;
  /** Every MCP server row of an environment (a droplet runs tens of containers; at most 1,000 are read). */
  serversOn(environmentId: string): Promise<ServerRow[]>;
  /** Applies a DTMA report (refresh or heartbeat) to an environment and its instances, atomically. */
  applyDtmaReport(environmentId: string, report: DtmaReport): Promise<{ instancesUpdated: number }>;
  markEnvironmentUnresponsive(environmentId: string, error: string): Promise<void>;
  /** The environment whose DTMA holds this bearer token (heartbeat authentication). */
  environmentIdForToken(token: string): Promise<string | null>;
  /** The droplet's own agent token (dtma_bearer_token), for DTMA_CREDENTIAL=droplet-token; read only to call the agent. */
  dtmaTokenFor(environmentId: string): Promise<string | null>;
  createServer(server: NewServer): Promise<ServerRow>;
  deleteServer(id: string): Promise<boolean>;
  /** Repairs endpoint fields (doctor --fix); only the given fields change. */
  updateServerEndpoint(id: string, fields: { portMapping?: unknown; endpointPath?: string }): Promise<void>;
  /** A server's whole configuration after a change applied on its droplet (with the new container's id). */
  updateServerConfig(id: string, config: ServerConfig): Promise<void>;
  /** Cheap round trip for the health endpoint. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Puts rows in key order, null for a missing key (the DataLoader contract). */
export function inKeyOrder<T extends { id: string }>(ids: readonly string[], rows: T[]): (T | null)[] {
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ids.map((id) => byId.get(id) ?? null);
}

/** Splits a fetched `first + 1` rows into a page. */
/** Rows grouped by key, in the keys' order (an empty list for a key without rows). */
export function groupBy<R, T>(keys: readonly string[], rows: R[], keyOf: (row: R) => string, map: (row: R) => T): T[][] {
  const groups = new Map<string, T[]>(keys.map((k) => [k, []]));
  for (const row of rows) groups.get(keyOf(row))?.push(map(row));
  return keys.map((k) => groups.get(k) ?? []);
}

export function toPage<T>(rows: T[], first: number): Page<T> {
  return { rows: rows.slice(0, first), hasNextPage: rows.length > first };
}

/**
 * Every page of a keyset-paged list, in order: `fetch` is called with the cursor after the last
 * row, which `cursorOf` reads (by default the (name, id) cursor of every list).
 */
export function allPages<R extends { id: string; name: string | null }, P extends Page<R>>(fetch: (after: Cursor | undefined) => Promise<P>): AsyncGenerator<P>;
export function allPages<R, P extends Page<R>, C>(fetch: (after: C | undefined) => Promise<P>, cursorOf: (row: R) => C): AsyncGenerator<P>;
export async function* allPages<R, P extends Page<R>, C>(
  fetch: (after: C | undefined) => Promise<P>,
  cursorOf = (row: R) => ({ key: (row as { name: string | null }).name, id: (row as { id: string }).id }) as C,
): AsyncGenerator<P> {
  let after: C | undefined;
  for (;;) {
    const page = await fetch(after);
    yield page;
    const last = page.rows[page.rows.length - 1];
    if (!page.hasNextPage || last === undefined) return;
    after = cursorOf(last);
  }
}

/**
 * The store as one user sees it: every read carries the owner, so each implementation filters
 * inside its query and pages, counts and cursors reveal nothing of other tenants. Writes pass
 * through: they are only ever made to rows first read through this store. The service role uses
 * the store unscoped.
 */
export class ScopedStore implements Store {
  constructor(
    private readonly store: Store,
    private readonly ownerId: string,
  ) {}
  get kind() {
    return this.store.kind;
  }
  get capabilities() {
    return this.store.capabilities;
  }
  listServers(filter: ServerFilter, page: ServerPageArgs, time: QueryTime, columns?: Columns) {
    return this.store.listServers({ ...filter, ownerId: this.ownerId }, page, time, columns);
  }
  countServers(filter: ServerFilter, time: QueryTime) {
    return this.store.countServers({ ...filter, ownerId: this.ownerId }, time);
  }
  fleetSummary(filter: ServerFilter, time: QueryTime) {
    return this.store.fleetSummary({ ...filter, ownerId: this.ownerId }, time);
  }
  countServersByEnvironment(environmentIds: readonly string[], filter: ServerFilter, time: QueryTime) {
    return this.store.countServersByEnvironment(environmentIds, { ...filter, ownerId: this.ownerId }, time);
  }
  listServersByEnvironment(ids: readonly string[], filter: ServerFilter, page: ServerPageArgs, time: QueryTime) {
    return this.store.listServersByEnvironment(ids, { ...filter, ownerId: this.ownerId }, page, time);
  }
  serversByIds(ids: readonly string[]) {
    return this.store.serversByIds(ids, this.ownerId);
  }
  serversChangedSince(from: ReplayFrom, time: QueryTime, page: PageArgs) {
    return this.store.serversChangedSince(from, time, page, this.ownerId);
  }
  serversRemovedSince(from: ReplayFrom, page: { first: number; after?: RemovedServer["cursor"] }) {
    return this.store.serversRemovedSince(from, page, this.ownerId);
  }
  environmentsChangedSince(from: ReplayFrom, page: PageArgs) {
    return this.store.environmentsChangedSince(from, page, this.ownerId);
  }
  environmentsRemovedSince(from: ReplayFrom, page: { first: number; after?: RemovedServer["cursor"] }) {
    return this.store.environmentsRemovedSince(from, page, this.ownerId);
  }
  listEnvironments(filter: EnvironmentFilter, page: EnvironmentPageArgs, options?: { serverCounts?: boolean }) {
    return this.store.listEnvironments({ ...filter, ownerId: this.ownerId }, page, options);
  }
  listCatalog(filter: CatalogFilter, page: PageArgs) {
    return this.store.listCatalog({ ...filter, ownerId: this.ownerId }, page);
  }
  countCatalog(filter: CatalogFilter) {
    return this.store.countCatalog({ ...filter, ownerId: this.ownerId });
  }
  catalogByIds(ids: readonly string[]) {
    return this.store.catalogByIds(ids, this.ownerId);
  }
  countEnvironments(filter: EnvironmentFilter) {
    return this.store.countEnvironments({ ...filter, ownerId: this.ownerId });
  }
  environmentsByIds(ids: readonly string[]) {
    return this.store.environmentsByIds(ids, this.ownerId);
  }
  // Connection tests are read only for servers already read through this store.
  lastConnectionTests(ids: readonly string[]) {
    return this.store.lastConnectionTests(ids);
  }
  connectionTestsOf(serverIds: readonly string[], first: number) {
    return this.store.connectionTestsOf(serverIds, first);
  }
  connectionTestsByIds(ids: readonly string[]) {
    return this.store.connectionTestsByIds(ids);
  }
  insertConnectionTest(test: NewConnectionTest, keep: number, reachability?: string) {
    return this.store.insertConnectionTest(test, keep, reachability);
  }
  setServerStatus(id: string, status: InstallationStatus, errorMessage?: string | null, source?: WriteSource) {
    return this.store.setServerStatus(id, status, errorMessage, source);
  }
  // Written only for servers already read through this store (operations load them first).
  setServerHealthPolicy(id: string, policy: { autoRecovery?: boolean; probeBudgetMs?: number | null }) {
    return this.store.setServerHealthPolicy(id, policy);
  }
  setRecovery(id: string, record: unknown) {
    return this.store.setRecovery(id, record);
  }
  setReachability(id: string, reachability: string) {
    return this.store.setReachability(id, reachability);
  }
  setRiskLevels(levels: { servers: RiskLevelChange[]; environments: RiskLevelChange[] }) {
    return this.store.setRiskLevels(levels);
  }
  setServerContainer(id: string, containerId: string | null) {
    return this.store.setServerContainer(id, containerId);
  }
  recordHistory(servers: StatusTransition[], environments: EnvironmentTransition[], keepDays: number) {
    return this.store.recordHistory(servers, environments, keepDays);
  }
  // The ids come from rows read through this store: the viewer's own.
  statusHistoryOf(serverIds: readonly string[], page: { first: number; before?: Date }) {
    return this.store.statusHistoryOf(serverIds, page);
  }
  environmentHistoryOf(environmentIds: readonly string[], page: { first: number; before?: Date }) {
    return this.store.environmentHistoryOf(environmentIds, page);
  }
  recordDiscovery(id: string, capabilities: unknown, discoveryMetadata: unknown) {
    return this.store.recordDiscovery(id, capabilities, discoveryMetadata);
  }
  async serversOn(environmentId: string) {
    // Only an environment the viewer can see.
    const [env] = await this.store.environmentsByIds([environmentId], this.ownerId);
    return env ? this.store.serversOn(environmentId) : [];
  }
  applyDtmaReport(environmentId: string, report: DtmaReport) {
    return this.store.applyDtmaReport(environmentId, report);
  }
  markEnvironmentUnresponsive(environmentId: string, error: string) {
    return this.store.markEnvironmentUnresponsive(environmentId, error);
  }
  environmentIdForToken(token: string) {
    return this.store.environmentIdForToken(token);
  }
  dtmaTokenFor(environmentId: string) {
    return this.store.dtmaTokenFor(environmentId);
  }
  createServer(server: NewServer) {
    return this.store.createServer(server);
  }
  deleteServer(id: string) {
    return this.store.deleteServer(id);
  }
  updateServerEndpoint(id: string, fields: { portMapping?: unknown; endpointPath?: string }) {
    return this.store.updateServerEndpoint(id, fields);
  }
  updateServerConfig(id: string, config: ServerConfig) {
    return this.store.updateServerConfig(id, config);
  }
  ping() {
    return this.store.ping();
  }
  close() {
    return this.store.close();
  }
}
