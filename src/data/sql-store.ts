// The store over SQL: the same statements run on real Postgres (pg) and on PGlite.
import {
  healthConditions,
  healthCrossings,
  ENVIRONMENT_STATUS_SEVERITY,
  healthOf,
  installationStatusesFor,
  statusesDefaultingTo,
  SERVER_HEALTH_SEVERITY,
  SERVER_HEALTHS,
  SERVER_STATE_SEVERITY,
  SERVER_STATES,
  stateOf,
  type HealthCondition,
  type InstallationStatus,
} from "../domain/status.ts";
import type { Db } from "./db.ts";
import { StatementBatches } from "./statement-batches.ts";
import {
  CONNECTION_TEST_COLUMNS,
  ENVIRONMENT_COLUMNS,
  SERVER_COLUMNS,
  CATALOG_COLUMNS,
  connectionTestValues,
  toCatalogToolRow,
  type CatalogToolRow,
  environmentColumns,
  toConnectionTestRow,
  toEnvironmentTransition,
  toStatusTransition,
  historyArgs,
  statusTransitionValues,
  environmentTransitionValues,
  toEnvironmentRow,
  serverColumns,
  toRemovedServer,
  toServerRow,
  type ConnectionTestRow,
  type EnvironmentColumn,
  type EnvironmentRow,
  type NewConnectionTest,
  type ServerColumn,
} from "./rows.ts";
import {
  groupBy,
  inKeyOrder,
  toPage,
  type Columns,
  type Cursor,
  type DtmaReport,
  type EnvironmentOrderField,
  type EnvironmentPage,
  type EnvironmentPageArgs,
  type ServerOrderField,
  type ServerPageArgs,
  type RiskLevelChange,
  type WriteSource,
  type CatalogFilter,
  type EnvironmentFilter,
  type FleetSummary,
  type EnvironmentTransition,
  type StatusTransition,
  type NewServer,
  type Page,
  type PageArgs,
  type QueryTime,
  type RemovedServer,
  type ReplayFrom,
  type Delta,
  type ServerConfig,
  type ServerFilter,
  type ServerPage,
  type Store,
  type StoreCapabilities,
} from "./store.ts";

// Addresses as plain text ("203.0.113.7", not "203.0.113.7/32"); bigint as text (no precision loss).
// Server timestamps as epoch milliseconds: a page reads four per row, and a number becomes a Date
// far more cheaply than a printed timestamp does.
const SERVER_TIMESTAMPS = new Set(["last_heartbeat_from_dtma", "last_started_at", "created_at", "updated_at"]);
const serverSelect = (columns: readonly ServerColumn[]) =>
  columns.map((c) => (SERVER_TIMESTAMPS.has(c) ? `floor(date_part('epoch', s.${c}) * 1000) AS ${c}` : `s.${c}`)).join(", ");
const SERVER_SELECT = serverSelect(SERVER_COLUMNS);
const environmentSelect = (columns: readonly EnvironmentColumn[]) =>
  columns
    .map((c) => (c === "public_ip_address" || c === "private_ip_address" ? `host(e.${c}) AS ${c}` : c === "do_droplet_id" ? `e.${c}::text AS ${c}` : `e.${c}`))
    .join(", ");
const ENVIRONMENT_SELECT = environmentSelect(ENVIRONMENT_COLUMNS);

class Params {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

// Names compare byte-wise (COLLATE "C") so order and cursors agree on every database, whatever its
// default collation, and match the index.
const byName = (column: string) => `${column} COLLATE "C"`;

/**
 * What a list is sorted by: an SQL expression, the type its printed value (a cursor's key) casts
 * back to, and `inverted` when ascending means the expression descending (longest uptime = earliest
 * start).
 */
interface SortKey {
  expr: string;
  cast: "text" | "int" | "timestamptz";
  inverted?: boolean;
  /** The column whose text is the key, when the key is a text column as it is (a name). */
  column?: string;
}

const nameKey = (column: string): SortKey => ({ expr: byName(column), cast: "text", column: column.slice(column.indexOf(".") + 1) });
const literals = (values: readonly string[]) => values.map((v) => `'${v}'`).join(", ");

/** A rank by `severity`: the position of the first of `cases` that holds, else `otherwise`'s. */
function rankKey<T extends string>(severity: readonly T[], cases: (value: T) => string | null, otherwise: T): SortKey {
  const whens = severity.flatMap((value, i) => {
    const condition = cases(value);
    return condition ? [`WHEN ${condition} THEN ${i}`] : [];
  });
  return { expr: `(CASE ${whens.join(" ")} ELSE ${severity.indexOf(otherwise)} END)`, cast: "int" };
}

function serverSortKey(field: ServerOrderField, time: QueryTime, p: Params): SortKey {
  switch (field) {
    case "NAME":
      return nameKey("s.instance_name_on_toolbox");
    case "STATE":
      return rankKey(
        SERVER_STATE_SEVERITY,
        (state) => {
          const statuses = installationStatusesFor(state);
          return statuses.length ? `s.status_on_toolbox IN (${literals(statuses)})` : null;
        },
        "UNKNOWN",
      );
    case "HEALTH":
      // Health at the time of the request, as the health filter.
      return rankKey(
        SERVER_HEALTH_SEVERITY,
        (health) => {
          const conditions = healthConditions(health, time.now, time.thresholds);
          return conditions.length ? conditions.map((c) => healthSql(c, p)).join(" OR ") : null;
        },
        "UNKNOWN",
      );
    case "LAST_HEARTBEAT":
      return { expr: "s.last_heartbeat_from_dtma", cast: "timestamptz" };
    case "UPTIME":
      return {
        expr: `(CASE WHEN s.status_on_toolbox IN (${literals(installationStatusesFor("RUNNING"))}) THEN s.last_started_at END)`,
        cast: "timestamptz",
        inverted: true,
      };
    case "CREATED_AT":
      return { expr: "s.created_at", cast: "timestamptz" };
    case "UPDATED_AT":
      return { expr: "s.updated_at", cast: "timestamptz" };
  }
}

function environmentSortKey(field: EnvironmentOrderField): SortKey {
  switch (field) {
    case "NAME":
      return nameKey("e.name");
    case "STATUS":
      return rankKey(ENVIRONMENT_STATUS_SEVERITY, (status) => `e.status::text = '${status}'`, "inactive");
    case "REGION":
      return nameKey("e.region_slug");
    case "LAST_HEARTBEAT":
      return { expr: "e.last_heartbeat_at", cast: "timestamptz" };
    case "CREATED_AT":
      return { expr: "e.created_at", cast: "timestamptz" };
    case "UPDATED_AT":
      return { expr: "e.updated_at", cast: "timestamptz" };
  }
}

/**
 * A page's order in the direction of travel, ties broken by id in the list's direction. Rows
 * without a key come last in the list either way, so first when travelling backward.
 */
class PageOrder {
  private readonly keyDescending: boolean;
  private readonly idDescending: boolean;
  private readonly nullsFirst: boolean;

