// Status and health rules: the one place that turns what the database and the DTMA report into
// what a client sees. Pure functions; `now` is always a parameter.
import { outboundRefusal } from "./endpoint.ts";
import type { Reachability } from "./reachability.ts";
import { type RecoveryStatus, recoveryStatusOf } from "./recovery.ts";
import { RISK_LEVELS, type RiskLevel } from "./risk.ts";

/** account_tool_installation_status_enum, every value, in the upstream order. */
export const INSTALLATION_STATUSES = [
  "pending_install",
  "installing",
  "active",
  "error_install",
  "pending_uninstall",
  "uninstalling",
  "uninstalled",
  "error_uninstall",
  "pending_config",
  "stopped",
  "starting",
  "stopping",
  "error_runtime",
  "disabled",
  "pending_deploy",
  "deploying",
  "running",
  "error",
  "pending_delete",
  "deleting",
] as const;
export type InstallationStatus = (typeof INSTALLATION_STATUSES)[number];

/** account_tool_environment_status_enum, every value, in the upstream order. */
export const ENVIRONMENT_STATUSES = [
  "inactive",
  "pending_creation",
  "creating",
  "active",
  "error_creation",
  "pending_deletion",
  "deleting",
  "error_deletion",
  "unresponsive",
  "scaling",
  "pending_provision",
  "provisioning",
  "error_provisioning",
  "pending_deprovision",
  "deprovisioning",
  "deprovisioned",
  "error_deprovisioning",
  "awaiting_heartbeat",
] as const;
export type EnvironmentStatus = (typeof ENVIRONMENT_STATUSES)[number];

/**
 * Droplet states in which its agent should be answering, and so may be sent the fleet-wide agent
 * key. Any other droplet may have no agent yet, or its released address may belong to someone else
 * now (cloud providers recycle them): it is never contacted.
 */
const AGENT_EXPECTED: ReadonlySet<string> = new Set<EnvironmentStatus>(["active", "awaiting_heartbeat", "unresponsive", "scaling"]);

export function agentExpected(status: string): boolean {
  return AGENT_EXPECTED.has(status);
}

export const DESIRED_STATES = ["RUNNING", "STOPPED"] as const;
export type DesiredState = (typeof DESIRED_STATES)[number];

/**
 * The desired axis: what someone asked for (migration 015 keeps it from each write's intent); a row
 * nobody has spoken for wants what it is.
 */
export function desiredStateOf(desired: string | null, status: string): DesiredState {
  if (desired === "RUNNING" || desired === "STOPPED") return desired;
  return stateOf(status) === "STOPPED" ? "STOPPED" : "RUNNING";
}

/** The stored statuses a row with no desired state is taken to want `desired` by (desiredStateOf); for filtering in SQL. */
export function statusesDefaultingTo(desired: DesiredState): InstallationStatus[] {
  return INSTALLATION_STATUSES.filter((s) => (STATE_OF[s] === "STOPPED") === (desired === "STOPPED"));
}

/**
 * Why a droplet's agent cannot be asked to act, or null when it can: the agent axis's verdict for
 * recovery. A droplet never heard from is asked (an attempt that fails marks it unresponsive); one
 * whose address may not be contacted (no public address, or one outboundRefusal refuses) is not.
 */
export function agentProblemOf(
  env: { status: string; name: string | null; id: string; lastHeartbeatAt: Date | null; publicIp: string | null } | null,
  now: Date,
  thresholds: HeartbeatThresholds,
  allowPrivateTargets: boolean,
): string | null {
  if (!env) return "the droplet no longer exists";
  const name = `the droplet "${env.name ?? env.id}"`;
  if (env.status === "unresponsive") return `${name}'s agent is not answering (unresponsive)`;
  if (!agentExpected(env.status)) return `${name} is ${env.status}: no agent is expected to answer there`;
  if (!env.publicIp) return `${name} has no public address yet`;
  const refusal = outboundRefusal(env.publicIp, allowPrivateTargets);
  if (refusal) return refusal;
  const age = env.lastHeartbeatAt ? now.getTime() - env.lastHeartbeatAt.getTime() : 0;
  if (age >= thresholds.unhealthyAfterMs) return `${name}'s agent has not reported for ${Math.floor(age / 60_000)} min`;
  return null;
}

