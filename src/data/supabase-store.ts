// The store over Supabase: the same reads as PostgREST requests through supabase-js.
// With a user's token (auth issue), Postgres row-level security applies to every request.
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import WebSocket from "ws";
import {
  healthConditions,
  healthCrossings,
  ENVIRONMENT_STATUS_SEVERITY,
  installationStatusesFor,
  statusesDefaultingTo,
  SERVER_HEALTH_SEVERITY,
  SERVER_HEALTHS,
  SERVER_STATE_SEVERITY,
  SERVER_STATES,
  type HealthCondition,
  type InstallationStatus,
} from "../domain/status.ts";
import { FEED_TABLES, type Notice } from "./notices.ts";
import { DatabaseUnavailableError } from "./db.ts";
import { finishPage, quote, type Segment, SegmentedOrder, type SegmentRequest } from "./postgrest-order.ts";
import {
  CONNECTION_TEST_COLUMNS,
  ENVIRONMENT_COLUMNS,
  SERVER_COLUMNS,
  CATALOG_COLUMNS,
  connectionTestValues,
  privateCatalogName,
  toCatalogToolRow,
  type CatalogToolRow,
  distinctEnvironments,
  environmentColumns,
  serverColumns,
  toConnectionTestRow,
  toEnvironmentRow,
  toRemovedServer,
  toEnvironmentTransition,
  toStatusTransition,
  historyArgs,
  statusTransitionValues,
  environmentTransitionValues,
  toServerRow,
  type ConnectionTestRow,
  type EnvironmentRow,
  type NewConnectionTest,
} from "./rows.ts";
import {
  groupBy,
  inKeyOrder,
  toPage,
  type Columns,
  type DtmaReport,
  type EnvironmentFilter,
  type EnvironmentPage,
  type EnvironmentPageArgs,
  type Order,
  type ServerOrderField,
  type ServerPageArgs,
  type RiskLevelChange,
  type WriteSource,
  type NewServer,
  type Page,
  type PageArgs,
  type QueryTime,
  type CatalogFilter,
  type FleetSummary,
  type EnvironmentTransition,
  type StatusTransition,
  type ServerConfig,
  type RemovedServer,
  type ReplayFrom,
  type ServerFilter,
  type ServerPage,
  type Store,
  type StoreCapabilities,
} from "./store.ts";

/** Per-user stores kept (see asUser); the oldest goes first. */
const USER_STORES_KEPT = 1000;

export interface SupabaseStoreOptions {
  url: string;
  key: string;
  timeoutMs: number;
  /** For tests at the boundary: the fetch supabase-js uses. */
  fetch?: typeof fetch;
  /** A user's access token: requests run as that user, so Postgres row-level security applies. */
  accessToken?: string;
}

export { quote };
const list = (values: readonly string[]) => `(${values.map(quote).join(",")})`;

/** Rows whose `column` is one of `values`, or (with `orNull`) null; an empty choice matches no row. */
function inOrNull(column: string, values: readonly string[], orNull: boolean): string {
  const either = [...(values.length ? [`${column}.in.${list(values)}`] : []), ...(orNull ? [`${column}.is.null`] : [])];
  return either.length > 1 ? `or(${either.join(",")})` : (either[0] ?? "id.is.null");
}
const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

function healthTree(c: HealthCondition): string {
  const parts = [`status_on_toolbox.in.${list(c.statuses)}`];
  const window: string[] = [];
  if (c.heartbeatAfter) window.push(`last_heartbeat_from_dtma.gt.${quote(c.heartbeatAfter.toISOString())}`);
  if (c.heartbeatAtOrBefore) window.push(`last_heartbeat_from_dtma.lte.${quote(c.heartbeatAtOrBefore.toISOString())}`);
  const all = (conditions: string[]) => (conditions.length > 1 ? `and(${conditions.join(",")})` : conditions[0]);
  if (window.length) parts.push(c.orHeartbeatNull ? `or(${all(window)},last_heartbeat_from_dtma.is.null)` : window.join(","));
  if (c.heartbeatNull) parts.push("last_heartbeat_from_dtma.is.null");
  const started: string[] = [];
  if (c.startedAfter) started.push(`last_started_at.gt.${quote(c.startedAfter.toISOString())}`);
  if (c.startedAtOrBefore) started.push(`last_started_at.lte.${quote(c.startedAtOrBefore.toISOString())}`);
  if (started.length) parts.push(c.orStartedNull ? `or(${all(started)},last_started_at.is.null)` : started.join(","));
  if (c.reachabilities) {
    const known = c.reachabilities.filter((r) => r !== null);
    parts.push(inOrNull("mcp_fleet_reachability", known, c.reachabilities.includes(null)));
  }
  return `and(${parts.join(",")})`;
}