  constructor(
    readonly key: SortKey,
    private readonly idColumn: string,
    order: { descending?: boolean; backward?: boolean } = {},
  ) {
    this.idDescending = (order.descending ?? false) !== (order.backward ?? false);
    this.keyDescending = this.idDescending !== (key.inverted ?? false);
    this.nullsFirst = order.backward ?? false;
  }

  get sql(): string {
    return `${this.key.expr} ${this.keyDescending ? "DESC" : "ASC"} NULLS ${this.nullsFirst ? "FIRST" : "LAST"}, ${this.idColumn} ${this.idDescending ? "DESC" : "ASC"}`;
  }

  /**
   * Where a row of `columns` carries its key, as a cursor stores it: the key's own column when it
   * is among them (no second copy of each name), else a `sort_key` column that `keySelect` adds.
   */
  keyField(columns: readonly string[]): string {
    return this.key.column && columns.includes(this.key.column) ? this.key.column : "sort_key";
  }

  keySelect(columns: readonly string[]): string {
    return this.keyField(columns) === "sort_key" ? `, (${this.key.expr})::text AS sort_key` : "";
  }

  /** Rows after `cursor` in this order. */
  after(cursor: Cursor, p: Params): string {
    const { expr } = this.key;
    const beyond = this.keyDescending ? "<" : ">";
    const id = `${this.idColumn} ${this.idDescending ? "<" : ">"} ${p.add(cursor.id)}::uuid`;
    if (cursor.key === null) return this.nullsFirst ? `(${expr} IS NOT NULL OR ${id})` : `(${expr} IS NULL AND ${id})`;
    const key = `${p.add(cursor.key)}::${this.key.cast}`;
    return `(${expr} ${beyond} ${key} OR (${expr} = ${key} AND ${id})${this.nullsFirst ? "" : ` OR ${expr} IS NULL`})`;
  }
}

/** The rows of a page fetched in the direction of travel, in list order, with their keys. */
function keyedPage<R extends Record<string, unknown>, T>(rows: R[], page: PageArgs, keyField: string, toRow: (row: R) => T): Page<T> {
  const paged = toPage(rows, page.first);
  if (page.backward) paged.rows.reverse();
  return { rows: paged.rows.map(toRow), hasNextPage: paged.hasNextPage, keys: paged.rows.map((r) => r[keyField] as string | null) };
}

/**
 * A row written after `from`: by its transaction, not visible in the cursor's snapshot (committed
 * after it, whenever it began; rows from before migration 010 have no xid and are older than any
 * cursor); or, for a cursor without a snapshot, by its timestamp. Cursors carry milliseconds, so
 * timestamps compare at that precision (the event a cursor came from is not sent again).
 */
function writtenAfter(from: ReplayFrom, xidColumn: string, timeColumn: string, p: Params): string {
  if (!from.position) return `date_trunc('milliseconds', ${timeColumn}) > ${p.add(from.at.toISOString())}::timestamptz`;
  const snapshot = `${p.add(from.position)}::pg_snapshot`;
  return `(${xidColumn} >= pg_snapshot_xmin(${snapshot}) AND NOT pg_visible_in_snapshot(${xidColumn}, ${snapshot}))`;
}

/**
 * Tags a statement's writes with who made them (migration 014): a CTE that sets the transaction's
 * mcp_fleet.write_source, which the statement must read (FROM mcp_fleet_writer) so it runs before
 * any row is written. Each statement is its own transaction, so the tag ends with it.
 */
const writer = (source: WriteSource) => `mcp_fleet_writer AS MATERIALIZED (SELECT set_config('mcp_fleet.write_source', '${source}', true))`;

// Compared as the column's enum, not as text: no cast per row (a third of a sort by health). Sent
// as an array literal: PGlite cannot serialise a JS array for an enum array parameter.
const statusIn = (statuses: readonly InstallationStatus[], p: Params) =>
  `s.status_on_toolbox = ANY(${p.add(`{${statuses.join(",")}}`)}::account_tool_installation_status_enum[])`;

function healthSql(condition: HealthCondition, p: Params): string {
  const parts = [statusIn(condition.statuses, p)];
  const window: string[] = [];
  if (condition.heartbeatAfter) window.push(`s.last_heartbeat_from_dtma > ${p.add(condition.heartbeatAfter.toISOString())}::timestamptz`);
  if (condition.heartbeatAtOrBefore) window.push(`s.last_heartbeat_from_dtma <= ${p.add(condition.heartbeatAtOrBefore.toISOString())}::timestamptz`);
  if (window.length) {
    const w = window.join(" AND ");
    parts.push(condition.orHeartbeatNull ? `(${w} OR s.last_heartbeat_from_dtma IS NULL)` : w);
  }
  if (condition.heartbeatNull) parts.push("s.last_heartbeat_from_dtma IS NULL");
  const started: string[] = [];
  if (condition.startedAfter) started.push(`s.last_started_at > ${p.add(condition.startedAfter.toISOString())}::timestamptz`);
  if (condition.startedAtOrBefore) started.push(`s.last_started_at <= ${p.add(condition.startedAtOrBefore.toISOString())}::timestamptz`);
  if (started.length) {
    const w = started.join(" AND ");
    parts.push(condition.orStartedNull ? `(${w} OR s.last_started_at IS NULL)` : w);
  }
  if (condition.reachabilities) {
    const known = condition.reachabilities.filter((r) => r !== null);
    const either = known.length ? [`s.mcp_fleet_reachability = ANY(${p.add(known)}::text[])`] : [];
    if (condition.reachabilities.includes(null)) either.push("s.mcp_fleet_reachability IS NULL");
    parts.push(`(${either.join(" OR ")})`);
  }
  return `(${parts.join(" AND ")})`;
}

function serverWhere(filter: ServerFilter, time: QueryTime, p: Params): string[] {
  // A row is an MCP server when mcp_server_type is set, as upstream's `.not('mcp_server_type','is',null)`.
  const where = ["s.mcp_server_type IS NOT NULL"];
  if (filter.ownerId) where.push(ownedServer(p.add(filter.ownerId)));
  if (filter.ids) where.push(`s.id = ANY(${p.add(filter.ids)}::uuid[])`);
  if (filter.environmentIds) where.push(`s.account_tool_environment_id = ANY(${p.add(filter.environmentIds)}::uuid[])`);
  if (filter.serverTypes) where.push(`s.mcp_server_type = ANY(${p.add(filter.serverTypes)}::text[])`);
  if (filter.states) where.push(statusIn(filter.states.flatMap(installationStatusesFor), p));
  if (filter.healths) {
    const conditions = filter.healths.flatMap((h) => healthConditions(h, time.now, time.thresholds));
    where.push(conditions.length ? `(${conditions.map((c) => healthSql(c, p)).join(" OR ")})` : "false");
  }
  if (filter.search) where.push(`s.instance_name_on_toolbox ILIKE ${p.add(`%${escapeLike(filter.search)}%`)}`);
  if (filter.desiredStates) {
    const either = filter.desiredStates.map(
      (d) => `s.mcp_fleet_desired_state = ${p.add(d)} OR (s.mcp_fleet_desired_state IS NULL AND ${statusIn(statusesDefaultingTo(d), p)})`,
    );
    where.push(either.length ? `(${either.join(" OR ")})` : "false");
  }
  if (filter.risks) where.push(`COALESCE(s.mcp_fleet_risk, 'NONE') = ANY(${p.add(filter.risks)}::text[])`);
  if (filter.reachabilities) where.push(`COALESCE(s.mcp_fleet_reachability, 'UNKNOWN') = ANY(${p.add(filter.reachabilities)}::text[])`);
  if (filter.recoveries) {
    where.push(
      `(CASE WHEN NOT s.mcp_fleet_auto_recovery THEN 'DISABLED' ELSE COALESCE(s.mcp_fleet_recovery->>'state', 'IDLE') END) = ANY(${p.add(filter.recoveries)}::text[])`,
    );
  }
  return where;
}

// Upstream's RLS: a server belongs to whoever owns its environment.
const ownedServer = (owner: string) =>
  `EXISTS (SELECT 1 FROM account_tool_environments o WHERE o.id = s.account_tool_environment_id AND o.user_id = ${owner}::uuid)`;

function environmentWhere(filter: EnvironmentFilter, p: Params): string[] {
  const where = ["true"];
  if (filter.ownerId) where.push(`e.user_id = ${p.add(filter.ownerId)}::uuid`);
  if (filter.statuses) where.push(`e.status::text = ANY(${p.add(filter.statuses)}::text[])`);
  if (filter.risks) where.push(`COALESCE(e.mcp_fleet_risk, 'NONE') = ANY(${p.add(filter.risks)}::text[])`);
  if (filter.search) {
    const pattern = p.add(`%${escapeLike(filter.search)}%`);
    where.push(`(e.name ILIKE ${pattern} OR e.do_droplet_name ILIKE ${pattern})`);
  }
  return where;
}

const CATALOG_SELECT = CATALOG_COLUMNS.map((c) => `c.${c}`).join(", ");

function catalogWhere(filter: CatalogFilter, p: Params): string[] {
  const where = ["true"];
  if (filter.ownerId) where.push(`(c.is_public IS NOT FALSE OR c.created_by = ${p.add(filter.ownerId)}::uuid)`);
  if (filter.statuses?.length) where.push(`c.status::text = ANY(${p.add(filter.statuses)}::text[])`);
  if (filter.categories?.length) where.push(`c.categories && ${p.add(filter.categories)}::text[]`);
  if (filter.search) {
    const pattern = p.add(`%${escapeLike(filter.search)}%`);
    where.push(`(c.tool_name ILIKE ${pattern} OR c.description ILIKE ${pattern} OR c.package_identifier ILIKE ${pattern})`);
  }
  return where;
}

const byServerName = () => new PageOrder(nameKey("s.instance_name_on_toolbox"), "s.id");

function serverOrder(page: ServerPageArgs, time: QueryTime, p: Params): PageOrder {
  return new PageOrder(serverSortKey(page.order?.field ?? "NAME", time, p), "s.id", { descending: page.order?.descending, backward: page.backward });
}

export class SqlStore implements Store {
  readonly capabilities: StoreCapabilities;
  /** A page's environments, read once for the pages that ask in the same turn (statement-batches.ts). */
  private readonly pageEnvironments = new StatementBatches<Record<string, unknown>>(
    (text, ids) => this.db.query(text, [ids]),
    (row) => String(row.id),
  );

