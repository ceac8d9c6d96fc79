// Automatic recovery's rules: when to restart a server through its droplet's agent, how long to
// wait between attempts, and when to give up. Pure; `now` is a parameter; the engine that acts is
// fleet/recovery.ts. The rules, in order:
// 1. Only a server whose policy allows it and whose user wants it running (desired RUNNING) is
//    ever touched: a user's stop is never fought. Nor one in the middle of a transition
//    (starting, stopping, deploying): something is already acting on it.
// 2. A fault is either the agent reporting the container not running (`stopped`, which is what an
//    exited container is stored as: START; `error`: RESTART), or `probeFailures` connection tests
//    failing in a row since the container last started (RESTART).
// 3. A fault on a droplet whose agent is not answering (agentProblemOf: not expected to, marked
//    unresponsive, or its reports older than the unhealthy threshold) is the droplet's problem:
//    nothing is sent; the record says so (BLOCKED).
// 4. An open circuit (gave up) stays open: nothing is tried until a person acts (any start or
//    stop, or turning recovery on again clears the record, in the database) or the server
//    recovers on its own.
// 5. At `maxAttempts` attempts within `windowMs`, recovery gives up and opens the circuit.
// 6. Otherwise attempt n+1 waits baseDelayMs * 2^(n-1) (capped at maxDelayMs) after attempt n;
//    the first is immediate.
// 7. No fault after attempts: RECOVERED once there is evidence (running, and for a probe fault a
//    connection test that succeeded since the restart). Attempts stay in the window, so a crash
//    loop keeps backing off and still gives up.
import type { DesiredState, ServerState } from "./status.ts";

export interface RecoveryPolicy {
  /** Connection tests failing in a row since the last start that count as a fault. */
  probeFailures: number;
  baseDelayMs: number;
  maxDelayMs: number;
  maxAttempts: number;
  windowMs: number;
}

export const DEFAULT_RECOVERY: RecoveryPolicy = { probeFailures: 3, baseDelayMs: 30_000, maxDelayMs: 600_000, maxAttempts: 5, windowMs: 3_600_000 };

export const RECOVERY_STATES = ["RECOVERING", "RECOVERED", "BLOCKED", "GAVE_UP"] as const;
export type RecoveryState = (typeof RECOVERY_STATES)[number];

/** What a client sees: IDLE (recovery never acted, or its record was cleared), DISABLED (the server's policy is off), or the record's state. */
export const RECOVERY_STATUSES = ["IDLE", ...RECOVERY_STATES, "DISABLED"] as const;
export type RecoveryStatus = (typeof RECOVERY_STATUSES)[number];

export function recoveryStatusOf(autoRecovery: boolean, record: unknown): RecoveryStatus {
  if (!autoRecovery) return "DISABLED";
  return parseRecovery(record)?.state ?? "IDLE";
}

/** What recovery keeps on the row (mcp_fleet_recovery). */
export interface RecoveryRecord {
  state: RecoveryState;
  /** Attempts within the window, oldest first, ISO times. */
  attempts: string[];
  /** What the fault was: the agent's report or failed probes. */
  trigger: "AGENT" | "PROBE" | null;
  /** Why: the fault, the outcome, or why nothing is tried. */
  reason: string;
  /** The last attempt's error, when it failed. */
  lastError: string | null;
  /** When the state last changed, ISO. */
  since: string;
}

/** The record as stored, validated; null when there is none or it is not one of ours. */
export function parseRecovery(value: unknown): RecoveryRecord | null {
  if (!value || typeof value !== "object") return null;
  const r = value as Partial<RecoveryRecord>;
  if (!RECOVERY_STATES.includes(r.state as RecoveryState) || !Array.isArray(r.attempts)) return null;
  return {
    state: r.state as RecoveryState,
    attempts: r.attempts.filter((a): a is string => typeof a === "string" && !Number.isNaN(Date.parse(a))),
    trigger: r.trigger === "AGENT" || r.trigger === "PROBE" ? r.trigger : null,
    reason: typeof r.reason === "string" ? r.reason : "",
    lastError: typeof r.lastError === "string" ? r.lastError : null,
    since: typeof r.since === "string" ? r.since : new Date(0).toISOString(),
  };
}

export interface RecoveryInput {
  now: Date;
  /** The state the stored status means (status.ts stateOf). */
  state: ServerState;
  policy: RecoveryPolicy;
  /** The server's own policy switch. */
  enabled: boolean;
  desired: DesiredState;
  /** The stored status (upstream's enum). */
  status: string;
  errorMessage: string | null;
  /** Connection tests since the container last started, newest first. */
  testsSinceStart: ReadonlyArray<{ success: boolean; error: string | null }>;
  /** Whether the droplet's agent can be asked (null), or why not. */
  agentProblem: string | null;
  record: RecoveryRecord | null;
}