/** (name, id) keyset condition, the same order as the SQL store: name ASC NULLS LAST, id ASC. */
function serverOrder(order: Order<ServerOrderField> | undefined, time: QueryTime): SegmentedOrder {
  const descending = order?.descending;
  const ranks = <T extends string>(severity: readonly T[], tree: (value: T) => string | null): Segment[] =>
    severity.flatMap((value, i) => {
      const t = tree(value);
      return t ? [{ tree: t, key: String(i) }] : [];
    });
  switch (order?.field ?? "NAME") {
    case "NAME":
      return new SegmentedOrder([{ tree: null, column: "instance_name_on_toolbox" }], { descending });
    case "LAST_HEARTBEAT":
      return new SegmentedOrder([{ tree: null, column: "last_heartbeat_from_dtma" }], { descending });
    case "CREATED_AT":
      return new SegmentedOrder([{ tree: null, column: "created_at" }], { descending });
    case "UPDATED_AT":
      return new SegmentedOrder([{ tree: null, column: "updated_at" }], { descending });
    case "STATE":
      return new SegmentedOrder(
        ranks(SERVER_STATE_SEVERITY, (state) => {
          const statuses = installationStatusesFor(state);
          return statuses.length ? `status_on_toolbox.in.${list(statuses)}` : null;
        }),
        { descending, ranked: true },
      );
    case "HEALTH":
      return new SegmentedOrder(
        ranks(SERVER_HEALTH_SEVERITY, (health) => {
          const conditions = healthConditions(health, time.now, time.thresholds);
          return conditions.length ? `or(${conditions.map(healthTree).join(",")})` : null;
        }),
        { descending, ranked: true },
      );
    case "UPTIME": {
      // Only a running server has an uptime: the others come last, as rows without a value.
      const running = list(installationStatusesFor("RUNNING"));
      return new SegmentedOrder(
        [
          { tree: `and(status_on_toolbox.in.${running},last_started_at.not.is.null)`, column: "last_started_at" },
          { tree: `or(status_on_toolbox.not.in.${running},last_started_at.is.null)`, key: null },
        ],
        { descending, inverted: true },
      );
    }
  }
}

function environmentOrder(page: EnvironmentPageArgs): SegmentedOrder {
  const descending = page.order?.descending;
  const column = { NAME: "name", REGION: "region_slug", LAST_HEARTBEAT: "last_heartbeat_at", CREATED_AT: "created_at", UPDATED_AT: "updated_at", STATUS: null }[
    page.order?.field ?? "NAME"
  ];
  if (column) return new SegmentedOrder([{ tree: null, column }], { descending });
  return new SegmentedOrder(
    ENVIRONMENT_STATUS_SEVERITY.map((status, i) => ({ tree: `status.eq.${status}`, key: String(i) })),
    { descending, ranked: true },
  );
}

const byName = (column: string) => new SegmentedOrder([{ tree: null, column }]);

const WRITE_SOURCE_HEADER = "x-mcp-fleet-source";

interface PostgrestRequest {
  setHeader(name: string, value: string): unknown;
  retry(enabled: boolean): PromiseLike<{ data: unknown; error: { message: string; code?: string } | null; count?: number | null; status: number }>;
}

// The query builder type is deep; filters only need these methods.
interface Filterable {
  eq(column: string, value: unknown): this;
  overlaps(column: string, values: readonly unknown[]): this;
  in(column: string, values: readonly unknown[]): this;
  not(column: string, operator: string, value: unknown): this;
  ilike(column: string, pattern: string): this;
  or(filters: string, options?: { referencedTable?: string }): this;
}

interface Orderable<Self> {
  order(column: string, options: { ascending: boolean; nullsFirst?: boolean; referencedTable?: string }): Self;
  limit(count: number, options?: { referencedTable?: string }): Self;
}

/** A segment request's order (then id) and limit, on the table or an embedded one. */
function ordered<Q extends Orderable<Q>>(query: Q, request: SegmentRequest, limit: number, referencedTable?: string): Q {
  let q = query;
  if (request.column) q = q.order(request.column, { ascending: request.ascending, nullsFirst: request.nullsFirst, referencedTable });
  return q.order("id", { ascending: request.idAscending, referencedTable }).limit(limit, { referencedTable });
}

export class SupabaseStore implements Store {
  readonly kind = "supabase" as const;
  // Realtime is the change feed; there is no advisory lock through PostgREST.
  readonly capabilities: StoreCapabilities = { feed: this, asUser: (accessToken) => this.asUser(accessToken) };
  readonly client: SupabaseClient;
  private readonly users = new Map<string, SupabaseStore>();
  /** For a user's store: the service store, which writes what only the service role may. */
  private service: SupabaseStore | undefined;

  constructor(private readonly options: SupabaseStoreOptions) {
    const baseFetch = options.fetch ?? fetch;
    // Every request has a deadline, whatever supabase-js does.
    const timedFetch: typeof fetch = (input, init) => {
      const timeout = AbortSignal.timeout(options.timeoutMs);
      const signal = init?.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
      // Race the signal too, so the deadline holds even for a fetch that ignores it.
      const aborted = new Promise<never>((_, reject) => signal.addEventListener("abort", () => reject(signal.reason), { once: true }));
      return Promise.race([baseFetch(input, { ...init, signal }), aborted]);
    };
    this.client = createClient(options.url, options.key, {
      auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
      global: { fetch: timedFetch, ...(options.accessToken ? { headers: { Authorization: `Bearer ${options.accessToken}` } } : {}) },
      // Node 20 has no global WebSocket; Realtime (the change feed) needs one.
      realtime: { transport: WebSocket as unknown as typeof globalThis.WebSocket },
    });
  }

  /**
   * The same store, acting as the user whose access token this is (RLS applies to every request).
   * One per token, kept for the token's next requests: building a supabase-js client on every
   * GraphQL request would be work on the hot path.
   */
  asUser(accessToken: string): SupabaseStore {
    let store = this.users.get(accessToken);
    if (!store) {
      if (this.users.size >= USER_STORES_KEPT) this.users.delete(this.users.keys().next().value as string);
      store = new SupabaseStore({ ...this.options, accessToken });
      store.service = this;
      this.users.set(accessToken, store);
    }
    return store;
  }

