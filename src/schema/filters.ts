// Filter inputs, validated and turned into store filters.
import { ENVIRONMENT_STATUSES } from "../domain/status.ts";
import type { EnvironmentFilter, ServerFilter } from "../data/store.ts";
import { builder } from "./builder.ts";
import { badInput } from "./errors.ts";
import { parseId } from "./ids.ts";
import {
  DesiredStateEnum,
  EnvironmentStatusEnum,
  ReachabilityEnum,
  RecoveryStatusEnum,
  RiskLevelEnum,
  ServerHealthEnum,
  ServerStateEnum,
  ServerTypeEnum,
} from "./enums.ts";

const MAX_SEARCH = 200;
const MAX_IDS = 500;

export const ServerFilterInput = builder.inputType("ServerFilter", {
  description: "Every given condition must hold; within a list, any value matches.",
  fields: (t) => ({
    environmentIds: t.idList({ description: "Environment ids (global or UUID)." }),
    states: t.field({ type: [ServerStateEnum] }),
    healths: t.field({ type: [ServerHealthEnum], description: "Evaluated at the time of the request." }),
    serverTypes: t.field({ type: [ServerTypeEnum] }),
    search: t.string({ description: "Case-insensitive substring of the server name." }),
    desiredStates: t.field({ type: [DesiredStateEnum], description: "What someone last asked for." }),
    reachabilities: t.field({ type: [ReachabilityEnum], description: "As the last connection test left it (UNKNOWN: never tested)." }),
    recoveries: t.field({ type: [RecoveryStatusEnum], description: "Automatic recovery's status, e.g. GAVE_UP for servers that need a person." }),
    risks: t.field({ type: [RiskLevelEnum], description: "The risk level as the early-warning watch last judged it." }),
  }),
});

export const EnvironmentFilterInput = builder.inputType("EnvironmentFilter", {
  fields: (t) => ({
    statuses: t.field({ type: [EnvironmentStatusEnum] }),
    risks: t.field({ type: [RiskLevelEnum], description: "The droplet's risk level as the early-warning watch last judged it." }),
    search: t.string({ description: "Case-insensitive substring of the environment or droplet name." }),
  }),
});

function search(value: string | null | undefined): string | undefined {
  if (value == null || value === "") return undefined;
  if (value.length > MAX_SEARCH) throw badInput(`\`search\` may be at most ${MAX_SEARCH} characters`, "search");
  return value;
}

export function toServerFilter(input: typeof ServerFilterInput.$inferInput | null | undefined): ServerFilter {
  if (!input) return {};
  if (input.environmentIds && input.environmentIds.length > MAX_IDS) throw badInput(`At most ${MAX_IDS} environment ids`, "environmentIds");
  return {
    environmentIds: input.environmentIds?.map((id) => parseId(String(id), "Environment", "environmentIds")),
    states: input.states ?? undefined,
    healths: input.healths ?? undefined,
    serverTypes: input.serverTypes ?? undefined,
    search: search(input.search),
    desiredStates: input.desiredStates ?? undefined,
    reachabilities: input.reachabilities ?? undefined,
    recoveries: input.recoveries ?? undefined,
    risks: input.risks ?? undefined,
  };
}

export function toEnvironmentFilter(input: typeof EnvironmentFilterInput.$inferInput | null | undefined): EnvironmentFilter {
  if (!input) return {};
  const statuses = input.statuses?.filter((s) => (ENVIRONMENT_STATUSES as readonly string[]).includes(s));
  return { statuses, search: search(input.search), risks: input.risks ?? undefined };
}
