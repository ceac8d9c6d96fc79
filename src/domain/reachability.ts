// The reachability axis: whether a server's MCP endpoint answers, from its recent connection tests
// (the background prober's and anyone's), newest first. Rules:
// - no test yet: UNKNOWN;
// - `failuresToUnreachable` (3) or more failures in a row, newest first: UNREACHABLE;
// - otherwise the newest success decides: SLOW above `slowMs` (5 s), else REACHABLE;
// - failures in a row below the threshold keep that verdict and count in `consecutiveFailures`
//   (one lost probe does not turn a server red); with no success among the tests, UNREACHABLE.

export const REACHABILITIES = ["REACHABLE", "SLOW", "UNREACHABLE", "UNKNOWN"] as const;
export type Reachability = (typeof REACHABILITIES)[number];

export interface ProbeOutcome {
  success: boolean;
  latencyMs: number;
  error: string | null;
  testedAt: Date;
}

export interface ReachabilityThresholds {
  slowMs: number;
  failuresToUnreachable: number;
}

export const DEFAULT_REACHABILITY: ReachabilityThresholds = { slowMs: 5000, failuresToUnreachable: 3 };

export interface ReachabilityStatus {
  status: Reachability;
  lastProbeAt: Date | null;
  latencyMs: number | null;
  consecutiveFailures: number;
  lastError: string | null;
}

/** The axis from tests newest first. */
export function reachabilityOf(newestFirst: readonly ProbeOutcome[], thresholds: ReachabilityThresholds = DEFAULT_REACHABILITY): ReachabilityStatus {
  const latest = newestFirst[0];
  if (!latest) return { status: "UNKNOWN", lastProbeAt: null, latencyMs: null, consecutiveFailures: 0, lastError: null };
  let failures = 0;
  while (failures < newestFirst.length && !newestFirst[failures].success) failures++;
  const success = newestFirst[failures];
  const base = { lastProbeAt: latest.testedAt, latencyMs: latest.latencyMs, consecutiveFailures: failures, lastError: failures ? latest.error : null };
  if (failures >= thresholds.failuresToUnreachable || !success) return { ...base, status: "UNREACHABLE" };
  return { ...base, status: success.latencyMs > thresholds.slowMs ? "SLOW" : "REACHABLE" };
}