  /** Runs a request; a write names its writer (`source`, migration 014) in a header PostgREST passes to the trigger. */
  private async run<T>(request: PostgrestRequest, source?: WriteSource): Promise<{ data: T; count: number | null }> {
    if (source) request.setHeader(WRITE_SOURCE_HEADER, source);
    let result: Awaited<ReturnType<PostgrestRequest["retry"]>>;
    try {
      // postgrest-js would retry a failed read for 7 s; a GraphQL request should fail fast
      // with UPSTREAM_UNAVAILABLE and let the client decide.
      result = await request.retry(false);
    } catch (error) {
      throw new DatabaseUnavailableError(error);
    }
    if (result.error) {
      // No HTTP status (network failure, timeout) or a gateway error: Supabase is unavailable.
      if (result.status === 0 || result.status >= 500 || !result.status) throw new DatabaseUnavailableError(result.error);
      throw new Error(`Supabase request failed (${result.status} ${result.error.code ?? ""}): ${result.error.message}`);
    }
    return { data: result.data as T, count: result.count ?? null };
  }

  /**
   * The filter on the servers, or, with `embedded`, on the servers embedded under that name in a
   * request for environments (whose owner the caller filters). `tree` is a segment's request.
   */
  private applyServerFilter<Q extends Filterable>(
    query: Q,
    filter: ServerFilter,
    time: QueryTime,
    tree?: string | null,
    changedSince?: Date,
    embedded?: string,
  ): Q {
    const c = (column: string) => (embedded ? `${embedded}.${column}` : column);
    let q = query.not(c("mcp_server_type"), "is", null);
    if (filter.ownerId && !embedded) q = q.eq("environment.user_id", filter.ownerId);
    if (filter.ids) q = q.in(c("id"), filter.ids);
    if (filter.environmentIds) q = q.in(c("account_tool_environment_id"), filter.environmentIds);
    if (filter.serverTypes) q = q.in(c("mcp_server_type"), filter.serverTypes);
    if (filter.states) q = q.in(c("status_on_toolbox"), filter.states.flatMap(installationStatusesFor));
    if (filter.search) q = q.ilike(c("instance_name_on_toolbox"), `%${escapeLike(filter.search)}%`);
    // Both trees go in one `or` parameter holding a single `and`, so they are ANDed explicitly.
    const trees: string[] = [];
    if (filter.healths) {
      const conditions = filter.healths.flatMap((h) => healthConditions(h, time.now, time.thresholds));
      trees.push(conditions.length ? `or(${conditions.map(healthTree).join(",")})` : "id.is.null");
    }
    if (filter.desiredStates) {
      const either = filter.desiredStates.map(
        (d) => `mcp_fleet_desired_state.eq.${d},and(mcp_fleet_desired_state.is.null,status_on_toolbox.in.${list(statusesDefaultingTo(d))})`,
      );
      trees.push(either.length ? `or(${either.join(",")})` : "id.is.null");
    }
    if (filter.risks) trees.push(inOrNull("mcp_fleet_risk", filter.risks, filter.risks.includes("NONE")));
    // Never tested (null) reads as UNKNOWN; never judged as NONE.
    if (filter.reachabilities) {
      const known = filter.reachabilities.filter((r) => r !== "UNKNOWN");
      trees.push(inOrNull("mcp_fleet_reachability", known, known.length < filter.reachabilities.length));
    }
    if (filter.recoveries) {
      const either = filter.recoveries.map((r) =>
        r === "DISABLED"
          ? "mcp_fleet_auto_recovery.is.false"
          : r === "IDLE"
            ? "and(mcp_fleet_auto_recovery.is.true,mcp_fleet_recovery.is.null)"
            : `and(mcp_fleet_auto_recovery.is.true,mcp_fleet_recovery->>state.eq.${r})`,
      );
      trees.push(either.length ? `or(${either.join(",")})` : "id.is.null");
    }
    if (tree) trees.push(tree);
    if (changedSince) {
      const crossings = healthCrossings(changedSince, time.now, time.thresholds).map(healthTree);
      trees.push(`or(updated_at.gt.${quote(changedSince.toISOString())},${crossings.join(",")})`);
    }
    if (trees.length) q = q.or(`and(${trees.join(",")})`, embedded ? { referencedTable: embedded } : undefined);
    return q;
  }

  listServers(filter: ServerFilter, page: ServerPageArgs, time: QueryTime, columns?: Columns): Promise<ServerPage> {
    return this.serverList(filter, page, serverOrder(page.order, time), time, undefined, columns);
  }

  // The environment is embedded (as upstream's MCP_SERVER_SELECT did): one request per page, or
  // per segment of an order by rank.
  private async serverList(
    filter: ServerFilter,
    page: PageArgs,
    order: SegmentedOrder,
    time: QueryTime,
    changedSince?: Date,
    columns?: Columns,
  ): Promise<ServerPage> {
    const paged = await order.page(page, async (request, limit) => {
      // The order's column is read too: the cursor is its value.
      const server: string[] = [...serverColumns(columns?.server)];
      if (request.column && !server.includes(request.column)) server.push(request.column);
      const query = this.client
        .from("account_tool_instances")
        .select(`${server.join(",")},environment:account_tool_environments!inner(${environmentColumns(columns?.environment).join(",")})`);
      const { data } = await this.run<Record<string, unknown>[]>(
        ordered(this.applyServerFilter(query, filter, time, request.tree, changedSince), request, limit),
      );
      return data;
    });
    return {
      rows: paged.rows.map(toServerRow),
      hasNextPage: paged.hasNextPage,
      keys: paged.keys,
      environments: distinctEnvironments(paged.rows, (r) => toEnvironmentRow(r.environment as Record<string, unknown>)),
    };
  }

