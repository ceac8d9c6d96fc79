import type { Config } from "../config.ts";
import type { Page, PageArgs } from "../data/store.ts";
import { badInput } from "./errors.ts";
import { decodeCursor, encodeCursor } from "./ids.ts";

interface ConnectionArgs {
  first?: number | null;
  after?: string | null;
  last?: number | null;
  before?: string | null;
}

/** Validates Relay arguments. Lists page forward only, in a stable (name, id) order. */
export function toPageArgs(args: ConnectionArgs, config: Config): PageArgs {
  if (args.last != null || args.before != null)
    throw badInput("Only forward pagination is supported: use `first` and `after`", args.last != null ? "last" : "before");
  const first = args.first ?? config.defaultPageSize;
  if (!Number.isInteger(first) || first < 0) throw badInput("`first` must be a non-negative integer", "first");
  if (first > config.maxPageSize) throw badInput(`\`first\` may be at most ${config.maxPageSize} (got ${first}); page with \`after\``, "first");
  return { first, after: args.after != null ? decodeCursor(args.after) : undefined };
}

class Edge<T extends { id: string; name: string | null }> {
  constructor(readonly node: T) {}
  get cursor(): string {
    return encodeCursor({ name: this.node.name, id: this.node.id });
  }
}

/** The Relay connection object for a page; `totalCount` is computed only if a client asks. */
export function toConnection<T extends { id: string; name: string | null }>(page: Page<T>, totalCount: () => Promise<number>) {
  // Cursors are encoded only when a client selects them.
  const edges = page.rows.map((node) => new Edge(node));
  return {
    edges,
    pageInfo: {
      hasNextPage: page.hasNextPage,
      hasPreviousPage: false,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
    totalCount,
  };
}
