import { describe, expect, it } from "vitest";
import {
  DEFAULT_THRESHOLDS,
  DOCKER_STATES,
  INSTALLATION_STATUSES,
  SERVER_HEALTHS,
  healthConditions,
  healthCrossings,
  healthOf,
  nextHealthChange,
  installationStatusesFor,
  serverStatus,
  stateOf,
  type HealthCondition,
  type ServerHealth,
} from "../../src/domain/status.ts";

const NOW = new Date("2026-11-25T12:00:00Z");
const ago = (ms: number) => new Date(NOW.getTime() - ms);
// Rows carry their times as epoch milliseconds.
const agoMs = (ms: number) => NOW.getTime() - ms;
const MIN = 60_000;

describe("stateOf", () => {
  const expected: Record<string, string> = {
    pending_install: "STARTING",
    installing: "STARTING",
    active: "RUNNING",
    error_install: "ERROR",
    pending_uninstall: "STOPPING",
    uninstalling: "STOPPING",
    uninstalled: "STOPPED",
    error_uninstall: "ERROR",
    pending_config: "STOPPED",
    stopped: "STOPPED",
    starting: "STARTING",
    stopping: "STOPPING",
    error_runtime: "ERROR",
    disabled: "STOPPED",
    pending_deploy: "STARTING",
    deploying: "STARTING",
    running: "RUNNING",
    error: "ERROR",
    pending_delete: "STOPPING",
    deleting: "STOPPING",
  };
  it.each(INSTALLATION_STATUSES.map((s) => [s, expected[s]]))("maps installation status %s to %s", (status, state) => {
    expect(stateOf(status)).toBe(state);
  });

  it("covers every installation status with a state other than UNKNOWN", () => {
    expect(INSTALLATION_STATUSES.filter((s) => stateOf(s) === "UNKNOWN")).toEqual([]);
    expect(Object.keys(expected).sort()).toEqual([...INSTALLATION_STATUSES].sort());
  });

  const docker: Record<string, string> = {
    created: "STOPPED",
    running: "RUNNING",
    paused: "STOPPED",
    restarting: "STARTING",
    removing: "STOPPING",
    exited: "STOPPED",
    dead: "ERROR",
    not_found: "ERROR",
    error_inspecting: "UNKNOWN",
  };
  it.each(DOCKER_STATES.map((s) => [s, docker[s]]))("maps Docker state %s to %s", (status, state) => {
    expect(stateOf(status)).toBe(state);
  });

  it.each([["starting_on_toolbox"], ["unknown"], [""], [null], ["toString"], ["__proto__"]])("maps unrecognised status %j to UNKNOWN", (status) => {
    expect(stateOf(status as string)).toBe("UNKNOWN");
  });
});