  // Supabase has no commit positions (PostgREST cannot compare snapshots): resume is by time.
  serversChangedSince(from: ReplayFrom, time: QueryTime, page: PageArgs, ownerId?: string): Promise<ServerPage> {
    return this.serverList({ ownerId }, page, byName("instance_name_on_toolbox"), time, from.at);
  }

  environmentsChangedSince(from: ReplayFrom, page: PageArgs, ownerId?: string): Promise<Page<EnvironmentRow>> {
    return this.environmentList({ ownerId }, page, byName("name"), from.at);
  }

  private async environmentList(
    filter: EnvironmentFilter,
    page: PageArgs,
    order: SegmentedOrder,
    changedSince?: Date,
    serverCounts = false,
  ): Promise<EnvironmentPage> {
    const paged = await order.page(page, async (request, limit) => {
      // The count of each environment's MCP servers, embedded in the same request.
      let query = this.client
        .from("account_tool_environments")
        .select(`${ENVIRONMENT_COLUMNS.join(",")}${serverCounts ? ",servers:account_tool_instances(count)" : ""}`);
      if (serverCounts) query = query.not("servers.mcp_server_type", "is", null);
      if (changedSince) query = query.gt("updated_at", changedSince.toISOString());
      const { data } = await this.run<Record<string, unknown>[]>(ordered(this.applyEnvironmentFilter(query, filter, request.tree), request, limit));
      return data;
    });
    return {
      rows: paged.rows.map(toEnvironmentRow),
      hasNextPage: paged.hasNextPage,
      keys: paged.keys,
      serverCounts: serverCounts ? paged.rows.map((r) => (r.servers as Array<{ count: number }>)[0]?.count ?? 0) : undefined,
    };
  }

  serversRemovedSince(from: ReplayFrom, page: { first: number; after?: RemovedServer["cursor"] }, ownerId?: string): Promise<Page<RemovedServer>> {
    return this.removedSince("mcp_fleet_removed_servers", "account_tool_instance_id", "account_tool_environment_id", from, page, ownerId);
  }

  environmentsRemovedSince(from: ReplayFrom, page: { first: number; after?: RemovedServer["cursor"] }, ownerId?: string): Promise<Page<RemovedServer>> {
    return this.removedSince("mcp_fleet_removed_environments", "account_tool_environment_id", "account_tool_environment_id", from, page, ownerId);
  }

  private async removedSince(
    table: string,
    idColumn: string,
    environmentColumn: string,
    from: ReplayFrom,
    page: { first: number; after?: RemovedServer["cursor"] },
    ownerId?: string,
  ): Promise<Page<RemovedServer>> {
    let query = this.client
      .from(table)
      .select(`id:${idColumn},environment_id:${environmentColumn},user_id,at:removed_at`)
      .gt("removed_at", from.at.toISOString());
    if (ownerId) query = query.eq("user_id", ownerId);
    if (page.after) query = query.or(`removed_at.gt.${quote(page.after.at)},and(removed_at.eq.${quote(page.after.at)},${idColumn}.gt.${page.after.id})`);
    const { data } = await this.run<Array<{ id: string; environment_id: string; user_id: string | null; at: string }>>(
      query
        .order("removed_at")
        .order(idColumn)
        .limit(page.first + 1),
    );
    return toPage(data.map(toRemovedServer), page.first);
  }

  private environmentStatuses(ownerId: string | undefined) {
    const query = this.client.from("account_tool_environments").select("id,status,region_slug") as unknown as PostgrestRequest & Filterable;
    const scoped = ownerId ? query.eq("user_id", ownerId) : query;
    return this.run<Array<{ id: string; status: string; region_slug: string }>>(scoped);
  }

  // PostgREST counts one filter per request: a head request per state and health, in parallel,
  // and the droplets (status and region) read once.
  async fleetSummary(filter: ServerFilter, time: QueryTime): Promise<FleetSummary> {
    const [total, states, healths, envs] = await Promise.all([
      this.countServers(filter, time),
      Promise.all(SERVER_STATES.map((state) => this.countServers({ ...filter, states: [state] }, time))),
      Promise.all(SERVER_HEALTHS.map((health) => this.countServers({ ...filter, healths: [health] }, time))),
      this.environmentStatuses(filter.ownerId),
    ]);
    const rows = filter.environmentIds ? envs.data.filter((e) => filter.environmentIds?.includes(e.id)) : envs.data;
    const perEnv = await this.countServersByEnvironment(
      rows.map((e) => e.id),
      filter,
      time,
    );
    const statuses = new Map<string, number>();
    const regions = new Map<string, { region: string; servers: number; environments: number }>();
    rows.forEach((e, i) => {
      statuses.set(e.status, (statuses.get(e.status) ?? 0) + 1);
      const r = regions.get(e.region_slug) ?? { region: e.region_slug, servers: 0, environments: 0 };
      r.servers += perEnv[i];
      r.environments++;
      regions.set(e.region_slug, r);
    });
    return {
      servers: total,
      byState: Object.fromEntries(SERVER_STATES.map((s, i) => [s, states[i]])) as FleetSummary["byState"],
      byHealth: Object.fromEntries(SERVER_HEALTHS.map((h, i) => [h, healths[i]])) as FleetSummary["byHealth"],
      environments: rows.length,
      byEnvironmentStatus: [...statuses].map(([status, count]) => ({ status, count })).sort((a, b) => a.status.localeCompare(b.status)),
      byRegion: [...regions.values()].sort((a, b) => a.region.localeCompare(b.region)),
    };
  }