/** Docker container states the DTMA reports (`State.Status`), plus the DTMA's own two. */
export const DOCKER_STATES = ["created", "running", "paused", "restarting", "removing", "exited", "dead", "not_found", "error_inspecting"] as const;
export type DockerState = (typeof DOCKER_STATES)[number];

export const SERVER_STATES = ["RUNNING", "STOPPED", "STARTING", "STOPPING", "ERROR", "UNKNOWN"] as const;
export type ServerState = (typeof SERVER_STATES)[number];

export const SERVER_HEALTHS = ["HEALTHY", "DEGRADED", "UNHEALTHY", "UNKNOWN"] as const;
export type ServerHealth = (typeof SERVER_HEALTHS)[number];

/**
 * Orders for sorting "worst first" (ascending): a dashboard's red rows on top. Documented on the
 * schema's order fields; every value appears once.
 */
export const SERVER_STATE_SEVERITY: readonly ServerState[] = ["ERROR", "UNKNOWN", "STOPPING", "STARTING", "STOPPED", "RUNNING"];
export const SERVER_HEALTH_SEVERITY: readonly ServerHealth[] = ["UNHEALTHY", "DEGRADED", "UNKNOWN", "HEALTHY"];
export const ENVIRONMENT_STATUS_SEVERITY: readonly EnvironmentStatus[] = [
  "error_creation",
  "error_provisioning",
  "error_deletion",
  "error_deprovisioning",
  "unresponsive",
  "awaiting_heartbeat",
  "pending_creation",
  "creating",
  "pending_provision",
  "provisioning",
  "scaling",
  "pending_deletion",
  "deleting",
  "pending_deprovision",
  "deprovisioning",
  "active",
  "inactive",
  "deprovisioned",
];

export interface HeartbeatThresholds {
  /** A running server whose last heartbeat is at least this old is DEGRADED (upstream: 5 min). */
  degradedAfterMs: number;
  /** ...and at least this old, UNHEALTHY (upstream: 15 min). */
  unhealthyAfterMs: number;
}
export const DEFAULT_THRESHOLDS: HeartbeatThresholds = { degradedAfterMs: 5 * 60_000, unhealthyAfterMs: 15 * 60_000 };

// Every enum value has a state. Upstream sent all but four values to `unknown`.
const STATE_OF: Record<InstallationStatus | DockerState, ServerState> = {
  pending_install: "STARTING",
  installing: "STARTING",
  pending_deploy: "STARTING",
  deploying: "STARTING",
  starting: "STARTING",
  active: "RUNNING",
  running: "RUNNING",
  pending_config: "STOPPED", // installed, waits for configuration before it can start
  stopped: "STOPPED",
  uninstalled: "STOPPED",
  disabled: "STOPPED",
  stopping: "STOPPING",
  pending_uninstall: "STOPPING",
  uninstalling: "STOPPING",
  pending_delete: "STOPPING",
  deleting: "STOPPING",
  error_install: "ERROR",
  error_uninstall: "ERROR",
  error_runtime: "ERROR",
  error: "ERROR",
  // Docker states, as the DTMA reports them
  created: "STOPPED",
  exited: "STOPPED",
  paused: "STOPPED",
  restarting: "STARTING",
  removing: "STOPPING",
  dead: "ERROR",
  not_found: "ERROR",
  error_inspecting: "UNKNOWN",
};

/** The state a stored or reported status means. Anything unrecognised is UNKNOWN, never a guess. */
export function stateOf(status: string | null | undefined): ServerState {
  if (!status) return "UNKNOWN";
  return Object.hasOwn(STATE_OF, status) ? STATE_OF[status as InstallationStatus] : "UNKNOWN";
}