describe("healthOf", () => {
  it("marks a running server healthy with a heartbeat just under 5 minutes old", () => {
    expect(healthOf("RUNNING", agoMs(5 * MIN - 1), NOW)).toBe("HEALTHY");
  });
  it("marks a running server degraded at exactly 5 minutes without heartbeat", () => {
    expect(healthOf("RUNNING", agoMs(5 * MIN), NOW)).toBe("DEGRADED");
  });
  it("keeps a running server degraded just under 15 minutes", () => {
    expect(healthOf("RUNNING", agoMs(15 * MIN - 1), NOW)).toBe("DEGRADED");
  });
  it("marks a running server unhealthy at exactly 15 minutes without heartbeat", () => {
    expect(healthOf("RUNNING", agoMs(15 * MIN), NOW)).toBe("UNHEALTHY");
  });
  it("marks a running server that never sent a heartbeat unhealthy", () => {
    expect(healthOf("RUNNING", null, NOW)).toBe("UNHEALTHY");
  });
  it("treats a heartbeat from the future (clock skew) as fresh", () => {
    expect(healthOf("RUNNING", NOW.getTime() + MIN, NOW)).toBe("HEALTHY");
  });
  it("uses configured thresholds", () => {
    const t = { degradedAfterMs: 1000, unhealthyAfterMs: 2000 };
    expect(healthOf("RUNNING", agoMs(999), NOW, t)).toBe("HEALTHY");
    expect(healthOf("RUNNING", agoMs(1000), NOW, t)).toBe("DEGRADED");
    expect(healthOf("RUNNING", agoMs(2000), NOW, t)).toBe("UNHEALTHY");
  });
  it("marks an errored server unhealthy whatever its heartbeat", () => {
    expect(healthOf("ERROR", agoMs(1000), NOW)).toBe("UNHEALTHY");
  });
  it.each([["STOPPED"], ["STARTING"], ["STOPPING"], ["UNKNOWN"]] as const)("reports %s servers' health as UNKNOWN", (state) => {
    expect(healthOf(state, agoMs(1000), NOW)).toBe("UNKNOWN");
  });
  it("counts the MCP endpoint: UNREACHABLE makes a heard-from running server UNHEALTHY, SLOW at best DEGRADED", () => {
    const at = (hb: number | null, reachability: string | null, started: number | null = null) =>
      healthOf("RUNNING", hb, NOW, DEFAULT_THRESHOLDS, started, reachability);
    expect([null, "REACHABLE", "SLOW", "UNREACHABLE"].map((r) => at(agoMs(1000), r))).toEqual(["HEALTHY", "HEALTHY", "DEGRADED", "UNHEALTHY"]);
    expect([null, "REACHABLE", "SLOW", "UNREACHABLE"].map((r) => at(agoMs(6 * MIN), r))).toEqual(["DEGRADED", "DEGRADED", "DEGRADED", "UNHEALTHY"]);
    // Not heard from yet: the start grace still decides.
    expect(at(null, "UNREACHABLE", agoMs(MIN))).toBe("UNKNOWN");
    expect(healthOf("STOPPED", agoMs(1000), NOW, DEFAULT_THRESHOLDS, null, "UNREACHABLE")).toBe("UNKNOWN");
  });
});

describe("healthConditions agree with healthOf", () => {
  // The conditions evaluated in JS the way the stores evaluate them in SQL and PostgREST.
  function inWindow(value: Date | null, after: Date | undefined, atOrBefore: Date | undefined, orNull: boolean | undefined): boolean {
    if (after === undefined && atOrBefore === undefined) return true;
    if (value === null) return !!orNull;
    return (!after || value > after) && (!atOrBefore || value <= atOrBefore);
  }
  function matches(c: HealthCondition, status: string, hb: Date | null, started: Date | null, reachability: string | null = null): boolean {
    if (!c.statuses.includes(status as never)) return false;
    if (c.heartbeatNull && hb !== null) return false;
    if (c.reachabilities && !c.reachabilities.includes(reachability as never)) return false;
    return inWindow(hb, c.heartbeatAfter, c.heartbeatAtOrBefore, c.orHeartbeatNull) && inWindow(started, c.startedAfter, c.startedAtOrBefore, c.orStartedNull);
  }
  const heartbeats = [null, ago(0), ago(5 * MIN - 1), ago(5 * MIN), ago(5 * MIN + 1), ago(15 * MIN - 1), ago(15 * MIN), ago(15 * MIN + 1), ago(60 * MIN)];
  const starts = [null, ago(0), ago(5 * MIN - 1), ago(5 * MIN), ago(5 * MIN + 1), ago(60 * MIN)];
  it("puts every (status, heartbeat, start, reachability) in exactly the health healthOf gives it", () => {
    for (const status of INSTALLATION_STATUSES) {
      for (const hb of heartbeats) {
        for (const started of starts) {
          for (const reachability of [null, "REACHABLE", "SLOW", "UNREACHABLE"]) {
            const expected = healthOf(stateOf(status), hb?.getTime() ?? null, NOW, DEFAULT_THRESHOLDS, started?.getTime() ?? null, reachability);
            const found = SERVER_HEALTHS.filter((h: ServerHealth) => healthConditions(h, NOW).some((c) => matches(c, status, hb, started, reachability)));
            expect(found, `${status} @ ${hb?.toISOString()} started ${started?.toISOString()} ${reachability}`).toEqual([expected]);
          }
        }
      }
    }
  });

  it("gives a running server never heard from UNKNOWN within 5 minutes of its start, then UNHEALTHY, and says when it turns", () => {
    expect(healthOf("RUNNING", null, NOW, DEFAULT_THRESHOLDS, agoMs(5 * MIN - 1))).toBe("UNKNOWN");
    expect(healthOf("RUNNING", null, NOW, DEFAULT_THRESHOLDS, agoMs(5 * MIN))).toBe("UNHEALTHY");
    expect(healthOf("RUNNING", null, NOW, DEFAULT_THRESHOLDS, null)).toBe("UNHEALTHY");
    expect(nextHealthChange("RUNNING", null, NOW, DEFAULT_THRESHOLDS, agoMs(MIN))).toEqual(NOW.getTime() + 4 * MIN);
    expect(nextHealthChange("RUNNING", null, NOW, DEFAULT_THRESHOLDS, agoMs(5 * MIN))).toBeNull();
  });

  it("finds a server leaving its start grace among the time crossings", () => {
    const since = ago(MIN);
    const crossed = (started: Date) => healthCrossings(since, NOW).some((c) => matches(c, "running", null, started));
    expect(crossed(ago(5 * MIN + 30_000))).toBe(true); // its grace ended 30 s ago, after `since`
    expect(crossed(ago(7 * MIN))).toBe(false); // ended before `since`
    expect(crossed(ago(4 * MIN))).toBe(false); // not yet
  });
});