  constructor(readonly db: Db) {
    this.capabilities = {
      feed: db,
      withLock: (key, fn) => db.withAdvisoryLock(key, fn),
      positions: { current: () => this.currentPosition(), changedSince: (position) => this.changedSince(position) },
    };
  }

  private async currentPosition(): Promise<string> {
    const [row] = await this.db.query<{ position: string }>("SELECT pg_current_snapshot()::text AS position");
    return row.position;
  }

  // One statement, so the ids and the position come from one snapshot: every change visible in
  // the new position is among the ids (deleted rows through the deletion logs).
  private async changedSince(position: string): Promise<Delta> {
    const p = new Params();
    const since = (column: string) => writtenAfter({ position, at: new Date(0) }, column, "", p);
    const rows = await this.db.query<{ kind: "position" | "server" | "environment"; id: string }>(
      `SELECT 'position' AS kind, pg_current_snapshot()::text AS id
       UNION ALL SELECT 'server', s.id::text FROM account_tool_instances s WHERE s.mcp_server_type IS NOT NULL AND ${since("s.mcp_fleet_xid")}
       UNION ALL SELECT 'server', r.account_tool_instance_id::text FROM mcp_fleet_removed_servers r WHERE ${since("r.mcp_fleet_xid")}
       UNION ALL SELECT 'environment', e.id::text FROM account_tool_environments e WHERE ${since("e.mcp_fleet_xid")}
       UNION ALL SELECT 'environment', r.account_tool_environment_id::text FROM mcp_fleet_removed_environments r WHERE ${since("r.mcp_fleet_xid")}`,
      p.values,
    );
    const delta: Delta = { position: "", serverIds: [], environmentIds: [] };
    for (const row of rows) {
      if (row.kind === "position") delta.position = row.id;
      else if (row.kind === "server") delta.serverIds.push(row.id);
      else delta.environmentIds.push(row.id);
    }
    return delta;
  }