/** Installation statuses that mean `state`; for filtering in SQL. */
export function installationStatusesFor(state: ServerState): InstallationStatus[] {
  return INSTALLATION_STATUSES.filter((s) => STATE_OF[s] === state);
}

/**
 * The health of a server: the summary of the agent and reachability axes. Only a running server's
 * health depends on them. By the agent's reports: HEALTHY while its heartbeat is younger than
 * `degradedAfterMs`, DEGRADED until `unhealthyAfterMs`, UNHEALTHY after; a running server not yet
 * heard from is UNKNOWN while it started less than `degradedAfterMs` ago (just deployed or
 * started), and UNHEALTHY after that (as upstream). Then the MCP endpoint: a server its agent
 * calls HEALTHY or DEGRADED is UNHEALTHY when the endpoint is UNREACHABLE, and at best DEGRADED
 * when it is SLOW (a container the agent sees running can still not answer MCP).
 */
export function healthOf(
  state: ServerState,
  lastHeartbeatMs: number | null,
  now: Date,
  thresholds: HeartbeatThresholds = DEFAULT_THRESHOLDS,
  lastStartedAtMs: number | null = null,
  reachability: string | null = null,
): ServerHealth {
  switch (state) {
    case "ERROR":
      return "UNHEALTHY";
    case "RUNNING": {
      // Running, but never heard from: UNKNOWN within the start grace, then (as upstream) not healthy.
      if (lastHeartbeatMs === null) return startedWithinGrace(lastStartedAtMs, now, thresholds) ? "UNKNOWN" : "UNHEALTHY";
      const age = now.getTime() - lastHeartbeatMs;
      if (age >= thresholds.unhealthyAfterMs || reachability === "UNREACHABLE") return "UNHEALTHY";
      if (age >= thresholds.degradedAfterMs || reachability === "SLOW") return "DEGRADED";
      return "HEALTHY";
    }
    default:
      return "UNKNOWN";
  }
}

const startedWithinGrace = (lastStartedAtMs: number | null, now: Date, thresholds: HeartbeatThresholds) =>
  lastStartedAtMs !== null && now.getTime() - lastStartedAtMs < thresholds.degradedAfterMs;

/**
 * One disjunct of a health filter, as data (SQL is built in data/): rows whose status is one of
 * `statuses` and, when given, whose heartbeat falls in the window. `heartbeatAfter` is exclusive
 * (heartbeat > t); `heartbeatAtOrBefore` inclusive; `orHeartbeatNull` also admits a null heartbeat.
 * `heartbeatNull` admits only a null heartbeat, with the start (last_started_at) in its own window
 * the same way (`orStartedNull` also admitting a null start).
 */
export interface HealthCondition {
  statuses: InstallationStatus[];
  heartbeatAfter?: Date;
  heartbeatAtOrBefore?: Date;
  orHeartbeatNull?: boolean;
  heartbeatNull?: boolean;
  startedAfter?: Date;
  startedAtOrBefore?: Date;
  orStartedNull?: boolean;
  /** Only rows whose stored reachability is one of these (`null` for never tested). */
  reachabilities?: ReadonlyArray<"REACHABLE" | "SLOW" | "UNREACHABLE" | null>;
}

