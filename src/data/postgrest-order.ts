// Sorting over PostgREST, which orders by columns only, not by an expression such as a health
// rank. A list's order is a sequence of segments, each a filter and an order one request can
// express; a page reads segments in order until it has its rows, so a column order costs one
// request and a rank order at most one per rank (fewer once the page is full). The order matches
// the SQL store's: by the key, rows without one last, ties by id in the same direction.
import type { Cursor, PageArgs } from "./store.ts";

/** One part of a list: the rows matching `tree`, by `column` then id, or by id under a fixed key. */
export interface Segment {
  tree: string | null;
  column?: string;
  /** The key of every row of a segment without a column (a rank's position; null for "no value"). */
  key?: string | null;
}

export function quote(value: string): string {
  return `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/** One request of a page: a filter tree, how to order, and each row's key. */
export interface SegmentRequest {
  tree: string | null;
  column?: string;
  /** The column's direction of travel. */
  ascending: boolean;
  /** The id's: the list's direction, which an inverted order's column runs against. */
  idAscending: boolean;
  nullsFirst: boolean;
  keyOf(row: Record<string, unknown>): string | null;
}

export class SegmentedOrder {
  /** The segments in list order. */
  private readonly listed: Segment[];
  /** The list's direction (the id's); the key's unless inverted. */
  private readonly descending: boolean;
  private readonly inverted: boolean;

  /**
   * `ranked`: segments are ranks, worst first; descending lists them in reverse. Otherwise they are
   * a column's rows, then rows without a value, which stay last whatever the direction.
   */
  constructor(segments: Segment[], options: { descending?: boolean; inverted?: boolean; ranked?: boolean } = {}) {
    this.descending = options.descending ?? false;
    this.inverted = options.inverted ?? false;
    this.listed = options.ranked && this.descending ? [...segments].reverse() : segments;
  }

  /** The requests of a page, in the direction of travel from the cursor's segment on. */
  requests(page: PageArgs): SegmentRequest[] {
    const backward = page.backward ?? false;
    const travel = backward ? [...this.listed].reverse() : this.listed;
    const idAscending = this.descending === backward;
    const ascending = idAscending !== this.inverted;
    let start = 0;
    const cursor = page.after;
    if (cursor) {
      // A column's segment holds its rows without a value too, unless a segment of its own does.
      const nullSegment = travel.some((s) => !s.column && s.key === null);
      start = travel.findIndex((s) => (s.column ? cursor.key !== null || !nullSegment : s.key === cursor.key));
      if (start < 0) return [];
    }
    return travel.slice(start).map((segment, i) => {
      const trees = segment.tree ? [segment.tree] : [];
      if (i === 0 && cursor) trees.push(afterTree(segment, cursor, ascending, idAscending, backward));
      const column = segment.column;
      return {
        tree: trees.length > 1 ? `and(${trees.join(",")})` : (trees[0] ?? null),
        column,
        ascending,
        idAscending,
        nullsFirst: backward,
        keyOf: column ? (row) => keyOf(row[column]) : () => segment.key ?? null,
      };
    });
  }

  /**
   * A page: `fetch` runs one request for at most `limit` rows; segments are read until the page
   * and one extra row (for hasNextPage) are.
   */
  async page<R extends Record<string, unknown>>(page: PageArgs, fetch: (request: SegmentRequest, limit: number) => Promise<R[]>) {
    const read: Array<{ row: R; key: string | null }> = [];
    for (const request of this.requests(page)) {
      if (read.length > page.first) break;
      for (const row of await fetch(request, page.first + 1 - read.length)) read.push({ row, key: request.keyOf(row) });
    }
    return finishPage(read, page);
  }
}

/** Rows read in the direction of travel (one more than the page, if there is more) as a page in list order. */
export function finishPage<R>(read: Array<{ row: R; key: string | null }>, page: PageArgs) {
  const kept = read.slice(0, page.first);
  if (page.backward) kept.reverse();
  return { rows: kept.map((r) => r.row), keys: kept.map((r) => r.key), hasNextPage: read.length > page.first };
}

const keyOf = (value: unknown): string | null => (value === null || value === undefined ? null : String(value));

/** Rows after `cursor` within its segment, in the direction of travel. */
function afterTree(segment: Segment, cursor: Cursor, ascending: boolean, idAscending: boolean, nullsFirst: boolean): string {
  const beyond = ascending ? "gt" : "lt";
  const id = `id.${idAscending ? "gt" : "lt"}.${cursor.id}`;
  const column = segment.column;
  if (!column) return id;
  if (cursor.key === null) return nullsFirst ? `or(${column}.not.is.null,${id})` : `and(${column}.is.null,${id})`;
  const key = quote(cursor.key);
  return `or(${column}.${beyond}.${key},and(${column}.eq.${key},${id})${nullsFirst ? "" : `,${column}.is.null`})`;
}
