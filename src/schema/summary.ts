// The counts at the top of a fleet dashboard, in one statement (SQL stores).
import { SERVER_HEALTHS, SERVER_STATES } from "../domain/status.ts";
import type { FleetSummary } from "../data/store.ts";
import { ownerScope } from "../auth/visibility.ts";
import type { Pushable } from "../live/hub.ts";
import { builder } from "./builder.ts";
import { holdSubscription } from "./context.ts";
import { badInput, userError } from "./errors.ts";
import { ServerHealthEnum, ServerStateEnum } from "./enums.ts";
import { ServerFilterInput, toServerFilter } from "./filters.ts";
import { parseId } from "./ids.ts";

const MAX_ENVIRONMENTS = 500;

function environmentScope(ids: ReadonlyArray<string | number> | null | undefined): string[] | undefined {
  if (!ids) return undefined;
  if (ids.length > MAX_ENVIRONMENTS) throw badInput(`At most ${MAX_ENVIRONMENTS} environment ids`, "environmentIds");
  return ids.map((id) => parseId(String(id), "Environment", "environmentIds"));
}

const StateCountRef = builder.objectRef<{ state: (typeof SERVER_STATES)[number]; count: number }>("StateCount").implement({
  fields: (t) => ({ state: t.field({ type: ServerStateEnum, resolve: (c) => c.state }), count: t.exposeInt("count") }),
});
const HealthCountRef = builder.objectRef<{ health: (typeof SERVER_HEALTHS)[number]; count: number }>("HealthCount").implement({
  fields: (t) => ({ health: t.field({ type: ServerHealthEnum, resolve: (c) => c.health }), count: t.exposeInt("count") }),
});
const EnvironmentStatusCountRef = builder.objectRef<{ status: string; count: number }>("EnvironmentStatusCount").implement({
  fields: (t) => ({ status: t.exposeString("status"), count: t.exposeInt("count") }),
});
const RegionCountRef = builder.objectRef<{ region: string; servers: number; environments: number }>("RegionCount").implement({
  fields: (t) => ({ region: t.exposeString("region"), servers: t.exposeInt("servers"), environments: t.exposeInt("environments") }),
});

const FleetSummaryRef = builder.objectRef<FleetSummary>("FleetSummary").implement({
  description: "Your servers (under the filter) by state and health, and their droplets by status and region; every state and health listed, zeros included.",
  fields: (t) => ({
    servers: t.exposeInt("servers"),
    byState: t.field({ type: [StateCountRef], resolve: (s) => SERVER_STATES.map((state) => ({ state, count: s.byState[state] })) }),
    byHealth: t.field({ type: [HealthCountRef], resolve: (s) => SERVER_HEALTHS.map((health) => ({ health, count: s.byHealth[health] })) }),
    environments: t.exposeInt("environments"),
    byEnvironmentStatus: t.field({ type: [EnvironmentStatusCountRef], resolve: (s) => s.byEnvironmentStatus }),
    byRegion: t.field({ type: [RegionCountRef], resolve: (s) => s.byRegion }),
  }),
});

builder.queryField("fleetSummary", (t) =>
  t.field({
    type: FleetSummaryRef,
    description: "The dashboard's counts, in one statement: health is as of this request's clock.",
    args: { filter: t.arg({ type: ServerFilterInput }) },
    resolve: (_root, args, ctx) => ctx.store.fleetSummary(toServerFilter(args.filter), ctx.time),
  }),
);

builder.subscriptionField("fleetSummaryChanged", (t) =>
  t.field({
    type: FleetSummaryRef,
    description:
      "Your fleet's summary (or that of some of your droplets), now and each time it changes: kept by the live fleet as servers and droplets change and heartbeats age, not recomputed per subscriber.",
    args: { environmentIds: t.arg.idList({ description: `Only these droplets (global ids or UUIDs, at most ${MAX_ENVIRONMENTS}).` }) },
    subscribe: (_root, args, ctx) => {
      if (!ctx.live) throw userError("UPSTREAM_UNAVAILABLE", "Live updates are not running on this server");
      const live = ctx.live;
      const owner = ownerScope(ctx.viewer);
      const scope = environmentScope(args.environmentIds);
      return holdSubscription(ctx, () => {
        const changes = live.summaryEvents.subscribe(
          (e) => (owner === undefined || e.owners.has(owner)) && (!scope || scope.some((id) => e.environments.has(id))),
        );
        // The current summary first, then one per change.
        let first = true;
        const initial = () => ({ owners: new Set() });
        const iterator: AsyncIterableIterator<unknown> & Pushable<unknown> = {
          next: () => {
            if (!first) return changes.next();
            first = false;
            return Promise.resolve({ done: false, value: initial() });
          },
          listen: (onEvent, onEnd) => {
            if (first) onEvent(initial());
            first = false;
            changes.listen(onEvent, onEnd);
          },
          return: () => changes.return?.() ?? Promise.resolve({ done: true, value: undefined }),
          [Symbol.asyncIterator]: () => iterator,
        };
        return iterator;
      });
    },
    resolve: (_event, args, ctx) => (ctx.live as NonNullable<typeof ctx.live>).counts.summary(ownerScope(ctx.viewer), environmentScope(args.environmentIds)),
  }),
);