/** The rows that have `health` at `now`, expressed so a store can filter (and page) in its query. */
export function healthConditions(health: ServerHealth, now: Date, thresholds: HeartbeatThresholds = DEFAULT_THRESHOLDS): HealthCondition[] {
  const running = installationStatusesFor("RUNNING");
  const degradedAt = new Date(now.getTime() - thresholds.degradedAfterMs);
  const unhealthyAt = new Date(now.getTime() - thresholds.unhealthyAfterMs);
  switch (health) {
    case "HEALTHY":
      return [{ statuses: running, heartbeatAfter: degradedAt, reachabilities: [null, "REACHABLE"] }];
    case "DEGRADED":
      return [
        { statuses: running, heartbeatAfter: unhealthyAt, heartbeatAtOrBefore: degradedAt, reachabilities: [null, "REACHABLE", "SLOW"] },
        { statuses: running, heartbeatAfter: degradedAt, reachabilities: ["SLOW"] },
      ];
    case "UNHEALTHY":
      return [
        { statuses: installationStatusesFor("ERROR") },
        { statuses: running, heartbeatAtOrBefore: unhealthyAt },
        { statuses: running, heartbeatNull: true, startedAtOrBefore: degradedAt, orStartedNull: true },
        { statuses: running, heartbeatAfter: unhealthyAt, reachabilities: ["UNREACHABLE"] },
      ];
    case "UNKNOWN":
      return [
        { statuses: INSTALLATION_STATUSES.filter((s) => !["RUNNING", "ERROR"].includes(STATE_OF[s])) },
        { statuses: running, heartbeatNull: true, startedAfter: degradedAt },
      ];
  }
}

export interface ServerStatusInput {
  status: string;
  /** Epoch milliseconds. */
  lastHeartbeatMs: number | null;
  /** Epoch milliseconds. */
  lastStartedAtMs: number | null;
  errorMessage: string | null;
  desiredState: string | null;
  /** As the last connection test left it (null: never tested). */
  reachability: string | null;
  autoRecovery: boolean;
  recovery: unknown;
  /** As the early-warning watch last judged it (null: not yet). */
  risk: string | null;
}

export interface ServerStatus {
  state: ServerState;
  health: ServerHealth;
  /** Seconds since the server last entered a running state; null unless running and known. */
  uptimeSeconds: number | null;
  /** Epoch milliseconds. */
  lastStartedMs: number | null;
  lastError: string | null;
  /** Seconds since the last heartbeat from the DTMA; null when there never was one. */
  heartbeatAgeSeconds: number | null;
  /** The desired axis. */
  desired: DesiredState;
  /** The reachability axis as the last connection test left it. */
  reachability: Reachability;
  recovery: RecoveryStatus;
  /** The early-warning level as the watch last judged it (NONE before it did). */
  risk: RiskLevel;
}

const STORED_REACHABILITY: ReadonlySet<string> = new Set<Reachability>(["REACHABLE", "SLOW", "UNREACHABLE"]);

export function serverStatus(input: ServerStatusInput, now: Date, thresholds: HeartbeatThresholds = DEFAULT_THRESHOLDS): ServerStatus {
  const s = new ServerStatusOf(input, now, thresholds);
  return {
    state: s.state,
    health: s.health,
    uptimeSeconds: s.uptimeSeconds,
    lastStartedMs: s.lastStartedMs,
    lastError: s.lastError,
    heartbeatAgeSeconds: s.heartbeatAgeSeconds,
    desired: s.desired,
    reachability: s.reachability,
    recovery: s.recovery,
    risk: s.risk,
  };
}

/**
 * A server's status with each axis worked out when it is read: a page of servers usually selects
 * a few axes of each row's status, and rows are many. `serverStatus` gives all of them at once.
 */
export class ServerStatusOf implements ServerStatus {
  readonly state: ServerState;

  constructor(
    private readonly input: ServerStatusInput,
    private readonly now: Date,
    private readonly thresholds: HeartbeatThresholds = DEFAULT_THRESHOLDS,
  ) {
    this.state = stateOf(input.status);
  }

  get health(): ServerHealth {
    return healthOf(this.state, this.input.lastHeartbeatMs, this.now, this.thresholds, this.input.lastStartedAtMs, this.input.reachability);
  }

  get uptimeSeconds(): number | null {
    return this.state === "RUNNING" ? secondsSince(this.input.lastStartedAtMs, this.now) : null;
  }

  get lastStartedMs(): number | null {
    return this.input.lastStartedAtMs;
  }

  get lastError(): string | null {
    return this.input.errorMessage || null;
  }

