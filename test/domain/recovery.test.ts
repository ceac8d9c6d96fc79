// Automatic recovery's rules (domain/recovery.ts), each at its edges, with a fixed clock.
import { describe, expect, it } from "vitest";
import {
  backoffMs,
  DEFAULT_RECOVERY,
  nextAttemptAt,
  parseRecovery,
  type RecoveryInput,
  type RecoveryRecord,
  recoveryDecision,
} from "../../src/domain/recovery.ts";
import { agentProblemOf, DEFAULT_THRESHOLDS, desiredStateOf, stateOf } from "../../src/domain/status.ts";

const now = new Date("2026-11-27T12:00:00Z");
const ago = (ms: number) => new Date(now.getTime() - ms).toISOString();
const policy = DEFAULT_RECOVERY; // 3 failures, 30 s doubling to 10 min, 5 attempts per hour
const ok = { success: true, error: null };
const bad = { success: false, error: "connection refused" };
const base: RecoveryInput = {
  now,
  state: "STOPPED",
  policy,
  enabled: true,
  desired: "RUNNING",
  status: "stopped",
  errorMessage: null,
  testsSinceStart: [],
  agentProblem: null,
  record: null,
};
const decide = (input: Partial<RecoveryInput>) => {
  const status = input.status ?? base.status;
  return recoveryDecision({ ...base, ...input, state: stateOf(status) });
};
const record = (r: Partial<RecoveryRecord>): RecoveryRecord => ({
  state: "RECOVERING",
  attempts: [],
  trigger: "AGENT",
  reason: "x",
  lastError: null,
  since: ago(0),
  ...r,
});

describe("what the user wants", () => {
  it("is what someone asked for, else what the row is", () => {
    expect(desiredStateOf("STOPPED", "running")).toBe("STOPPED");
    expect(desiredStateOf("RUNNING", "stopped")).toBe("RUNNING");
    expect(desiredStateOf(null, "stopped")).toBe("STOPPED");
    expect(desiredStateOf(null, "error")).toBe("RUNNING");
    expect(desiredStateOf("garbage", "running")).toBe("RUNNING");
  });
});

describe("recovery decisions", () => {
  it("never fights a user's stop, a disabled policy, or a transition in flight", () => {
    expect(decide({ desired: "STOPPED" })).toEqual({ kind: "NONE" });
    expect(decide({ enabled: false })).toEqual({ kind: "NONE" });
    for (const status of ["starting", "stopping", "deploying", "pending_delete"]) expect(decide({ status })).toEqual({ kind: "NONE" });
  });

  it("starts a container the agent reports stopped, restarts one in error, at once", () => {
    expect(decide({ status: "stopped" })).toMatchObject({
      kind: "ATTEMPT",
      action: "START",
      attempt: 1,
      record: { state: "RECOVERING", trigger: "AGENT", attempts: [now.toISOString()] },
    });
    const d = decide({ status: "error", errorMessage: "OOMKilled" });
    expect(d).toMatchObject({ kind: "ATTEMPT", action: "RESTART" });
    expect(d.kind === "ATTEMPT" && d.detail).toMatch(/attempt 1 of 5: the server is in error: OOMKilled/);
  });

  it("leaves statuses a restart does not mend: waiting for configuration, a failed install", () => {
    for (const status of ["pending_config", "error_install", "disabled"]) expect(decide({ status })).toEqual({ kind: "NONE" });
  });

  it("restarts a running server after `probeFailures` failed tests in a row since its start, not before", () => {
    expect(decide({ status: "running", testsSinceStart: [bad, bad] })).toEqual({ kind: "NONE" });
    expect(decide({ status: "running", testsSinceStart: [bad, bad, ok, bad] })).toEqual({ kind: "NONE" });
    const d = decide({ status: "running", testsSinceStart: [bad, bad, bad] });
    expect(d).toMatchObject({ kind: "ATTEMPT", action: "RESTART", record: { trigger: "PROBE" } });
    expect(d.kind === "ATTEMPT" && d.record.reason).toBe("3 connection tests failed in a row (last: connection refused)");
  });

  it("does not act on a droplet whose agent cannot be asked, and says so once", () => {
    const d = decide({ agentProblem: "the droplet's agent is not answering" });
    expect(d).toMatchObject({ kind: "RECORD", record: { state: "BLOCKED", reason: "not acting: the droplet's agent is not answering" } });
    expect(decide({ agentProblem: "the droplet's agent is not answering", record: d.kind === "RECORD" ? d.record : null })).toEqual({ kind: "NONE" });
  });

  it("backs off exponentially between attempts, capped", () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => backoffMs(n, policy) / 1000)).toEqual([30, 60, 120, 240, 480, 600, 600]);
    // Attempt 1 was 29 s ago: wait until 30 s after it.
    const after1 = record({ attempts: [ago(29_000)] });
    expect(decide({ record: after1 })).toEqual({ kind: "WAIT", until: new Date(now.getTime() + 1000) });
    expect(decide({ record: record({ attempts: [ago(30_000)] }) })).toMatchObject({ kind: "ATTEMPT", attempt: 2 });
    // Attempt 2, 59 s ago: the next waits 60 s.
    expect(decide({ record: record({ attempts: [ago(200_000), ago(59_000)] }) }).kind).toBe("WAIT");
    expect(decide({ record: record({ attempts: [ago(200_000), ago(60_000)] }) })).toMatchObject({ kind: "ATTEMPT", attempt: 3 });
    expect(nextAttemptAt(record({ attempts: [ago(200_000), ago(59_000)] }), policy)).toEqual(new Date(now.getTime() + 1000));
  });

  it("gives up at `maxAttempts` within the window, and attempts older than the window do not count", () => {
    const five = [ago(3_000_000), ago(2_000_000), ago(1_500_000), ago(1_000_000), ago(600_000)];
    const d = decide({ record: record({ attempts: five, lastError: "image pull failed" }) });
    expect(d).toMatchObject({ kind: "RECORD", record: { state: "GAVE_UP" } });
    expect(d.kind === "RECORD" && d.record.reason).toMatch(/^gave up after 5 attempts in 60 min; .*last error: image pull failed$/);
    expect(d.kind === "RECORD" && d.detail).toMatch(/Start or restart the server to try again/);
    const oneExpired = [ago(3_600_000), ...five.slice(1)];
    expect(decide({ record: record({ attempts: oneExpired }) })).toMatchObject({ kind: "ATTEMPT", attempt: 5 });
  });

  it("keeps an open circuit open while the fault lasts; closes it when the server recovers by itself", () => {
    const open = record({ state: "GAVE_UP", attempts: [ago(10_000)] });
    expect(decide({ record: open })).toEqual({ kind: "NONE" });
    expect(decide({ record: open, status: "running" })).toMatchObject({ kind: "RECORD", record: { state: "RECOVERED" } });
  });

  it("calls an agent fault recovered when the agent reports the server running; a probe fault only when a probe succeeds", () => {
    const agent = record({ attempts: [ago(10_000)], trigger: "AGENT" });
    const d = decide({ status: "running", record: agent });
    expect(d).toMatchObject({ kind: "RECORD", record: { state: "RECOVERED", reason: "recovered after 1 attempt", attempts: agent.attempts } });
    const probe = record({ attempts: [ago(10_000)], trigger: "PROBE" });
    expect(decide({ status: "running", record: probe, testsSinceStart: [] })).toEqual({ kind: "NONE" });
    expect(decide({ status: "running", record: probe, testsSinceStart: [bad] })).toEqual({ kind: "NONE" });
    expect(decide({ status: "running", record: probe, testsSinceStart: [ok, bad] })).toMatchObject({ kind: "RECORD", record: { state: "RECOVERED" } });
    // Recovered is said once.
    expect(decide({ status: "running", record: record({ state: "RECOVERED" }) })).toEqual({ kind: "NONE" });
  });

  it("keeps a crash loop's attempts after a recovery: it still backs off and gives up", () => {
    const recovered = record({ state: "RECOVERED", attempts: [ago(20_000)] });
    expect(decide({ status: "stopped", record: recovered })).toMatchObject({ kind: "WAIT" });
    expect(decide({ status: "stopped", record: { ...recovered, attempts: [ago(30_000)] } })).toMatchObject({ kind: "ATTEMPT", attempt: 2 });
  });
});