  get kind() {
    return this.db.kind;
  }

  async listServers(filter: ServerFilter, page: ServerPageArgs, time: QueryTime, columns?: Columns): Promise<ServerPage> {
    const p = new Params();
    const where = serverWhere(filter, time, p);
    const order = serverOrder(page, time, p);
    if (page.after) where.push(order.after(page.after, p));
    return this.serverPage(
      where,
      p,
      page,
      order,
      columns?.server && serverColumns(columns.server),
      // No environment column selected: no environment read.
      columns?.environment && (columns.environment.length ? environmentSelect(environmentColumns(columns.environment)) : null),
    );
  }

  async serversChangedSince(from: ReplayFrom, time: QueryTime, page: PageArgs, ownerId?: string): Promise<ServerPage> {
    const p = new Params();
    const where = serverWhere({ ownerId }, time, p);
    const crossings = healthCrossings(from.at, time.now, time.thresholds).map((c) => healthSql(c, p));
    where.push(`(${writtenAfter(from, "s.mcp_fleet_xid", "s.updated_at", p)} OR ${crossings.join(" OR ")})`);
    const order = byServerName();
    if (page.after) where.push(order.after(page.after, p));
    return this.serverPage(where, p, page, order);
  }

  environmentsChangedSince(from: ReplayFrom, page: PageArgs, ownerId?: string): Promise<Page<EnvironmentRow>> {
    const p = new Params();
    const where = environmentWhere({ ownerId }, p);
    where.push(writtenAfter(from, "e.mcp_fleet_xid", "e.updated_at", p));
    return this.environmentPage(where, p, page);
  }

  environmentsRemovedSince(from: ReplayFrom, page: { first: number; after?: RemovedServer["cursor"] }, ownerId?: string): Promise<Page<RemovedServer>> {
    return this.removedSince("mcp_fleet_removed_environments", "account_tool_environment_id", "account_tool_environment_id", from, page, ownerId);
  }

  serversRemovedSince(from: ReplayFrom, page: { first: number; after?: RemovedServer["cursor"] }, ownerId?: string): Promise<Page<RemovedServer>> {
    return this.removedSince("mcp_fleet_removed_servers", "account_tool_instance_id", "account_tool_environment_id", from, page, ownerId);
  }

  private async removedSince(
    table: string,
    idColumn: string,
    environmentColumn: string,
    from: ReplayFrom,
    page: { first: number; after?: RemovedServer["cursor"] },
    ownerId?: string,
  ): Promise<Page<RemovedServer>> {
    const p = new Params();
    const where = [writtenAfter(from, "mcp_fleet_xid", "removed_at", p)];
    if (ownerId) where.push(`user_id = ${p.add(ownerId)}::uuid`);
    if (page.after) where.push(`(removed_at, ${idColumn}) > (${p.add(page.after.at)}::timestamptz, ${p.add(page.after.id)}::uuid)`);
    const rows = await this.db.query<{ id: string; environment_id: string; user_id: string | null; at: string }>(
      `SELECT ${idColumn} AS id, ${environmentColumn} AS environment_id, user_id,
              to_char(removed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at
       FROM ${table} WHERE ${where.join(" AND ")}
       ORDER BY removed_at, ${idColumn} LIMIT ${p.add(page.first + 1)}`,
      p.values,
    );
    return toPage(rows.map(toRemovedServer), page.first);
  }

  // The page, then each environment its servers reference, once (skipped when the selection reads
  // nothing of them). Measured against one statement that adds each environment as JSON on the
  // first of its servers (a window function, a second sort and a subplan per environment), the two
  // cost Postgres 30% less CPU per page and the API's process about 8% more (a second round trip),
  // for the same requests per second (BENCHMARKS.md, session 10). Pages that finish in the same
  // turn of the event loop share that second statement (session 15).
  private async serverPage(
    where: string[],
    p: Params,
    page: PageArgs,
    order: PageOrder,
    columns: readonly ServerColumn[] = SERVER_COLUMNS,
    environment: string | null = ENVIRONMENT_SELECT,
  ): Promise<ServerPage> {
    const rows = await this.db.query<Record<string, unknown>>(
      `SELECT ${serverSelect(columns)}${order.keySelect(columns)} FROM account_tool_instances s
       WHERE ${where.join(" AND ")} ORDER BY ${order.sql} LIMIT ${p.add(page.first + 1)}`,
      p.values,
    );
    const result = keyedPage(rows, page, order.keyField(columns), toServerRow);
    // The extra row only tells whether there is a next page: its environment is not read.
    const ids = [...new Set(result.rows.map((row) => row.environmentId))];
    if (!environment || ids.length === 0) return { ...result, environments: [] };
    const environments = await this.pageEnvironments.load(`SELECT ${environment} FROM account_tool_environments e WHERE e.id = ANY($1::uuid[])`, ids);
    return { ...result, environments: environments.map(toEnvironmentRow) };
  }

  async countServersByEnvironment(environmentIds: readonly string[], filter: ServerFilter, time: QueryTime): Promise<number[]> {
    const p = new Params();
    const where = [...serverWhere(filter, time, p), `s.account_tool_environment_id = ANY(${p.add(environmentIds)}::uuid[])`];
    const rows = await this.db.query<{ id: string; n: number }>(
      `SELECT s.account_tool_environment_id AS id, count(*)::int AS n FROM account_tool_instances s WHERE ${where.join(" AND ")} GROUP BY 1`,
      p.values,
    );
    const counts = new Map(rows.map((r) => [String(r.id), r.n]));
    return environmentIds.map((id) => counts.get(id) ?? 0);
  }

