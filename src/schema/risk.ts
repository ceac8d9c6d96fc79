// Early warning on the schema: MCPServer.risk and Environment.risk, by the rules in
// domain/risk.ts, from what a page already batches (history, connection tests, the droplet).
import type { EnvironmentColumn, ServerColumn } from "../data/rows.ts";
import { systemMetrics } from "../domain/metrics.ts";
import { RiskLevelEnum } from "./enums.ts";
import { environmentRisk, RISK_REASONS, type Risk, type RiskReason } from "../domain/risk.ts";
import { RISK_HISTORY, RISK_TESTS, riskOfServer } from "../fleet/early-warning.ts";
import { builder } from "./builder.ts";
import { serverHistory } from "./history.ts";
import { environmentOf, recentConnectionTests } from "./mcp-server.ts";
import { EnvironmentRef, ServerRef } from "./refs.ts";
import { reads } from "./selection.ts";

const RiskReasonKindEnum = builder.enumType("RiskReasonKind", { values: RISK_REASONS });

const RiskReasonRef = builder.objectRef<RiskReason>("RiskReason").implement({
  fields: (t) => ({
    kind: t.field({ type: RiskReasonKindEnum, resolve: (r) => r.kind }),
    level: t.field({ type: RiskLevelEnum, resolve: (r) => r.level }),
    detail: t.exposeString("detail"),
  }),
});

const RiskRef = builder.objectRef<Risk>("Risk").implement({
  description: "Early warning: the highest level among the reasons (rules in README, Active health).",
  fields: (t) => ({
    level: t.field({ type: RiskLevelEnum, resolve: (r) => r.level }),
    reasons: t.field({ type: [RiskReasonRef], resolve: (r) => r.reasons }),
  }),
});

builder.objectField(ServerRef, "risk", (t) =>
  t.field({
    ...reads<ServerColumn, EnvironmentColumn>(
      ["status_on_toolbox", "last_heartbeat_from_dtma", "last_started_at", "instance_error_message"],
      ["dtma_health_details_json"],
    ),
    type: RiskRef,
    description:
      "Early warning from flapping, restarts, late heartbeats, failing or slowing connection tests and the droplet's resources, as of this request (status.risk is the level the early-warning watch last stored).",
    resolve: async (s, _args, ctx) => {
      // Each batched for the whole page: one statement per kind.
      const [history, tests, environment] = await Promise.all([
        serverHistory(ctx, s.id, RISK_HISTORY),
        recentConnectionTests(ctx, s.id, RISK_TESTS),
        environmentOf(s, ctx),
      ]);
      return riskOfServer(s, history, tests, environment, ctx.time.now, ctx.time.thresholds);
    },
  }),
);

builder.objectField(EnvironmentRef, "risk", (t) =>
  t.field({
    ...reads<EnvironmentColumn>(["dtma_health_details_json"]),
    type: RiskRef,
    description: "Early warning from the droplet's CPU, memory and disk as its agent last reported them.",
    resolve: (e) => environmentRisk(systemMetrics(e.healthDetails)),
  }),
);
