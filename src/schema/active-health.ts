// Active health on the schema: the agent axis and automatic recovery of each server, its health
// policy, and the mutation that sets it. The rules are in domain/status.ts and domain/recovery.ts.
import { dateOf, type EnvironmentColumn, type ServerColumn, type ServerRow } from "../data/rows.ts";
import { nextAttemptAt, parseRecovery, recoveryStatusOf } from "../domain/recovery.ts";
import { agentProblemOf, stateOf } from "../domain/status.ts";
import { OperationError } from "../fleet/errors.ts";
import { builder } from "./builder.ts";
import type { Context } from "./context.ts";
import { RecoveryStatusEnum, ServerStateEnum } from "./enums.ts";
import { parseId } from "./ids.ts";
import { environmentOf } from "./mcp-server.ts";
import { runOperation } from "./mutations/run.ts";
import { ServerRef } from "./refs.ts";
import { reads } from "./selection.ts";

interface AgentView {
  server: ServerRow;
  problem: string | null;
  stale: boolean;
  ageSeconds: number | null;
}

const AgentRef = builder.objectRef<AgentView>("ServerAgentReport").implement({
  description: "The agent axis: what the droplet's agent last reported of the container, and whether it can be asked to act.",
  fields: (t) => ({
    containerState: t.field({ type: ServerStateEnum, description: "The container's state as last stored.", resolve: (a) => stateOf(a.server.status) }),
    reportedAt: t.field({
      type: "DateTime",
      nullable: true,
      description: "The agent's last report of it (heartbeat or refresh).",
      resolve: (a) => dateOf(a.server.lastHeartbeatMs),
    }),
    ageSeconds: t.int({ nullable: true, resolve: (a) => a.ageSeconds }),
    stale: t.boolean({
      description: "True when the last report is at least HEARTBEAT_DEGRADED_AFTER_MS old, or there never was one.",
      resolve: (a) => a.stale,
    }),
    problem: t.string({
      nullable: true,
      description:
        "Why the droplet's agent cannot be asked to act (unresponsive, not expected to answer, silent past HEARTBEAT_UNHEALTHY_AFTER_MS); null when it can.",
      resolve: (a) => a.problem,
    }),
  }),
});

const dateOrNull = (iso: string | undefined) => (iso ? new Date(iso) : null);

interface RecoveryView {
  server: ServerRow;
  ctx: Context;
}

const RecoveryRef = builder.objectRef<RecoveryView>("ServerRecovery").implement({
  description: "Automatic recovery of this server: its state, attempts in the window, and why.",
  fields: (t) => {
    const record = (r: RecoveryView) => parseRecovery(r.server.recovery);
    const attempts = (r: RecoveryView) => {
      const windowStart = r.ctx.time.now.getTime() - r.ctx.config.recovery.policy.windowMs;
      return (record(r)?.attempts ?? []).filter((a) => Date.parse(a) > windowStart);
    };
    return {
      status: t.field({ type: RecoveryStatusEnum, resolve: (r) => recoveryStatusOf(r.server.autoRecovery, r.server.recovery) }),
      attempts: t.int({ description: "Attempts within RECOVERY_WINDOW_MS.", resolve: (r) => attempts(r).length }),
      lastAttemptAt: t.field({ type: "DateTime", nullable: true, resolve: (r) => dateOrNull(attempts(r).at(-1)) }),
      nextAttemptAt: t.field({
        type: "DateTime",
        nullable: true,
        description: "When the next attempt may be made, while RECOVERING.",
        resolve: (r) => nextAttemptAt(record(r), r.ctx.config.recovery.policy),
      }),
      reason: t.string({ nullable: true, description: "The fault, the outcome, or why nothing is tried.", resolve: (r) => record(r)?.reason || null }),
      lastError: t.string({ nullable: true, description: "The last attempt's error, when it failed.", resolve: (r) => record(r)?.lastError ?? null }),
      since: t.field({ type: "DateTime", nullable: true, resolve: (r) => dateOrNull(record(r)?.since) }),
    };
  },
});

const HealthPolicyRef = builder.objectRef<ServerRow>("ServerHealthPolicy").implement({
  fields: (t) => ({
    autoRecovery: t.boolean({ description: "Whether automatic recovery may restart this server (default true).", resolve: (s) => s.autoRecovery }),
    probeBudgetMs: t.int({
      nullable: true,
      description: "This server's connection-test budget; null for MCP_PROBE_TIMEOUT_MS (a first probe after a start gets PROBE_START_BUDGET_MS if larger).",
      resolve: (s) => s.probeBudgetMs,
    }),
  }),
});

builder.objectFields(ServerRef, (t) => ({
  agent: t.field({
    ...reads<ServerColumn, EnvironmentColumn>(["status_on_toolbox", "last_heartbeat_from_dtma"], ["status", "last_heartbeat_at", "name", "public_ip_address"]),
    type: AgentRef,
    resolve: async (s, _args, ctx) => {
      const env = await environmentOf(s, ctx);
      const age = s.lastHeartbeatMs === null ? null : ctx.time.now.getTime() - s.lastHeartbeatMs;
      return {
        server: s,
        problem: agentProblemOf(env, ctx.time.now, ctx.time.thresholds, ctx.config.allowPrivateTargets),
        stale: age === null || age >= ctx.time.thresholds.degradedAfterMs,
        ageSeconds: age === null ? null : Math.max(0, Math.floor(age / 1000)),
      };
    },
  }),
  recovery: t.field({
    ...reads<ServerColumn>(["mcp_fleet_auto_recovery", "mcp_fleet_recovery"]),
    type: RecoveryRef,
    resolve: (s, _args, ctx) => ({ server: s, ctx }),
  }),
  healthPolicy: t.field({
    ...reads<ServerColumn>(["mcp_fleet_auto_recovery", "mcp_fleet_probe_budget_ms"]),
    type: HealthPolicyRef,
    resolve: (s) => s,
  }),
}));

const HealthPolicyInput = builder.inputType("ServerHealthPolicyInput", {
  description: "What to change; everything left out stays as it is.",
  fields: (t) => ({
    id: t.id({ required: true }),
    autoRecovery: t.boolean({ description: "Turning it on again clears recovery's record: an open circuit closes." }),
    probeBudgetMs: t.int({ description: "1,000-300,000 ms; null for the default." }),
  }),
});

builder.mutationField("setServerHealthPolicy", (t) =>
  t.field({
    type: ServerRef,
    description: "Sets a server's health policy: automatic recovery on or off, and its connection-test budget.",
    args: { input: t.arg({ type: HealthPolicyInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      runOperation(async () => {
        const id = parseId(String(input.id), "MCPServer", "id");
        const budget = input.probeBudgetMs;
        if (budget != null && (budget < 1000 || budget > 300_000))
          throw new OperationError("BAD_USER_INPUT", "`probeBudgetMs` must be between 1000 and 300000");
        const policy: { autoRecovery?: boolean; probeBudgetMs?: number | null } = {};
        if (input.autoRecovery != null) policy.autoRecovery = input.autoRecovery;
        if (input.probeBudgetMs !== undefined) policy.probeBudgetMs = budget ?? null;
        // The viewer's store: a server they cannot see is NOT_FOUND, and is not written.
        const [visible] = await ctx.store.serversByIds([id]);
        const updated = visible && (await ctx.store.setServerHealthPolicy(id, policy));
        if (!updated) throw new OperationError("NOT_FOUND", `No MCP server with id ${id}`);
        return updated;
      }),
  }),
);