  // One request: each environment with the count of its servers embedded (the filter applies to them).
  async countServersByEnvironment(environmentIds: readonly string[], filter: ServerFilter, time: QueryTime) {
    if (!environmentIds.length) return [];
    let query = this.client.from("account_tool_environments").select("id,servers:account_tool_instances(count)").in("id", environmentIds);
    if (filter.ownerId) query = query.eq("user_id", filter.ownerId);
    const { data } = await this.run<Array<{ id: string; servers: Array<{ count: number }> }>>(
      this.applyServerFilter(query, filter, time, null, undefined, "servers"),
    );
    const counts = new Map(data.map((e) => [e.id, e.servers[0]?.count ?? 0]));
    return environmentIds.map((id) => counts.get(id) ?? 0);
  }

  async countServers(filter: ServerFilter, time: QueryTime) {
    // The environment is embedded only to filter on its owner.
    const query = this.client
      .from("account_tool_instances")
      .select(filter.ownerId ? "id,environment:account_tool_environments!inner(user_id)" : "id", { count: "exact", head: true });
    const { count } = await this.run(this.applyServerFilter(query, filter, time));
    return count ?? 0;
  }

  // Every environment's page in one request (per segment of a rank order): the servers embedded
  // under their environments, filtered, ordered and limited per environment by PostgREST.
  async listServersByEnvironment(environmentIds: readonly string[], filter: ServerFilter, page: ServerPageArgs, time: QueryTime) {
    const read = new Map(environmentIds.map((id) => [id, [] as Array<{ row: Record<string, unknown>; key: string | null }>]));
    for (const request of serverOrder(page.order, time).requests(page)) {
      const open = environmentIds.filter((id) => (read.get(id)?.length ?? 0) <= page.first);
      if (!open.length) break;
      let query = this.client
        .from("account_tool_environments")
        .select(`id,servers:account_tool_instances(${SERVER_COLUMNS.join(",")})`)
        .in("id", open);
      if (filter.ownerId) query = query.eq("user_id", filter.ownerId);
      const { data } = await this.run<Array<{ id: string; servers: Record<string, unknown>[] }>>(
        ordered(this.applyServerFilter(query, filter, time, request.tree, undefined, "servers"), request, page.first + 1, "servers"),
      );
      for (const environment of data) {
        const rows = read.get(environment.id);
        for (const row of environment.servers) if (rows && rows.length <= page.first) rows.push({ row, key: request.keyOf(row) });
      }
    }
    return new Map(
      [...read].map(([id, rows]) => {
        const paged = finishPage(rows, page);
        return [id, { rows: paged.rows.map(toServerRow), hasNextPage: paged.hasNextPage, keys: paged.keys }];
      }),
    );
  }

  async serversByIds(ids: readonly string[], ownerId?: string) {
    const select = ownerId ? `${SERVER_COLUMNS.join(",")},environment:account_tool_environments!inner(user_id)` : SERVER_COLUMNS.join(",");
    let query = this.client.from("account_tool_instances").select(select).in("id", ids).not("mcp_server_type", "is", null);
    if (ownerId) query = query.eq("environment.user_id", ownerId);
    const { data } = await this.run<Record<string, unknown>[]>(query);
    return inKeyOrder(ids, data.map(toServerRow));
  }

  private applyEnvironmentFilter<Q extends Filterable>(query: Q, filter: EnvironmentFilter, tree?: string | null): Q {
    let q = query;
    if (filter.ownerId) q = q.eq("user_id", filter.ownerId);
    if (filter.statuses) q = q.in("status", filter.statuses);
    const trees: string[] = [];
    if (filter.search) {
      const pattern = quote(`%${escapeLike(filter.search)}%`);
      trees.push(`or(name.ilike.${pattern},do_droplet_name.ilike.${pattern})`);
    }
    if (filter.risks) trees.push(inOrNull("mcp_fleet_risk", filter.risks, filter.risks.includes("NONE")));
    if (tree) trees.push(tree);
    if (trees.length) q = q.or(`and(${trees.join(",")})`);
    return q;
  }

  private applyCatalogFilter<Q extends Filterable>(query: Q, filter: CatalogFilter, tree?: string | null): Q {
    let q = query;
    if (filter.statuses?.length) q = q.in("status", filter.statuses);
    if (filter.categories?.length) q = q.overlaps("categories", filter.categories);
    const trees: string[] = [];
    if (filter.ownerId) trees.push(`or(is_public.is.null,is_public.eq.true,created_by.eq.${filter.ownerId})`);
    if (filter.search) {
      const pattern = quote(`%${escapeLike(filter.search)}%`);
      trees.push(`or(tool_name.ilike.${pattern},description.ilike.${pattern},package_identifier.ilike.${pattern})`);
    }
    if (tree) trees.push(tree);
    if (trees.length) q = q.or(`and(${trees.join(",")})`);
    return q;
  }

  async listCatalog(filter: CatalogFilter, page: PageArgs): Promise<Page<CatalogToolRow>> {
    const paged = await byName("tool_name").page(page, async (request, limit) => {
      const query = this.client.from("tool_catalog").select(CATALOG_COLUMNS.join(","));
      const { data } = await this.run<Record<string, unknown>[]>(ordered(this.applyCatalogFilter(query, filter, request.tree), request, limit));
      return data;
    });
    return { rows: paged.rows.map(toCatalogToolRow), hasNextPage: paged.hasNextPage, keys: paged.keys };
  }

  async countCatalog(filter: CatalogFilter) {
    const query = this.client.from("tool_catalog").select("id", { count: "exact", head: true });
    const { count } = await this.run(this.applyCatalogFilter(query, filter));
    return count ?? 0;
  }

