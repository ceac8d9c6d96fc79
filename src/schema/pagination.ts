import type { GraphQLResolveInfo } from "graphql";
import type { Config } from "../config.ts";
import type { Page, PageArgs } from "../data/store.ts";
import { badInput } from "./errors.ts";
import { decodeCursor, encodeCursor } from "./ids.ts";
import { selectedFields } from "./selection.ts";

interface ConnectionArgs {
  first?: number | null;
  after?: string | null;
  last?: number | null;
  before?: string | null;
}

/**
 * Validates Relay arguments: `first`/`after` page forward, `last`/`before` backward (`last` alone
 * is the end of the list). `order` names a list's non-default order, which its cursors carry.
 */
export function toPageArgs(args: ConnectionArgs, config: Config, order?: string): PageArgs {
  if (args.first != null && args.last != null) throw badInput("Give `first` or `last`, not both", "last");
  if (args.after != null && args.before != null) throw badInput("Give `after` or `before`, not both", "before");
  const backward = args.last != null || args.before != null;
  if (backward && args.first != null) throw badInput("`first` pages forward: with `before`, use `last`", "first");
  if (backward && args.after != null) throw badInput("`last` pages backward: with `after`, use `first`", "after");
  const arg = backward ? "last" : "first";
  const count = (backward ? args.last : args.first) ?? config.defaultPageSize;
  if (!Number.isInteger(count) || count < 0) throw badInput(`\`${arg}\` must be a non-negative integer`, arg);
  if (count > config.maxPageSize)
    throw badInput(`\`${arg}\` may be at most ${config.maxPageSize} (got ${count}); page with \`${backward ? "before" : "after"}\``, arg);
  const cursor = backward ? args.before : args.after;
  return { first: count, after: cursor != null ? decodeCursor(cursor, order, backward ? "before" : "after") : undefined, backward };
}

/** Whether a connection's rows are needed: not when a client asks only for its `totalCount`. */
export function wantsRows(info: GraphQLResolveInfo): boolean {
  const selected = selectedFields(info, []);
  return selected.has("edges") || selected.has("pageInfo");
}

class Edge<T extends { id: string; name: string | null }> {
  constructor(
    readonly node: T,
    private readonly key: string | null,
    private readonly order: string | undefined,
  ) {}
  get cursor(): string {
    return encodeCursor({ key: this.key, id: this.node.id }, this.order);
  }
}

/**
 * The Relay connection object for a page; `totalCount` is computed only if a client asks. Paging
 * from a cursor, there is a page on its other side (the row it names, unless since removed).
 */
export function toConnection<T extends { id: string; name: string | null }>(page: Page<T>, args: PageArgs, totalCount: () => Promise<number>, order?: string) {
  // Cursors are encoded only when a client selects them; without keys the list is in name order.
  const edges = page.rows.map((node, i) => new Edge(node, page.keys ? page.keys[i] : node.name, order));
  const beyond = page.hasNextPage;
  const behind = args.after !== undefined;
  return {
    edges,
    pageInfo: {
      hasNextPage: args.backward ? behind : beyond,
      hasPreviousPage: args.backward ? beyond : behind,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
    totalCount,
  };
}