  get heartbeatAgeSeconds(): number | null {
    return secondsSince(this.input.lastHeartbeatMs, this.now);
  }

  get desired(): DesiredState {
    return desiredStateOf(this.input.desiredState, this.input.status);
  }

  get reachability(): Reachability {
    const stored = this.input.reachability;
    return stored && STORED_REACHABILITY.has(stored) ? (stored as Reachability) : "UNKNOWN";
  }

  get recovery(): RecoveryStatus {
    return recoveryStatusOf(this.input.autoRecovery, this.input.recovery);
  }

  get risk(): RiskLevel {
    const stored = this.input.risk;
    return stored && (RISK_LEVELS as readonly string[]).includes(stored) ? (stored as RiskLevel) : "NONE";
  }
}

function secondsSince(sinceMs: number | null, now: Date): number | null {
  return sinceMs === null ? null : Math.max(0, Math.floor((now.getTime() - sinceMs) / 1000));
}

/**
 * Running rows whose health changed with time alone between `since` (exclusive) and `now`
 * (inclusive): their heartbeat crossed a threshold in that interval. Used to resume subscriptions.
 */
export function healthCrossings(since: Date, now: Date, thresholds: HeartbeatThresholds = DEFAULT_THRESHOLDS): HealthCondition[] {
  const running = installationStatusesFor("RUNNING");
  const window = (after: number) => ({ after: new Date(since.getTime() - after), atOrBefore: new Date(now.getTime() - after) });
  const crossings: HealthCondition[] = [thresholds.degradedAfterMs, thresholds.unhealthyAfterMs].map((after) => {
    const w = window(after);
    return { statuses: running, heartbeatAfter: w.after, heartbeatAtOrBefore: w.atOrBefore };
  });
  // A server never heard from leaves its start grace (UNKNOWN to UNHEALTHY).
  const grace = window(thresholds.degradedAfterMs);
  crossings.push({ statuses: running, heartbeatNull: true, startedAfter: grace.after, startedAtOrBefore: grace.atOrBefore });
  return crossings;
}

/** When (epoch milliseconds) the health of a running server will next change with time alone, or null if never. */
export function nextHealthChange(
  state: ServerState,
  lastHeartbeatMs: number | null,
  now: Date,
  thresholds: HeartbeatThresholds = DEFAULT_THRESHOLDS,
  lastStartedAtMs: number | null = null,
): number | null {
  if (state !== "RUNNING") return null;
  if (lastHeartbeatMs === null) {
    // Never heard from: the start grace ends (UNKNOWN to UNHEALTHY).
    if (!startedWithinGrace(lastStartedAtMs, now, thresholds)) return null;
    return (lastStartedAtMs as number) + thresholds.degradedAfterMs;
  }
  for (const after of [thresholds.degradedAfterMs, thresholds.unhealthyAfterMs]) {
    const at = lastHeartbeatMs + after;
    if (at > now.getTime()) return at;
  }
  return null;
}

// What a Docker state reported by the DTMA means as a stored status (only enum members: upstream's
// writes of `exited`, `unknown`, `error_starting`... failed against the enum).
const STORED_FOR_DOCKER: Record<DockerState, InstallationStatus | null> = {
  running: "running",
  created: "stopped",
  exited: "stopped",
  paused: "stopped",
  restarting: "starting",
  removing: "deleting",
  dead: "error",
  not_found: "error",
  error_inspecting: null, // the agent could not tell: keep what is stored
};

/** The stored status for a status the DTMA reported (an enum value, or a Docker state); null to keep the stored one; undefined if unrecognised. */
export function storedStatusFor(reported: string): InstallationStatus | null | undefined {
  if ((INSTALLATION_STATUSES as readonly string[]).includes(reported)) return reported as InstallationStatus;
  if (Object.hasOwn(STORED_FOR_DOCKER, reported)) return STORED_FOR_DOCKER[reported as DockerState];
  return undefined;
}