  async catalogByIds(ids: readonly string[], ownerId?: string) {
    const query = this.client.from("tool_catalog").select(CATALOG_COLUMNS.join(",")).in("id", ids);
    const { data } = await this.run<Record<string, unknown>[]>(this.applyCatalogFilter(query, { ownerId }));
    return inKeyOrder(ids, data.map(toCatalogToolRow));
  }

  listEnvironments(filter: EnvironmentFilter, page: EnvironmentPageArgs, options: { serverCounts?: boolean } = {}): Promise<EnvironmentPage> {
    return this.environmentList(filter, page, environmentOrder(page), undefined, options.serverCounts);
  }

  async countEnvironments(filter: EnvironmentFilter) {
    const query = this.client.from("account_tool_environments").select("id", { count: "exact", head: true });
    const { count } = await this.run(this.applyEnvironmentFilter(query, filter));
    return count ?? 0;
  }

  async environmentsByIds(ids: readonly string[], ownerId?: string) {
    let query = this.client.from("account_tool_environments").select(ENVIRONMENT_COLUMNS.join(",")).in("id", ids);
    if (ownerId) query = query.eq("user_id", ownerId);
    const { data } = await this.run<Record<string, unknown>[]>(query);
    return inKeyOrder(ids, data.map(toEnvironmentRow));
  }

  async insertConnectionTest(test: NewConnectionTest, keep: number, reachability?: string): Promise<ConnectionTestRow> {
    const query = this.client.from("mcp_connection_tests").insert(connectionTestValues(test)).select(CONNECTION_TEST_COLUMNS.join(","));
    const { data } = await this.run<Record<string, unknown>[]>(query);
    // PostgREST has no DELETE ... OFFSET: find the ids beyond `keep`, then delete them.
    const older = await this.run<Array<{ id: string }>>(
      this.client
        .from("mcp_connection_tests")
        .select("id")
        .eq("account_tool_instance_id", test.serverId)
        .order("tested_at", { ascending: false })
        .order("id", { ascending: false })
        .range(keep, keep + 999),
    );
    if (older.data.length)
      await this.run(
        this.client
          .from("mcp_connection_tests")
          .delete()
          .in(
            "id",
            older.data.map((r) => r.id),
          ),
      );
    if (reachability) await this.setReachability(test.serverId, reachability);
    return toConnectionTestRow(data[0]);
  }

  async lastConnectionTests(serverIds: readonly string[]) {
    return (await this.connectionTestsOf(serverIds, 1)).map((tests) => tests[0] ?? null);
  }

  // One request: the servers with their newest tests embedded, limited per server by PostgREST.
  async connectionTestsOf(serverIds: readonly string[], first: number) {
    if (!serverIds.length) return [];
    const query = this.client
      .from("account_tool_instances")
      .select(`id,tests:mcp_connection_tests(${CONNECTION_TEST_COLUMNS.join(",")})`)
      .in("id", serverIds)
      .order("tested_at", { ascending: false, referencedTable: "tests" })
      .order("id", { ascending: false, referencedTable: "tests" })
      .limit(first, { referencedTable: "tests" });
    const { data } = await this.run<Array<{ id: string; tests: Record<string, unknown>[] }>>(query);
    const byServer = new Map(data.map((s) => [s.id, s.tests.map(toConnectionTestRow)]));
    return serverIds.map((id) => byServer.get(id) ?? []);
  }

  async connectionTestsByIds(ids: readonly string[]) {
    const { data } = await this.run<Record<string, unknown>[]>(
      this.client.from("mcp_connection_tests").select(CONNECTION_TEST_COLUMNS.join(",")).in("id", ids),
    );
    return inKeyOrder(ids, data.map(toConnectionTestRow));
  }

  async setServerStatus(id: string, status: InstallationStatus, errorMessage?: string | null, source: WriteSource = "LIFECYCLE") {
    const values: Record<string, unknown> = { status_on_toolbox: status };
    if (errorMessage !== undefined) values.instance_error_message = errorMessage;
    const query = this.client.from("account_tool_instances").update(values).eq("id", id).not("mcp_server_type", "is", null).select(SERVER_COLUMNS.join(","));
    const { data } = await this.run<Record<string, unknown>[]>(query, source);
    return data[0] ? toServerRow(data[0]) : null;
  }

  // Two requests where turning recovery back on must clear its record: PostgREST updates set values, not expressions.
  async setServerHealthPolicy(id: string, policy: { autoRecovery?: boolean; probeBudgetMs?: number | null }) {
    const values: Record<string, unknown> = {};
    if (policy.autoRecovery !== undefined) values.mcp_fleet_auto_recovery = policy.autoRecovery;
    if (policy.probeBudgetMs !== undefined) values.mcp_fleet_probe_budget_ms = policy.probeBudgetMs;
    if (policy.autoRecovery) {
      await this.run(
        this.client.from("account_tool_instances").update({ mcp_fleet_recovery: null }).eq("id", id).eq("mcp_fleet_auto_recovery", false),
        "LIFECYCLE",
      );
    }
    const query = this.client.from("account_tool_instances").update(values).eq("id", id).not("mcp_server_type", "is", null).select(SERVER_COLUMNS.join(","));
    const { data } = await this.run<Record<string, unknown>[]>(query, "LIFECYCLE");
    return data[0] ? toServerRow(data[0]) : null;
  }

  async setRecovery(id: string, record: unknown) {
    await this.run(
      this.client
        .from("account_tool_instances")
        .update({ mcp_fleet_recovery: record ?? null })
        .eq("id", id),
      "AUTO_RECOVERY",
    );
  }

