// Early warning: a risk level and its reasons, per server and per droplet, from signals the system
// already has (status history, heartbeats, connection tests, the agent's metrics). Each rule is a
// pure function of those and of `now`, so each edge is tested with a fixed clock. The level is the
// highest of the reasons'.
import type { SystemMetrics } from "./metrics.ts";
import type { HeartbeatThresholds, ServerState } from "./status.ts";

export const RISK_LEVELS = ["NONE", "LOW", "MEDIUM", "HIGH"] as const;
export type RiskLevel = (typeof RISK_LEVELS)[number];

export const RISK_REASONS = ["FLAPPING", "RESTARTING", "HEARTBEAT_LATE", "PROBE_FAILING", "LATENCY_RISING", "RESOURCE_PRESSURE"] as const;
export type RiskReasonKind = (typeof RISK_REASONS)[number];

export interface RiskReason {
  kind: RiskReasonKind;
  level: Exclude<RiskLevel, "NONE">;
  detail: string;
}

export interface Risk {
  level: RiskLevel;
  reasons: RiskReason[];
}

/** The windows and bounds of the rules (documented in the README, Active health). */
export const RISK_RULES = {
  /** FLAPPING: state or health transitions in this window: 4 or more MEDIUM, 8 or more HIGH. */
  flapWindowMs: 10 * 60_000,
  flapMedium: 4,
  flapHigh: 8,
  /** RESTARTING: transitions into STARTING in this window: 3 or more MEDIUM. */
  restartWindowMs: 60 * 60_000,
  restartMedium: 3,
  /** HEARTBEAT_LATE: a running server still HEALTHY whose heartbeat is half-way to DEGRADED: LOW. */
  lateFraction: 0.5,
  /** LATENCY_RISING: the newest successful probe against the median of at least 3 before it: 3x LOW, 10x MEDIUM. */
  latencyLow: 3,
  latencyMedium: 10,
  latencyBaseline: 3,
  /** RESOURCE_PRESSURE: the droplet's CPU, memory or disk in use: 80% LOW, 90% MEDIUM, 97% HIGH. */
  pressure: [
    [97, "HIGH"],
    [90, "MEDIUM"],
    [80, "LOW"],
  ] as Array<[number, Exclude<RiskLevel, "NONE">]>,
};

export interface ServerSignals {
  state: ServerState;
  /** Epoch milliseconds. */
  lastHeartbeatMs: number | null;
  /** Status transitions, newest first. */
  history: ReadonlyArray<{ at: Date; current: { state: ServerState } }>;
  /** Connection tests, newest first. */
  tests: ReadonlyArray<{ success: boolean; latencyMs: number }>;
  /** The droplet's metrics, if known. */
  metrics: SystemMetrics | null;
}

const rank = (level: RiskLevel) => RISK_LEVELS.indexOf(level);

function combine(reasons: RiskReason[]): Risk {
  const level = reasons.reduce<RiskLevel>((max, r) => (rank(r.level) > rank(max) ? r.level : max), "NONE");
  return { level, reasons };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** RESOURCE_PRESSURE from a droplet's metrics. */
export function pressureReasons(metrics: SystemMetrics | null): RiskReason[] {
  if (!metrics) return [];
  const readings: Array<[string, number | null | undefined]> = [
    ["CPU", metrics.cpuLoadPercent],
    ["memory", metrics.memory?.usedPercent],
    ["disk", metrics.disk?.usedPercent],
  ];
  const reasons: RiskReason[] = [];
  for (const [what, value] of readings) {
    if (value == null) continue;
    const hit = RISK_RULES.pressure.find(([threshold]) => value >= threshold);
    if (hit) reasons.push({ kind: "RESOURCE_PRESSURE", level: hit[1], detail: `${what} at ${Math.round(value)}%` });
  }
  return reasons;
}

/** A droplet's risk: its resources. */
export function environmentRisk(metrics: SystemMetrics | null): Risk {
  return combine(pressureReasons(metrics));
}

/** A server's risk at `now`. */
export function serverRisk(s: ServerSignals, now: Date, thresholds: HeartbeatThresholds): Risk {
  const reasons: RiskReason[] = [];
  const since = (ms: number) => s.history.filter((h) => now.getTime() - h.at.getTime() <= ms);
  const flaps = since(RISK_RULES.flapWindowMs).length;
  if (flaps >= RISK_RULES.flapMedium) {
    reasons.push({
      kind: "FLAPPING",
      level: flaps >= RISK_RULES.flapHigh ? "HIGH" : "MEDIUM",
      detail: `${flaps} status changes in ${RISK_RULES.flapWindowMs / 60_000} min`,
    });
  }
  const restarts = since(RISK_RULES.restartWindowMs).filter((h) => h.current.state === "STARTING").length;
  if (restarts >= RISK_RULES.restartMedium) {
    reasons.push({ kind: "RESTARTING", level: "MEDIUM", detail: `${restarts} starts in ${RISK_RULES.restartWindowMs / 60_000} min` });
  }
  if (s.state === "RUNNING" && s.lastHeartbeatMs !== null) {
    const age = now.getTime() - s.lastHeartbeatMs;
    if (age >= thresholds.degradedAfterMs * RISK_RULES.lateFraction && age < thresholds.degradedAfterMs) {
      reasons.push({ kind: "HEARTBEAT_LATE", level: "LOW", detail: `last heartbeat ${Math.round(age / 1000)} s ago` });
    }
  }
  const failing = s.tests.findIndex((t) => t.success);
  if (s.tests.length && failing !== 0) {
    const count = failing < 0 ? s.tests.length : failing;
    reasons.push({ kind: "PROBE_FAILING", level: "LOW", detail: `${count} failed connection test${count > 1 ? "s" : ""} in a row` });
  }
  const successes = s.tests.filter((t) => t.success).map((t) => t.latencyMs);
  if (s.tests[0]?.success && successes.length > RISK_RULES.latencyBaseline) {
    const baseline = median(successes.slice(1));
    const ratio = baseline > 0 ? successes[0] / baseline : 0;
    if (ratio >= RISK_RULES.latencyLow) {
      reasons.push({
        kind: "LATENCY_RISING",
        level: ratio >= RISK_RULES.latencyMedium ? "MEDIUM" : "LOW",
        detail: `${successes[0]} ms against a usual ${Math.round(baseline)} ms`,
      });
    }
  }
  reasons.push(...pressureReasons(s.metrics));
  return combine(reasons);
}