describe("the stored record", () => {
  it("is read back as written, and anything else is no record", () => {
    const r = record({ attempts: [ago(1000)], lastError: "x" });
    expect(parseRecovery(JSON.parse(JSON.stringify(r)))).toEqual(r);
    expect(parseRecovery(null)).toBeNull();
    expect(parseRecovery({ state: "NAP", attempts: [] })).toBeNull();
    expect(parseRecovery({ state: "RECOVERING", attempts: ["not a date", ago(5)] })?.attempts).toEqual([ago(5)]);
  });
});

describe("the agent axis for recovery", () => {
  const env = { id: "e1", name: "nyc", status: "active", lastHeartbeatAt: new Date(now.getTime() - 60_000), publicIp: "164.90.1.2" };
  it("can be asked when active and reporting, or never heard from", () => {
    expect(agentProblemOf(env, now, DEFAULT_THRESHOLDS, false)).toBeNull();
    expect(agentProblemOf({ ...env, lastHeartbeatAt: null }, now, DEFAULT_THRESHOLDS, false)).toBeNull();
  });
  it("cannot when its address may not be contacted: none yet, or not a public one (unless private targets are allowed)", () => {
    expect(agentProblemOf({ ...env, publicIp: null }, now, DEFAULT_THRESHOLDS, false)).toMatch(/has no public address yet/);
    expect(agentProblemOf({ ...env, publicIp: "203.0.113.10" }, now, DEFAULT_THRESHOLDS, false)).toMatch(/^Refusing to connect to 203\.0\.113\.10/);
    expect(agentProblemOf({ ...env, publicIp: "127.0.0.1" }, now, DEFAULT_THRESHOLDS, false)).toMatch(/^Refusing to connect/);
    expect(agentProblemOf({ ...env, publicIp: "127.0.0.1" }, now, DEFAULT_THRESHOLDS, true)).toBeNull();
  });
  it("cannot when unresponsive, not expected to answer, gone, or silent past the unhealthy threshold", () => {
    expect(agentProblemOf({ ...env, status: "unresponsive" }, now, DEFAULT_THRESHOLDS, false)).toMatch(/not answering/);
    expect(agentProblemOf({ ...env, status: "deprovisioned" }, now, DEFAULT_THRESHOLDS, false)).toMatch(/is deprovisioned/);
    expect(agentProblemOf(null, now, DEFAULT_THRESHOLDS, false)).toMatch(/no longer exists/);
    const silent = { ...env, lastHeartbeatAt: new Date(now.getTime() - DEFAULT_THRESHOLDS.unhealthyAfterMs) };
    expect(agentProblemOf(silent, now, DEFAULT_THRESHOLDS, false)).toMatch(/has not reported for 15 min/);
    const justUnder = { ...env, lastHeartbeatAt: new Date(now.getTime() - DEFAULT_THRESHOLDS.unhealthyAfterMs + 1) };
    expect(agentProblemOf(justUnder, now, DEFAULT_THRESHOLDS, false)).toBeNull();
  });
});