  // One request per change: PostgREST updates one set of values per request. Only changes are sent.
  async setRiskLevels(levels: { servers: RiskLevelChange[]; environments: RiskLevelChange[] }) {
    const write = (table: string, { id, level }: RiskLevelChange) =>
      this.run(
        this.client.from(table).update({ mcp_fleet_risk: level }).eq("id", id).or(`mcp_fleet_risk.is.null,mcp_fleet_risk.neq.${level}`),
        "EARLY_WARNING",
      );
    await Promise.all([
      ...levels.servers.map((c) => write("account_tool_instances", c)),
      ...levels.environments.map((c) => write("account_tool_environments", c)),
    ]);
  }

  async setReachability(id: string, reachability: string) {
    const { data } = await this.run<Array<{ id: string }>>(
      this.client
        .from("account_tool_instances")
        .update({ mcp_fleet_reachability: reachability })
        .eq("id", id)
        .or(`mcp_fleet_reachability.is.null,mcp_fleet_reachability.neq.${reachability}`)
        .select("id"),
      "PROBE",
    );
    return data.length > 0;
  }

  // The same SQL function the SQL store calls, so the report is applied atomically here too.
  async applyDtmaReport(environmentId: string, report: DtmaReport) {
    const { data } = await this.run<number>(
      this.client.rpc("mcp_fleet_apply_dtma_report", {
        p_environment_id: environmentId,
        p_at: report.at.toISOString(),
        p_version: report.version,
        p_metrics: report.systemMetrics,
        p_instances: report.instances,
        p_missing_message: report.missingMessage ?? null,
      }) as unknown as PostgrestRequest,
      "AGENT_REPORT",
    );
    return { instancesUpdated: Number(data) };
  }

  async markEnvironmentUnresponsive(environmentId: string, error: string) {
    await this.run(
      this.client
        .from("account_tool_environments")
        .update({ status: "unresponsive", dtma_health_details_json: { error } })
        .eq("id", environmentId)
        .not("status", "in", "(pending_deprovision,deprovisioning,deprovisioned)"),
      "MONITOR",
    );
  }

  async environmentIdForToken(token: string) {
    const { data } = await this.run<Array<{ id: string }>>(this.client.from("account_tool_environments").select("id").eq("dtma_bearer_token", token).limit(1));
    return data[0]?.id ?? null;
  }

  async dtmaTokenFor(environmentId: string) {
    const store = this.service ?? this;
    const { data } = await store.run<Array<{ t: string | null }>>(
      store.client.from("account_tool_environments").select("t:dtma_bearer_token").eq("id", environmentId).limit(1),
    );
    return data[0]?.t ?? null;
  }

  // Two requests (catalog entry, then instance): PostgREST has no multi-table insert.
  async createServer(server: NewServer) {
    // The image's private catalog entry (rows.ts privateCatalogName), written with the service
    // key: upstream's policies let only the service role manage the shared catalog.
    const catalog = this.service ?? this;
    const toolId = server.catalogToolId ?? (await this.privateCatalogEntry(catalog, server));
    const { data } = await this.run<Record<string, unknown>[]>(
      this.client
        .from("account_tool_instances")
        .insert({
          account_tool_environment_id: server.environmentId,
          tool_catalog_id: toolId,
          status_on_toolbox: server.status,
          instance_name_on_toolbox: server.name,
          port_mapping_json: server.portMapping,
          base_config_override_json: server.baseConfigOverride,
          mcp_server_type: "mcp_server",
          mcp_transport_type: server.transport,
          mcp_endpoint_path: server.endpointPath,
        })
        .select(SERVER_COLUMNS.join(",")),
      "LIFECYCLE",
    );
    return toServerRow(data[0]);
  }

  private async privateCatalogEntry(catalog: SupabaseStore, server: NewServer): Promise<string> {
    const { data: envs } = await catalog.run<Array<{ user_id: string | null }>>(
      catalog.client.from("account_tool_environments").select("user_id").eq("id", server.environmentId),
    );
    const owner = envs[0]?.user_id ?? null;
    const name = privateCatalogName(server.image, owner);
    const tool = await catalog.run<Array<{ id: string }>>(
      catalog.client
        .from("tool_catalog")
        .upsert(
          {
            tool_name: name,
            name,
            package_identifier: server.image,
            docker_image_url: server.image,
            is_public: false,
            created_by: owner,
            description: "Deployed from an image, outside the curated catalog",
          },
          { onConflict: "tool_name" },
        )
        .select("id"),
    );
    return tool.data[0].id;
  }

  async recordHistory(servers: StatusTransition[], environments: EnvironmentTransition[], keepDays: number) {
    const cutoff = new Date(Date.now() - keepDays * 86_400_000).toISOString();
    const writes: Promise<unknown>[] = [];
    if (servers.length) {
      const rows = servers.map(statusTransitionValues);
      writes.push(
        this.run(this.client.from("mcp_fleet_status_history").upsert(rows, { onConflict: "account_tool_instance_id,at,state,health", ignoreDuplicates: true })),
        this.run(this.client.from("mcp_fleet_status_history").delete().lt("at", cutoff)),
      );
    }
    if (environments.length) {
      const rows = environments.map(environmentTransitionValues);
      writes.push(
        this.run(
          this.client.from("mcp_fleet_environment_history").upsert(rows, { onConflict: "account_tool_environment_id,at,status", ignoreDuplicates: true }),
        ),
        this.run(this.client.from("mcp_fleet_environment_history").delete().lt("at", cutoff)),
      );
    }
    await Promise.all(writes);
  }