  async fleetSummary(filter: ServerFilter, time: QueryTime): Promise<FleetSummary> {
    const p = new Params();
    const where = serverWhere(filter, time, p).join(" AND ");
    // Servers are counted by status and heartbeat age (few groups), and the domain's rules turn
    // each group into a state and a health: a fraction of the cost of a filtered count per state
    // and health. Droplets by status and region, with their servers.
    const unhealthyAt = new Date(time.now.getTime() - time.thresholds.unhealthyAfterMs);
    const degradedAt = new Date(time.now.getTime() - time.thresholds.degradedAfterMs);
    const degraded = p.add(degradedAt.toISOString());
    const age = `CASE WHEN s.last_heartbeat_from_dtma IS NULL THEN (CASE WHEN s.last_started_at > ${degraded}::timestamptz THEN 4 ELSE 0 END)
      WHEN s.last_heartbeat_from_dtma <= ${p.add(unhealthyAt.toISOString())}::timestamptz THEN 1
      WHEN s.last_heartbeat_from_dtma <= ${degraded}::timestamptz THEN 2 ELSE 3 END`;
    const envWhere = ["true"];
    if (filter.ownerId) envWhere.push(`e.user_id = ${p.add(filter.ownerId)}::uuid`);
    if (filter.environmentIds) envWhere.push(`e.id = ANY(${p.add(filter.environmentIds)}::uuid[])`);
    const [row] = await this.db.query<{
      servers: Array<{ status: string; age: 0 | 1 | 2 | 3 | 4; reachability: string | null; n: number }> | null;
      envs: Array<{ status: string; region: string; n: number; servers: number }> | null;
    }>(
      `SELECT (SELECT json_agg(x) FROM (
                 SELECT s.status_on_toolbox::text AS status, ${age} AS age, s.mcp_fleet_reachability AS reachability, count(*)::int AS n
                 FROM account_tool_instances s WHERE ${where} GROUP BY 1, 2, 3) x) AS servers,
              (SELECT json_agg(x) FROM (
                 SELECT e.status::text AS status, e.region_slug AS region, count(*)::int AS n, coalesce(sum(c.n), 0)::int AS servers
                 FROM account_tool_environments e
                 LEFT JOIN (SELECT s.account_tool_environment_id AS id, count(*) AS n FROM account_tool_instances s WHERE ${where} GROUP BY 1) c ON c.id = e.id
                 WHERE ${envWhere.join(" AND ")} GROUP BY 1, 2) x) AS envs`,
      p.values,
    );
    // A heartbeat standing for each age group: never, as old as unhealthy, as old as degraded,
    // fresh; and never, but started within the grace (UNKNOWN, not UNHEALTHY).
    const heartbeatOf = [null, unhealthyAt.getTime(), degradedAt.getTime(), time.now.getTime(), null];
    const byState = Object.fromEntries(SERVER_STATES.map((state) => [state, 0])) as FleetSummary["byState"];
    const byHealth = Object.fromEntries(SERVER_HEALTHS.map((health) => [health, 0])) as FleetSummary["byHealth"];
    let servers = 0;
    for (const group of row.servers ?? []) {
      const state = stateOf(group.status);
      servers += group.n;
      byState[state] += group.n;
      byHealth[healthOf(state, heartbeatOf[group.age], time.now, time.thresholds, group.age === 4 ? time.now.getTime() : null, group.reachability)] += group.n;
    }
    const envs = row.envs ?? [];
    const regions = new Map<string, { region: string; servers: number; environments: number }>();
    const statuses = new Map<string, number>();
    for (const e of envs) {
      statuses.set(e.status, (statuses.get(e.status) ?? 0) + e.n);
      const r = regions.get(e.region) ?? { region: e.region, servers: 0, environments: 0 };
      r.servers += e.servers;
      r.environments += e.n;
      regions.set(e.region, r);
    }
    return {
      servers,
      byState,
      byHealth,
      environments: envs.reduce((n, e) => n + e.n, 0),
      byEnvironmentStatus: [...statuses].map(([status, count]) => ({ status, count })).sort((a, b) => a.status.localeCompare(b.status)),
      byRegion: [...regions.values()].sort((a, b) => a.region.localeCompare(b.region)),
    };
  }

  async countServers(filter: ServerFilter, time: QueryTime): Promise<number> {
    const p = new Params();
    const [row] = await this.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM account_tool_instances s WHERE ${serverWhere(filter, time, p).join(" AND ")}`,
      p.values,
    );
    return row.n;
  }

  async listServersByEnvironment(environmentIds: readonly string[], filter: ServerFilter, page: ServerPageArgs, time: QueryTime) {
    const p = new Params();
    const ids = p.add(environmentIds);
    const where = serverWhere(filter, time, p);
    where.push("s.account_tool_environment_id = env.id");
    const order = serverOrder(page, time, p);
    if (page.after) where.push(order.after(page.after, p));
    // One statement for every environment: a LATERAL page per environment id.
    const rows = await this.db.query<Record<string, unknown>>(
      `SELECT ${SERVER_SELECT}${order.keySelect(SERVER_COLUMNS)} FROM unnest(${ids}::uuid[]) WITH ORDINALITY AS env(id, n)
       CROSS JOIN LATERAL (SELECT * FROM account_tool_instances s WHERE ${where.join(" AND ")}
                           ORDER BY ${order.sql} LIMIT ${p.add(page.first + 1)}) s
       ORDER BY env.n, ${order.sql}`,
      p.values,
    );
    const grouped = new Map<string, typeof rows>(environmentIds.map((id) => [id, []]));
    for (const row of rows) grouped.get(String(row.account_tool_environment_id))?.push(row);
    return new Map([...grouped].map(([id, list]) => [id, keyedPage(list, page, order.keyField(SERVER_COLUMNS), toServerRow)]));
  }

  async serversByIds(ids: readonly string[], ownerId?: string) {
    const rows = await this.db.query(
      `SELECT ${SERVER_SELECT} FROM account_tool_instances s WHERE s.id = ANY($1::uuid[]) AND s.mcp_server_type IS NOT NULL${ownerId ? ` AND ${ownedServer("$2")}` : ""}`,
      ownerId ? [ids, ownerId] : [ids],
    );
    return inKeyOrder(ids, rows.map(toServerRow));
  }

  listEnvironments(filter: EnvironmentFilter, page: EnvironmentPageArgs, options: { serverCounts?: boolean } = {}): Promise<EnvironmentPage> {
    const p = new Params();
    return this.environmentPage(environmentWhere(filter, p), p, page, options.serverCounts);
  }

  /** A page of environments in the page's order (by default, by name), after `page.after`. */
  private async environmentPage(where: string[], p: Params, page: EnvironmentPageArgs, serverCounts = false): Promise<EnvironmentPage> {
    const order = new PageOrder(environmentSortKey(page.order?.field ?? "NAME"), "e.id", { descending: page.order?.descending, backward: page.backward });
    if (page.after) where.push(order.after(page.after, p));
    // Each count is one index range, so a dashboard's droplets and their counts are one statement.
    const count = serverCounts
      ? ", (SELECT count(*)::int FROM account_tool_instances s WHERE s.account_tool_environment_id = e.id AND s.mcp_server_type IS NOT NULL) AS server_count"
      : "";
    const rows = await this.db.query<Record<string, unknown> & { server_count?: number }>(
      `SELECT ${ENVIRONMENT_SELECT}${order.keySelect(ENVIRONMENT_COLUMNS)}${count} FROM account_tool_environments e WHERE ${where.join(" AND ")}
       ORDER BY ${order.sql} LIMIT ${p.add(page.first + 1)}`,
      p.values,
    );
    const result = keyedPage(rows, page, order.keyField(ENVIRONMENT_COLUMNS), (row) => row);
    return { ...result, rows: result.rows.map(toEnvironmentRow), serverCounts: serverCounts ? result.rows.map((r) => Number(r.server_count)) : undefined };
  }

  async listCatalog(filter: CatalogFilter, page: PageArgs): Promise<Page<CatalogToolRow>> {
    const p = new Params();
    const where = catalogWhere(filter, p);
    const order = new PageOrder(nameKey("c.tool_name"), "c.id", { backward: page.backward });
    if (page.after) where.push(order.after(page.after, p));
    const rows = await this.db.query<Record<string, unknown>>(
      `SELECT ${CATALOG_SELECT}${order.keySelect(CATALOG_COLUMNS)} FROM tool_catalog c WHERE ${where.join(" AND ")}
       ORDER BY ${order.sql} LIMIT ${p.add(page.first + 1)}`,
      p.values,
    );
    return keyedPage(rows, page, order.keyField(CATALOG_COLUMNS), toCatalogToolRow);
  }

  async countCatalog(filter: CatalogFilter) {
    const p = new Params();
    const [row] = await this.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM tool_catalog c WHERE ${catalogWhere(filter, p).join(" AND ")}`, p.values);
    return row.n;
  }

