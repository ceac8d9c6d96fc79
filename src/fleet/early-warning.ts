// The early-warning watch (EARLY_WARNING_INTERVAL_MS, on by default): judges every server's and
// droplet's risk by the rules in domain/risk.ts, a page at a time, on one replica at a time (an
// advisory lock), and keeps the level on the row where it changed (as EARLY_WARNING), so risk can
// be filtered and its changes reach dashboards as status events. MCPServer.risk, with its reasons,
// is the same judgement made at request time.
import type { ConnectionTestRow, EnvironmentRow, ServerRow } from "../data/rows.ts";
import { allPages, type RiskLevelChange, type StatusTransition, type Store } from "../data/store.ts";
import { systemMetrics } from "../domain/metrics.ts";
import { environmentRisk, type Risk, serverRisk } from "../domain/risk.ts";
import { type HeartbeatThresholds, stateOf } from "../domain/status.ts";
import type { Logger } from "../log.ts";
import { LockedRounds } from "./rounds.ts";
import { REACHABILITY_TESTS } from "./test-connection.ts";

/** Arbitrary but fixed: the advisory lock every replica's watch competes for. */
export const EARLY_WARNING_LOCK_KEY = 0x6d6377; // "mcw"

/** Transitions and connection tests looked at per server: enough for the longest window at any sane rate. */
export const RISK_HISTORY = 50;
/** The same number as reachability reads, so a page that asks for both is served by one statement. */
export const RISK_TESTS = REACHABILITY_TESTS;

/** A server's risk from what a page (or the watch) read: its transitions and tests, newest first, and its droplet. */
export function riskOfServer(
  server: ServerRow,
  history: readonly StatusTransition[],
  tests: readonly ConnectionTestRow[],
  environment: EnvironmentRow | null,
  now: Date,
  thresholds: HeartbeatThresholds,
): Risk {
  return serverRisk(
    { state: stateOf(server.status), lastHeartbeatMs: server.lastHeartbeatMs, history, tests, metrics: systemMetrics(environment?.healthDetails ?? null) },
    now,
    thresholds,
  );
}

export interface EarlyWarningRound {
  ran: boolean;
  judged: number;
  changed: number;
}

export class EarlyWarning extends LockedRounds {
  private readonly now: () => Date;

  /** `store` is the service role's. Needs an advisory lock (Postgres or the embedded database). */
  constructor(
    private readonly store: Store,
    private readonly options: { intervalMs: number; thresholds: HeartbeatThresholds; logger: Logger; now?: () => Date },
  ) {
    super(store.capabilities, "the early-warning watch", options);
    this.now = options.now ?? (() => new Date());
  }

  protected round(): Promise<unknown> {
    return this.runOnce();
  }

  /** One round; `ran` is false when another replica holds the lock. */
  async runOnce(): Promise<EarlyWarningRound> {
    const round = { ran: false, judged: 0, changed: 0 };
    round.ran = await this.withLock(EARLY_WARNING_LOCK_KEY, async () => {
      const now = this.now();
      const { thresholds } = this.options;
      const changed = (row: { id: string; risk: string | null }, level: RiskLevelChange["level"]) => (row.risk ?? "NONE") !== level;
      // Servers, a page at a time: two batched reads per page (history, tests), then the changes.
      for await (const page of allPages((after) => this.store.listServers({}, { first: 500, after }, { now, thresholds }))) {
        const ids = page.rows.map((s) => s.id);
        const [histories, tests] = await Promise.all([this.store.statusHistoryOf(ids, { first: RISK_HISTORY }), this.store.connectionTestsOf(ids, RISK_TESTS)]);
        const environments = new Map(page.environments.map((e) => [e.id, e]));
        const servers = page.rows.flatMap((s, i) => {
          const { level } = riskOfServer(s, histories[i], tests[i], environments.get(s.environmentId) ?? null, now, thresholds);
          return changed(s, level) ? [{ id: s.id, level }] : [];
        });
        round.judged += page.rows.length;
        round.changed += servers.length;
        if (servers.length) await this.store.setRiskLevels({ servers, environments: [] });
      }
      // Droplets: their own metrics decide.
      for await (const page of allPages((after) => this.store.listEnvironments({}, { first: 500, after }))) {
        const environments = page.rows.flatMap((e) => {
          const { level } = environmentRisk(systemMetrics(e.healthDetails));
          return changed(e, level) ? [{ id: e.id, level }] : [];
        });
        round.judged += page.rows.length;
        round.changed += environments.length;
        if (environments.length) await this.store.setRiskLevels({ servers: [], environments });
      }
    });
    if (round.changed) this.options.logger.info(round, "early warning: risk levels changed");
    return round;
  }
}
