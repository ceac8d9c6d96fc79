// Status history: what happened to a server (or droplet), newest first, batched for a whole page.
import type { EnvironmentTransition, StatusTransition } from "../data/store.ts";
import { builder } from "./builder.ts";
import type { Context } from "./context.ts";
import { ServerHealthEnum, ServerStateEnum } from "./enums.ts";
import { badInput } from "./errors.ts";
import { EnvironmentRef, ServerRef } from "./refs.ts";
import { reads } from "./selection.ts";
import { SourceEnum } from "./subscriptions.ts";

const MAX_HISTORY = 100;

const StateHealthRef = builder
  .objectRef<{ state: StatusTransition["current"]["state"]; health: StatusTransition["current"]["health"] }>("StateAndHealth")
  .implement({
    fields: (t) => ({
      state: t.field({ type: ServerStateEnum, resolve: (s) => s.state }),
      health: t.field({ type: ServerHealthEnum, resolve: (s) => s.health }),
    }),
  });

const ServerTransitionRef = builder.objectRef<StatusTransition>("ServerStatusTransition").implement({
  description: "A change of a server's state or health, recorded once whichever replica saw it.",
  fields: (t) => ({
    at: t.field({ type: "DateTime", description: "The write's time, or the moment the heartbeat crossed the threshold.", resolve: (h) => h.at }),
    previous: t.field({ type: StateHealthRef, nullable: true, description: "Null when the server appeared.", resolve: (h) => h.previous }),
    current: t.field({ type: StateHealthRef, resolve: (h) => h.current }),
    source: t.field({ type: SourceEnum, resolve: (h) => h.source as "DATABASE" }),
    detail: t.string({
      nullable: true,
      description: "What automatic recovery did (an attempt, its outcome, giving up); null for a plain transition.",
      resolve: (h) => h.detail ?? null,
    }),
  }),
});

const EnvironmentTransitionRef = builder.objectRef<EnvironmentTransition>("EnvironmentStatusTransition").implement({
  fields: (t) => ({
    at: t.field({ type: "DateTime", resolve: (h) => h.at }),
    previousStatus: t.exposeString("previousStatus", { nullable: true }),
    status: t.exposeString("status"),
    source: t.field({ type: SourceEnum, resolve: (h) => h.source as "DATABASE" }),
  }),
});

const historyArgs = (first: number | null | undefined) => {
  const n = first ?? 20;
  if (n < 1 || n > MAX_HISTORY) throw badInput(`\`first\` must be between 1 and ${MAX_HISTORY}`, "first");
  return n;
};

/** A server's newest transitions: one statement for every server of the response that asks the same. */
export function serverHistory(ctx: Context, serverId: string, first: number, before?: Date): Promise<StatusTransition[]> {
  return ctx.loaders
    .keyed<StatusTransition[]>(`statusHistory:${first}:${before?.toISOString() ?? ""}`, (ids) => ctx.store.statusHistoryOf(ids, { first, before }))
    .load(serverId);
}

builder.objectField(ServerRef, "statusHistory", (t) =>
  t.field({
    ...reads([]),
    type: [ServerTransitionRef],
    description: `The server's state and health transitions, newest first (before \`before\`, at most ${MAX_HISTORY}); kept STATUS_HISTORY_DAYS days.`,
    args: { first: t.arg.int({ defaultValue: 20 }), before: t.arg({ type: "DateTime" }) },
    resolve: (s, args, ctx) => {
      const first = historyArgs(args.first);
      const before = args.before ?? undefined;
      return serverHistory(ctx, s.id, first, before);
    },
  }),
);

builder.objectField(EnvironmentRef, "statusHistory", (t) =>
  t.field({
    ...reads([]),
    type: [EnvironmentTransitionRef],
    description: `The droplet's status changes, newest first (before \`before\`, at most ${MAX_HISTORY}); kept STATUS_HISTORY_DAYS days.`,
    args: { first: t.arg.int({ defaultValue: 20 }), before: t.arg({ type: "DateTime" }) },
    resolve: (e, args, ctx) => {
      const first = historyArgs(args.first);
      const before = args.before ?? undefined;
      const loader = ctx.loaders.keyed<EnvironmentTransition[]>(`environmentHistory:${first}:${before?.toISOString() ?? ""}`, (ids) =>
        ctx.store.environmentHistoryOf(ids, { first, before }),
      );
      return loader.load(e.id);
    },
  }),
);