  async catalogByIds(ids: readonly string[], ownerId?: string) {
    const p = new Params();
    const where = [...catalogWhere({ ownerId }, p), `c.id = ANY(${p.add(ids)}::uuid[])`];
    const rows = await this.db.query(`SELECT ${CATALOG_SELECT} FROM tool_catalog c WHERE ${where.join(" AND ")}`, p.values);
    return inKeyOrder(ids, rows.map(toCatalogToolRow));
  }

  async countEnvironments(filter: EnvironmentFilter) {
    const p = new Params();
    const [row] = await this.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM account_tool_environments e WHERE ${environmentWhere(filter, p).join(" AND ")}`,
      p.values,
    );
    return row.n;
  }

  async environmentsByIds(ids: readonly string[], ownerId?: string) {
    const rows = await this.db.query(
      `SELECT ${ENVIRONMENT_SELECT} FROM account_tool_environments e WHERE e.id = ANY($1::uuid[])${ownerId ? " AND e.user_id = $2::uuid" : ""}`,
      ownerId ? [ids, ownerId] : [ids],
    );
    return inKeyOrder(ids, rows.map(toEnvironmentRow));
  }

  async insertConnectionTest(test: NewConnectionTest, keep: number, reachability?: string): Promise<ConnectionTestRow> {
    const values = connectionTestValues(test);
    const columns = Object.keys(values);
    const casts: Record<string, string> = {
      phases: "::jsonb",
      server_info: "::jsonb",
      capabilities: "::text[]",
      tools: "::text[]",
      tested_at: "::timestamptz",
    };
    const params = columns.map((c) => (c === "phases" || c === "server_info" ? (values[c] == null ? null : JSON.stringify(values[c])) : values[c]));
    // One statement: the new row in, and the server's oldest beyond `keep` out (the DELETE's
    // snapshot does not see the new row, hence keep - 1 of the older ones stay).
    const serverParam = columns.indexOf("account_tool_instance_id") + 1;
    const [row] = await this.db.query(
      `WITH inserted AS (
         INSERT INTO mcp_connection_tests (${columns.join(", ")}) VALUES (${columns.map((c, i) => `$${i + 1}${casts[c] ?? ""}`).join(", ")})
         RETURNING ${CONNECTION_TEST_COLUMNS.join(", ")}
       ), pruned AS (
         DELETE FROM mcp_connection_tests WHERE id IN (
           SELECT id FROM mcp_connection_tests WHERE account_tool_instance_id = $${serverParam}::uuid
           ORDER BY tested_at DESC, id DESC OFFSET $${columns.length + 1}::int)
       )${
         reachability
           ? `, ${writer("PROBE")}, reached AS (
         UPDATE account_tool_instances SET mcp_fleet_reachability = $${columns.length + 2} FROM mcp_fleet_writer
         WHERE id = $${serverParam}::uuid AND mcp_fleet_reachability IS DISTINCT FROM $${columns.length + 2})`
           : ""
       }
       SELECT * FROM inserted`,
      [...params, Math.max(0, keep - 1), ...(reachability ? [reachability] : [])],
    );
    return toConnectionTestRow(row);
  }

  async lastConnectionTests(serverIds: readonly string[]) {
    const rows = await this.db.query(
      `SELECT DISTINCT ON (account_tool_instance_id) ${CONNECTION_TEST_COLUMNS.join(", ")} FROM mcp_connection_tests
       WHERE account_tool_instance_id = ANY($1::uuid[]) ORDER BY account_tool_instance_id, tested_at DESC, id DESC`,
      [serverIds],
    );
    const byServer = new Map(rows.map(toConnectionTestRow).map((r) => [r.serverId, r]));
    return serverIds.map((id) => byServer.get(id) ?? null);
  }

  async connectionTestsOf(serverIds: readonly string[], first: number) {
    const rows = await this.db.query(
      `SELECT ${CONNECTION_TEST_COLUMNS.join(", ")} FROM (
         SELECT *, row_number() OVER (PARTITION BY account_tool_instance_id ORDER BY tested_at DESC, id DESC) AS n
         FROM mcp_connection_tests WHERE account_tool_instance_id = ANY($1::uuid[])) t
       WHERE n <= $2 ORDER BY account_tool_instance_id, tested_at DESC, id DESC`,
      [serverIds, first],
    );
    const byServer = new Map<string, ConnectionTestRow[]>(serverIds.map((id) => [id, []]));
    for (const row of rows.map(toConnectionTestRow)) byServer.get(row.serverId)?.push(row);
    return serverIds.map((id) => byServer.get(id) ?? []);
  }

  async connectionTestsByIds(ids: readonly string[]) {
    const rows = await this.db.query(`SELECT ${CONNECTION_TEST_COLUMNS.join(", ")} FROM mcp_connection_tests WHERE id = ANY($1::uuid[])`, [ids]);
    return inKeyOrder(ids, rows.map(toConnectionTestRow));
  }

  async recordHistory(servers: StatusTransition[], environments: EnvironmentTransition[], keepDays: number) {
    const serverRows = servers.map(statusTransitionValues);
    const environmentRows = environments.map(environmentTransitionValues);
    // One statement: both inserts (a copy another replica wrote first is skipped) and the pruning.
    await this.db.query(
      `WITH s AS (
         INSERT INTO mcp_fleet_status_history (account_tool_instance_id, account_tool_environment_id, user_id, at, previous_state, previous_health, state, health, source, detail)
         SELECT account_tool_instance_id, account_tool_environment_id, user_id, at, previous_state, previous_health, state, health, source, detail FROM json_to_recordset($1::json)
           AS r(account_tool_instance_id uuid, account_tool_environment_id uuid, user_id uuid, at timestamptz, previous_state text, previous_health text, state text, health text, source text, detail text)
         ON CONFLICT ON CONSTRAINT uq_mcp_fleet_status_history DO NOTHING RETURNING 1),
       e AS (
         INSERT INTO mcp_fleet_environment_history (account_tool_environment_id, user_id, at, previous_status, status, source)
         SELECT account_tool_environment_id, user_id, at, previous_status, status, source FROM json_to_recordset($2::json)
           AS r(account_tool_environment_id uuid, user_id uuid, at timestamptz, previous_status text, status text, source text)
         ON CONFLICT ON CONSTRAINT uq_mcp_fleet_environment_history DO NOTHING RETURNING 1),
       ps AS (DELETE FROM mcp_fleet_status_history WHERE at < now() - make_interval(days => $3::int) RETURNING 1),
       pe AS (DELETE FROM mcp_fleet_environment_history WHERE at < now() - make_interval(days => $3::int) RETURNING 1)
       SELECT (SELECT count(*) FROM s) + (SELECT count(*) FROM e) AS written`,
      [JSON.stringify(serverRows), JSON.stringify(environmentRows), keepDays],
    );
  }

  async statusHistoryOf(serverIds: readonly string[], page: { first: number; before?: Date }) {
    const rows = await this.db.query("SELECT * FROM mcp_fleet_status_history_of($1::uuid[], $2::int, $3::timestamptz)", historyValues(serverIds, page));
    return groupBy(serverIds, rows, (r) => String(r.account_tool_instance_id), toStatusTransition);
  }

  async environmentHistoryOf(environmentIds: readonly string[], page: { first: number; before?: Date }) {
    const rows = await this.db.query(
      "SELECT * FROM mcp_fleet_environment_history_of($1::uuid[], $2::int, $3::timestamptz)",
      historyValues(environmentIds, page),
    );
    return groupBy(environmentIds, rows, (r) => String(r.account_tool_environment_id), toEnvironmentTransition);
  }

  async recordDiscovery(id: string, capabilities: unknown, discoveryMetadata: unknown) {
    await this.db.query(
      `WITH ${writer("PROBE")} UPDATE account_tool_instances SET mcp_server_capabilities = $2::jsonb, mcp_discovery_metadata = $3::jsonb FROM mcp_fleet_writer WHERE id = $1`,
      [id, JSON.stringify(capabilities), JSON.stringify(discoveryMetadata)],
    );
  }

  async setServerContainer(id: string, containerId: string | null) {
    await this.db.query(`WITH ${writer("LIFECYCLE")} UPDATE account_tool_instances SET mcp_fleet_container_id = $2 FROM mcp_fleet_writer WHERE id = $1`, [
      id,
      containerId,
    ]);
  }

  async serversOn(environmentId: string) {
    const rows = await this.db.query(
      `SELECT ${SERVER_SELECT} FROM account_tool_instances s WHERE s.account_tool_environment_id = $1 AND s.mcp_server_type IS NOT NULL ORDER BY s.created_at LIMIT 1000`,
      [environmentId],
    );
    return rows.map(toServerRow);
  }

  async setServerStatus(id: string, status: InstallationStatus, errorMessage?: string | null, source: WriteSource = "LIFECYCLE") {
    const rows = await this.db.query(
      `WITH ${writer(source)} UPDATE account_tool_instances s SET status_on_toolbox = $2::account_tool_installation_status_enum,
         instance_error_message = CASE WHEN $3::boolean THEN $4 ELSE instance_error_message END
       FROM mcp_fleet_writer WHERE s.id = $1 AND s.mcp_server_type IS NOT NULL RETURNING ${SERVER_SELECT}`,
      [id, status, errorMessage !== undefined, errorMessage ?? null],
    );
    return rows[0] ? toServerRow(rows[0]) : null;
  }

  async setServerHealthPolicy(id: string, policy: { autoRecovery?: boolean; probeBudgetMs?: number | null }) {
    const rows = await this.db.query(
      `WITH ${writer("LIFECYCLE")} UPDATE account_tool_instances s SET
         mcp_fleet_auto_recovery = COALESCE($2::boolean, mcp_fleet_auto_recovery),
         mcp_fleet_probe_budget_ms = CASE WHEN $3::boolean THEN $4::int ELSE mcp_fleet_probe_budget_ms END,
         mcp_fleet_recovery = CASE WHEN $2::boolean AND NOT mcp_fleet_auto_recovery THEN NULL ELSE mcp_fleet_recovery END
       FROM mcp_fleet_writer WHERE s.id = $1 AND s.mcp_server_type IS NOT NULL RETURNING ${SERVER_SELECT}`,
      [id, policy.autoRecovery ?? null, policy.probeBudgetMs !== undefined, policy.probeBudgetMs ?? null],
    );
    return rows[0] ? toServerRow(rows[0]) : null;
  }

  async setRecovery(id: string, record: unknown) {
    await this.db.query(
      `WITH ${writer("AUTO_RECOVERY")} UPDATE account_tool_instances SET mcp_fleet_recovery = $2::jsonb FROM mcp_fleet_writer WHERE id = $1`,
      [id, record == null ? null : JSON.stringify(record)],
    );
  }

  async setRiskLevels(levels: { servers: RiskLevelChange[]; environments: RiskLevelChange[] }) {
    if (!levels.servers.length && !levels.environments.length) return;
    await this.db.query(
      `WITH ${writer("EARLY_WARNING")},
       s AS (UPDATE account_tool_instances t SET mcp_fleet_risk = r.level FROM mcp_fleet_writer, json_to_recordset($1::json) AS r(id uuid, level text)
             WHERE t.id = r.id AND t.mcp_fleet_risk IS DISTINCT FROM r.level RETURNING 1),
       e AS (UPDATE account_tool_environments t SET mcp_fleet_risk = r.level FROM mcp_fleet_writer, json_to_recordset($2::json) AS r(id uuid, level text)
             WHERE t.id = r.id AND t.mcp_fleet_risk IS DISTINCT FROM r.level RETURNING 1)
       SELECT (SELECT count(*) FROM s) + (SELECT count(*) FROM e) AS written`,
      [JSON.stringify(levels.servers), JSON.stringify(levels.environments)],
    );
  }

  async setReachability(id: string, reachability: string) {
    const rows = await this.db.query(
      `WITH ${writer("PROBE")} UPDATE account_tool_instances SET mcp_fleet_reachability = $2 FROM mcp_fleet_writer
       WHERE id = $1 AND mcp_fleet_reachability IS DISTINCT FROM $2 RETURNING 1 AS changed`,
      [id, reachability],
    );
    return rows.length > 0;
  }

  async applyDtmaReport(environmentId: string, report: DtmaReport) {
    const [row] = await this.db.query<{ n: number }>(
      `WITH ${writer("AGENT_REPORT")} SELECT mcp_fleet_apply_dtma_report($1::uuid, $2::timestamptz, $3, $4::jsonb, $5::jsonb, $6) AS n FROM mcp_fleet_writer`,
      [
        environmentId,
        report.at.toISOString(),
        report.version,
        report.systemMetrics ? JSON.stringify(report.systemMetrics) : null,
        JSON.stringify(report.instances),
        report.missingMessage ?? null,
      ],
    );
    return { instancesUpdated: row.n };
  }

  async markEnvironmentUnresponsive(environmentId: string, error: string) {
    await this.db.query(
      `WITH ${writer("MONITOR")} UPDATE account_tool_environments SET status = 'unresponsive', dtma_health_details_json = jsonb_build_object('error', $2::text)
       FROM mcp_fleet_writer WHERE id = $1 AND status NOT IN ('pending_deprovision','deprovisioning','deprovisioned')`,
      [environmentId, error],
    );
  }

  async environmentIdForToken(token: string) {
    const rows = await this.db.query<{ id: string }>("SELECT id FROM account_tool_environments WHERE dtma_bearer_token = $1", [token]);
    return rows[0]?.id ?? null;
  }

  async dtmaTokenFor(environmentId: string) {
    const rows = await this.db.query<{ t: string | null }>("SELECT dtma_bearer_token AS t FROM account_tool_environments WHERE id = $1", [environmentId]);
    return rows[0]?.t ?? null;
  }

  async createServer(server: NewServer) {
    // A catalog deploy references its entry; a raw-image one gets the image's private entry
    // (rows.ts privateCatalogName; upstream: package_identifier holds the image URL), owned by the
    // droplet's owner.
    const tool = server.catalogToolId
      ? "tool AS (SELECT $9::uuid AS id, $2::text AS image)" // $2 typed though unused
      : `tool AS (
         INSERT INTO tool_catalog (tool_name, name, package_identifier, docker_image_url, is_public, created_by, description)
         SELECT 'image:' || coalesce(owner.user_id::text, 'service') || ':' || $2, 'image:' || coalesce(owner.user_id::text, 'service') || ':' || $2,
           $2, $2, false, owner.user_id, 'Deployed from an image, outside the curated catalog' FROM owner
         ON CONFLICT (tool_name) DO UPDATE SET updated_at = tool_catalog.updated_at RETURNING id)`;
    const rows = await this.db.query(
      `WITH owner AS (SELECT user_id FROM account_tool_environments WHERE id = $1), ${tool}, ${writer("LIFECYCLE")}
       INSERT INTO account_tool_instances AS s (account_tool_environment_id, tool_catalog_id, status_on_toolbox, instance_name_on_toolbox,
         port_mapping_json, base_config_override_json, mcp_server_type, mcp_transport_type, mcp_endpoint_path)
       SELECT $1, tool.id, $3::account_tool_installation_status_enum, $4, $5::jsonb, $6::jsonb, 'mcp_server', $7, $8 FROM tool, mcp_fleet_writer
       RETURNING ${SERVER_SELECT}`,
      [
        server.environmentId,
        server.image,
        server.status,
        server.name,
        JSON.stringify(server.portMapping),
        JSON.stringify(server.baseConfigOverride),
        server.transport,
        server.endpointPath,
        ...(server.catalogToolId ? [server.catalogToolId] : []),
      ],
    );
    return toServerRow(rows[0]);
  }

  async deleteServer(id: string) {
    const rows = await this.db.query("DELETE FROM account_tool_instances WHERE id = $1 RETURNING id", [id]);
    return rows.length > 0;
  }

  async updateServerEndpoint(id: string, fields: { portMapping?: unknown; endpointPath?: string }) {
    await this.db.query(
      `UPDATE account_tool_instances SET port_mapping_json = COALESCE($2::jsonb, port_mapping_json), mcp_endpoint_path = COALESCE($3, mcp_endpoint_path) WHERE id = $1`,
      [id, fields.portMapping === undefined ? null : JSON.stringify(fields.portMapping), fields.endpointPath ?? null],
    );
  }

  async updateServerConfig(id: string, config: ServerConfig) {
    await this.db.query(
      `WITH ${writer("LIFECYCLE")} UPDATE account_tool_instances SET base_config_override_json = $2::jsonb, port_mapping_json = $3::jsonb,
         mcp_transport_type = $4, mcp_endpoint_path = $5, version = COALESCE($6, version), mcp_fleet_container_id = $7 FROM mcp_fleet_writer WHERE id = $1`,
      [
        id,
        JSON.stringify(config.baseConfigOverride),
        JSON.stringify(config.portMapping),
        config.transport,
        config.endpointPath,
        config.version,
        config.containerId,
      ],
    );
  }

  async ping() {
    await this.db.query("SELECT 1");
  }

  close() {
    return this.db.close();
  }
}

/** Rows grouped by key, in the keys' order (every key present, maybe empty). */
function historyValues(keys: readonly string[], page: { first: number; before?: Date }): unknown[] {
  const args = historyArgs(keys, page);
  return [args.keys, args.per_key, args.before_at];
}