  // One RPC each (migration 013): PostgREST has no window functions, nor a key to embed history by.
  async statusHistoryOf(serverIds: readonly string[], page: { first: number; before?: Date }) {
    const { data } = await this.run<Record<string, unknown>[]>(this.client.rpc("mcp_fleet_status_history_of", historyRpcArgs("server_ids", serverIds, page)));
    return groupBy(serverIds, data, (r) => String(r.account_tool_instance_id), toStatusTransition);
  }

  async environmentHistoryOf(environmentIds: readonly string[], page: { first: number; before?: Date }) {
    const { data } = await this.run<Record<string, unknown>[]>(
      this.client.rpc("mcp_fleet_environment_history_of", historyRpcArgs("environment_ids", environmentIds, page)),
    );
    return groupBy(environmentIds, data, (r) => String(r.account_tool_environment_id), toEnvironmentTransition);
  }

  async recordDiscovery(id: string, capabilities: unknown, discoveryMetadata: unknown) {
    await this.run(
      this.client.from("account_tool_instances").update({ mcp_server_capabilities: capabilities, mcp_discovery_metadata: discoveryMetadata }).eq("id", id),
      "PROBE",
    );
  }

  async setServerContainer(id: string, containerId: string | null) {
    await this.run(this.client.from("account_tool_instances").update({ mcp_fleet_container_id: containerId }).eq("id", id), "LIFECYCLE");
  }

  async serversOn(environmentId: string) {
    const { data } = await this.run<Record<string, unknown>[]>(
      this.client
        .from("account_tool_instances")
        .select(SERVER_COLUMNS.join(","))
        .eq("account_tool_environment_id", environmentId)
        .not("mcp_server_type", "is", null)
        .order("created_at")
        .limit(1000),
    );
    return data.map(toServerRow);
  }

  async deleteServer(id: string) {
    const { data } = await this.run<Array<{ id: string }>>(this.client.from("account_tool_instances").delete().eq("id", id).select("id"));
    return data.length > 0;
  }

  async updateServerConfig(id: string, config: ServerConfig) {
    await this.run(
      this.client
        .from("account_tool_instances")
        .update({
          base_config_override_json: config.baseConfigOverride,
          port_mapping_json: config.portMapping,
          mcp_transport_type: config.transport,
          mcp_endpoint_path: config.endpointPath,
          ...(config.version ? { version: config.version } : {}),
          mcp_fleet_container_id: config.containerId,
        })
        .eq("id", id),
      "LIFECYCLE",
    );
  }

  async updateServerEndpoint(id: string, fields: { portMapping?: unknown; endpointPath?: string }) {
    const values: Record<string, unknown> = {};
    if (fields.portMapping !== undefined) values.port_mapping_json = fields.portMapping;
    if (fields.endpointPath !== undefined) values.mcp_endpoint_path = fields.endpointPath;
    if (Object.keys(values).length) await this.run(this.client.from("account_tool_instances").update(values).eq("id", id));
  }

  /**
   * The change feed over Supabase Realtime `postgres_changes`, as the same notices the Postgres
   * triggers send, so the live fleet works the same on every store. `onResumed` runs when the
   * channel is subscribed again after an error (changes in between are re-read by a resync).
   */
  async listen(_channel: string, onNotify: (payload: string) => void, onResumed: () => void, onLost?: (reason: string) => void): Promise<() => Promise<void>> {
    const channel = this.client.channel("mcp-fleet-changes");
    for (const table of Object.values(FEED_TABLES)) {
      channel.on("postgres_changes", { event: "*", schema: "public", table }, (change) => {
        const row = (change.eventType === "DELETE" ? change.old : change.new) as Record<string, unknown>;
        const id = row?.id ?? (change.old as Record<string, unknown>)?.id;
        if (typeof id !== "string") return;
        const environmentId = table === FEED_TABLES.environment ? id : ((row?.account_tool_environment_id as string | undefined) ?? null);
        onNotify(JSON.stringify({ table, op: change.eventType, id, environment_id: environmentId } satisfies Notice));
      });
    }
    let subscribed = false;
    let lost = false;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new DatabaseUnavailableError(new Error("Supabase Realtime did not confirm the subscription in time"))),
        this.options.timeoutMs,
      );
      channel.subscribe((status, error) => {
        if (status === "SUBSCRIBED") {
          if (!subscribed) {
            subscribed = true;
            clearTimeout(timer);
            resolve();
          } else if (lost) {
            lost = false;
            onResumed();
          }
          return;
        }
        // CHANNEL_ERROR, TIMED_OUT, CLOSED: supabase-js rejoins by itself; remember to resync.
        if (subscribed) {
          if (!lost) onLost?.(`Supabase Realtime: ${status}`);
          lost = true;
        } else {
          clearTimeout(timer);
          reject(new DatabaseUnavailableError(error ?? new Error(`Supabase Realtime: ${status}`)));
        }
      });
    });
    return async () => {
      // Leave the channel (waiting at most the request timeout for Realtime's answer), then close
      // the socket: supabase-js would otherwise keep it open, heartbeating, after the last channel.
      await Promise.race([this.client.removeChannel(channel), new Promise((resolve) => setTimeout(resolve, this.options.timeoutMs).unref())]);
      await this.client.realtime.disconnect();
    };
  }

  async ping() {
    await this.run(this.client.from("account_tool_environments").select("id", { head: true }).limit(1));
  }

  async close() {
    // supabase-js holds no connections for PostgREST reads.
  }
}

function historyRpcArgs(keysName: string, keys: readonly string[], page: { first: number; before?: Date }) {
  const { keys: ids, ...rest } = historyArgs(keys, page);
  return { [keysName]: ids, ...rest };
}
