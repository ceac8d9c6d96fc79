// Early warning: each rule of domain/risk.ts at its edges, with a fixed clock.
import { describe, expect, it } from "vitest";
import type { SystemMetrics } from "../../src/domain/metrics.ts";
import { environmentRisk, serverRisk, type ServerSignals } from "../../src/domain/risk.ts";
import { DEFAULT_THRESHOLDS, type ServerState } from "../../src/domain/status.ts";

const now = new Date("2026-11-27T12:00:00Z");
const ago = (ms: number) => new Date(now.getTime() - ms);
const agoMs = (ms: number) => now.getTime() - ms;
const min = 60_000;
const quiet: ServerSignals = { state: "RUNNING", lastHeartbeatMs: agoMs(10_000), history: [], tests: [], metrics: null };
const risk = (s: Partial<ServerSignals>) => serverRisk({ ...quiet, ...s }, now, DEFAULT_THRESHOLDS);
const transitions = (n: number, everyMs: number, state: ServerState = "RUNNING") =>
  Array.from({ length: n }, (_, i) => ({ at: ago(i * everyMs), current: { state } }));
const metrics = (cpu: number | null, memory: number | null, disk: number | null): SystemMetrics => ({
  cpuLoadPercent: cpu,
  memory: memory === null ? null : { totalBytes: 100, usedBytes: memory, activeBytes: null, freeBytes: null, usedPercent: memory },
  disk: disk === null ? null : { mount: "/", totalBytes: 100, usedBytes: disk, freeBytes: null, usedPercent: disk },
  error: null,
});

describe("server risk", () => {
  it("is NONE for a quiet, healthy server", () => {
    expect(risk({})).toEqual({ level: "NONE", reasons: [] });
  });

  it("FLAPPING: 4 changes within 10 minutes is MEDIUM, 8 HIGH; older ones do not count", () => {
    expect(risk({ history: transitions(3, min) }).level).toBe("NONE");
    expect(risk({ history: transitions(4, 3 * min) })).toMatchObject({ level: "MEDIUM", reasons: [{ kind: "FLAPPING" }] });
    expect(risk({ history: transitions(8, min) }).level).toBe("HIGH");
    expect(risk({ history: transitions(4, 4 * min) }).level).toBe("NONE"); // the 4th is 12 min old
  });

  it("RESTARTING: 3 starts within an hour is MEDIUM", () => {
    expect(risk({ history: transitions(3, 31 * min, "STARTING") }).reasons.map((r) => r.kind)).toEqual([]); // the 3rd is 62 min old
    expect(risk({ history: transitions(3, 20 * min, "STARTING") })).toMatchObject({ level: "MEDIUM", reasons: [{ kind: "RESTARTING" }] });
  });

  it("HEARTBEAT_LATE: half-way to DEGRADED is LOW; once DEGRADED, health says it", () => {
    expect(risk({ lastHeartbeatMs: agoMs(2.5 * min - 1) }).level).toBe("NONE");
    expect(risk({ lastHeartbeatMs: agoMs(2.5 * min) })).toMatchObject({ level: "LOW", reasons: [{ kind: "HEARTBEAT_LATE" }] });
    expect(risk({ lastHeartbeatMs: agoMs(5 * min) }).level).toBe("NONE");
    expect(risk({ state: "STOPPED", lastHeartbeatMs: agoMs(3 * min) }).level).toBe("NONE");
  });

  it("PROBE_FAILING: the newest connection tests failing is LOW", () => {
    const failed = { success: false, latencyMs: 5 };
    const ok = { success: true, latencyMs: 100 };
    expect(risk({ tests: [ok, failed] }).level).toBe("NONE");
    expect(risk({ tests: [failed, failed, ok] })).toMatchObject({
      level: "LOW",
      reasons: [{ kind: "PROBE_FAILING", detail: "2 failed connection tests in a row" }],
    });
  });

  it("LATENCY_RISING: 3x the median of at least 3 earlier successes is LOW, 10x MEDIUM", () => {
    const ok = (latencyMs: number) => ({ success: true, latencyMs });
    expect(risk({ tests: [ok(300), ok(100), ok(100)] }).level).toBe("NONE"); // too few to compare
    expect(risk({ tests: [ok(299), ok(100), ok(100), ok(100)] }).level).toBe("NONE");
    expect(risk({ tests: [ok(300), ok(100), ok(90), ok(110)] })).toMatchObject({ level: "LOW", reasons: [{ kind: "LATENCY_RISING" }] });
    expect(risk({ tests: [ok(1000), ok(100), ok(90), ok(110)] }).level).toBe("MEDIUM");
  });

  it("inherits its droplet's RESOURCE_PRESSURE, and takes the highest level of all its reasons", () => {
    const r = risk({ metrics: metrics(50, 91, 97), lastHeartbeatMs: agoMs(3 * min) });
    expect(r.level).toBe("HIGH");
    expect(r.reasons.map((x) => [x.kind, x.level])).toEqual([
      ["HEARTBEAT_LATE", "LOW"],
      ["RESOURCE_PRESSURE", "MEDIUM"],
      ["RESOURCE_PRESSURE", "HIGH"],
    ]);
  });
});

describe("droplet risk", () => {
  it("is its resources: 80% LOW, 90% MEDIUM, 97% HIGH, each of CPU, memory and disk", () => {
    expect(environmentRisk(null)).toEqual({ level: "NONE", reasons: [] });
    expect(environmentRisk(metrics(79.9, null, null)).level).toBe("NONE");
    expect(environmentRisk(metrics(80, null, null))).toEqual({ level: "LOW", reasons: [{ kind: "RESOURCE_PRESSURE", level: "LOW", detail: "CPU at 80%" }] });
    expect(environmentRisk(metrics(null, 90, null)).level).toBe("MEDIUM");
    expect(environmentRisk(metrics(null, null, 97)).level).toBe("HIGH");
  });
});