describe("installationStatusesFor", () => {
  it("partitions every installation status across the states", () => {
    const all = ["RUNNING", "STOPPED", "STARTING", "STOPPING", "ERROR", "UNKNOWN"].flatMap((s) => installationStatusesFor(s as never));
    expect(all.sort()).toEqual([...INSTALLATION_STATUSES].sort());
  });
});

const AXES = { desiredState: null, reachability: null, autoRecovery: true, recovery: null, risk: null };

describe("serverStatus", () => {
  it("reports uptime from the last start, not from the heartbeat", () => {
    const s = serverStatus({ status: "running", lastHeartbeatMs: agoMs(30_000), lastStartedAtMs: agoMs(3600_000), errorMessage: null, ...AXES }, NOW);
    expect(s).toMatchObject({ state: "RUNNING", health: "HEALTHY", uptimeSeconds: 3600, heartbeatAgeSeconds: 30 });
  });
  it("reports no uptime when the start time is unknown", () => {
    expect(serverStatus({ status: "running", lastHeartbeatMs: agoMs(1000), lastStartedAtMs: null, errorMessage: null, ...AXES }, NOW).uptimeSeconds).toBeNull();
  });
  it("reports no uptime for a stopped server, but keeps when it last started", () => {
    const started = agoMs(7200_000);
    const s = serverStatus({ status: "stopped", lastHeartbeatMs: null, lastStartedAtMs: started, errorMessage: null, ...AXES }, NOW);
    expect(s.uptimeSeconds).toBeNull();
    expect(s.lastStartedMs).toBe(started);
    expect(s.heartbeatAgeSeconds).toBeNull();
  });
  it("carries the other axes: what the user wants, reachability as last tested, recovery", () => {
    const stopped = { status: "stopped", lastHeartbeatMs: null, lastStartedAtMs: null, errorMessage: null };
    expect(serverStatus({ ...stopped, ...AXES }, NOW)).toMatchObject({ desired: "STOPPED", reachability: "UNKNOWN", recovery: "IDLE" });
    expect(serverStatus({ ...stopped, ...AXES, desiredState: "RUNNING", reachability: "SLOW" }, NOW)).toMatchObject({
      desired: "RUNNING",
      reachability: "SLOW",
    });
    expect(serverStatus({ ...stopped, ...AXES, reachability: "bogus", autoRecovery: false }, NOW)).toMatchObject({
      reachability: "UNKNOWN",
      recovery: "DISABLED",
    });
    const record = { state: "GAVE_UP", attempts: [], trigger: "AGENT", reason: "x", lastError: null, since: NOW.toISOString() };
    expect(serverStatus({ ...stopped, ...AXES, recovery: record }, NOW).recovery).toBe("GAVE_UP");
    expect(serverStatus({ ...stopped, ...AXES, risk: "HIGH" }, NOW).risk).toBe("HIGH");
    expect(serverStatus({ ...stopped, ...AXES, risk: "bogus" }, NOW).risk).toBe("NONE");
  });
  it("carries the stored error message as lastError", () => {
    expect(serverStatus({ status: "error", lastHeartbeatMs: null, lastStartedAtMs: null, errorMessage: "boom", ...AXES }, NOW)).toMatchObject({
      state: "ERROR",
      health: "UNHEALTHY",
      lastError: "boom",
    });
  });
});