export type RecoveryDecision =
  | { kind: "NONE" }
  | { kind: "WAIT"; until: Date }
  | { kind: "ATTEMPT"; action: "START" | "RESTART"; attempt: number; record: RecoveryRecord; detail: string }
  /** The record changed without anything sent: BLOCKED, GAVE_UP or RECOVERED. */
  | { kind: "RECORD"; record: RecoveryRecord; detail: string };

const TRANSIENT: ReadonlySet<ServerState> = new Set(["STARTING", "STOPPING"]);

/** The delay after attempt `n` (1-based) before the next. */
export function backoffMs(n: number, policy: RecoveryPolicy): number {
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, n - 1));
}

interface Fault {
  trigger: "AGENT" | "PROBE";
  action: "START" | "RESTART";
  reason: string;
}

function faultOf(input: RecoveryInput): Fault | null {
  // Only the statuses a container that stopped or failed by itself gets (what the agent reports, or
  // a failed action): an install or configuration waiting is not a fault a restart mends.
  if (input.status === "stopped") return { trigger: "AGENT", action: "START", reason: "the agent reports the container stopped, though it should run" };
  if (input.status === "error")
    return { trigger: "AGENT", action: "RESTART", reason: `the server is in error${input.errorMessage ? `: ${input.errorMessage}` : ""}` };
  if (input.state !== "RUNNING") return null;
  let failures = 0;
  while (failures < input.testsSinceStart.length && !input.testsSinceStart[failures].success) failures++;
  if (failures < input.policy.probeFailures) return null;
  const last = input.testsSinceStart[0].error;
  return { trigger: "PROBE", action: "RESTART", reason: `${failures} connection tests failed in a row${last ? ` (last: ${last})` : ""}` };
}

export function recoveryDecision(input: RecoveryInput): RecoveryDecision {
  const { now, policy, record, state } = input;
  if (!input.enabled || input.desired !== "RUNNING" || TRANSIENT.has(state)) return { kind: "NONE" };
  const windowStart = now.getTime() - policy.windowMs;
  const attempts = (record?.attempts ?? []).filter((a) => Date.parse(a) > windowStart);
  const fault = faultOf(input);
  const keep = (next: Omit<RecoveryRecord, "attempts" | "since">, detail: string): RecoveryDecision => {
    if (record && record.state === next.state && record.reason === next.reason) return { kind: "NONE" };
    return { kind: "RECORD", record: { ...next, attempts, since: now.toISOString() }, detail };
  };
  if (!fault) {
    if (!record || record.state === "RECOVERED" || state !== "RUNNING") return { kind: "NONE" };
    // A probe fault is over only when a probe says so; an agent fault when the agent reports it running.
    if (record.trigger === "PROBE" && !input.testsSinceStart[0]?.success) return { kind: "NONE" };
    const n = attempts.length;
    return keep(
      { state: "RECOVERED", trigger: record.trigger, reason: `recovered${n ? ` after ${n} attempt${n === 1 ? "" : "s"}` : ""}`, lastError: null },
      `Recovered${n ? ` after ${n} automatic attempt${n === 1 ? "" : "s"}` : ""}`,
    );
  }
  if (record?.state === "GAVE_UP") return { kind: "NONE" };
  if (input.agentProblem) {
    const reason = `not acting: ${input.agentProblem}`;
    return keep(
      { state: "BLOCKED", trigger: fault.trigger, reason, lastError: record?.lastError ?? null },
      `Automatic recovery is waiting on the droplet: ${input.agentProblem}`,
    );
  }
  if (attempts.length >= policy.maxAttempts) {
    const minutes = Math.round(policy.windowMs / 60_000);
    const reason = `gave up after ${attempts.length} attempts in ${minutes} min; ${fault.reason}${record?.lastError ? `; last error: ${record.lastError}` : ""}`;
    return keep(
      { state: "GAVE_UP", trigger: fault.trigger, reason, lastError: record?.lastError ?? null },
      `Automatic recovery gave up: ${reason}. Start or restart the server to try again.`,
    );
  }
  const last = attempts.at(-1);
  if (last) {
    const until = new Date(Date.parse(last) + backoffMs(attempts.length, policy));
    if (until > now) return { kind: "WAIT", until };
  }
  const attempt = attempts.length + 1;
  return {
    kind: "ATTEMPT",
    action: fault.action,
    attempt,
    record: {
      state: "RECOVERING",
      attempts: [...attempts, now.toISOString()],
      trigger: fault.trigger,
      reason: fault.reason,
      lastError: null,
      since: now.toISOString(),
    },
    detail: `Automatic ${fault.action === "START" ? "start" : "restart"}, attempt ${attempt} of ${policy.maxAttempts}: ${fault.reason}`,
  };
}

/** When the next attempt may be made, for a record still recovering; null otherwise. */
export function nextAttemptAt(record: RecoveryRecord | null, policy: RecoveryPolicy): Date | null {
  if (record?.state !== "RECOVERING") return null;
  const last = record.attempts.at(-1);
  if (!last) return null;
  return new Date(Date.parse(last) + backoffMs(record.attempts.length, policy));
}
