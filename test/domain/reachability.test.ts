// The reachability axis's rules, each edge.
import { describe, expect, it } from "vitest";
import { reachabilityOf, type ProbeOutcome } from "../../src/domain/reachability.ts";

const at = new Date("2026-11-27T00:00:00Z");
const ok = (latencyMs = 100): ProbeOutcome => ({ success: true, latencyMs, error: null, testedAt: at });
const failed = (error = "Connection refused"): ProbeOutcome => ({ success: false, latencyMs: 5, error, testedAt: at });
const thresholds = { slowMs: 5000, failuresToUnreachable: 3 };

describe("reachabilityOf (tests newest first)", () => {
  it("is UNKNOWN before any test", () => {
    expect(reachabilityOf([], thresholds)).toEqual({ status: "UNKNOWN", lastProbeAt: null, latencyMs: null, consecutiveFailures: 0, lastError: null });
  });
  it("is REACHABLE when the newest test passed, up to the slow threshold; SLOW above it", () => {
    expect(reachabilityOf([ok(5000)], thresholds).status).toBe("REACHABLE");
    expect(reachabilityOf([ok(5001)], thresholds).status).toBe("SLOW");
  });
  it("keeps the last success's verdict for fewer failures in a row than the threshold, counting them", () => {
    expect(reachabilityOf([failed(), failed(), ok(6000)], thresholds)).toMatchObject({
      status: "SLOW",
      consecutiveFailures: 2,
      lastError: "Connection refused",
    });
  });
  it("is UNREACHABLE at the threshold of failures in a row, or with no success at all", () => {
    expect(reachabilityOf([failed(), failed(), failed(), ok()], thresholds)).toMatchObject({ status: "UNREACHABLE", consecutiveFailures: 3 });
    expect(reachabilityOf([failed()], thresholds)).toMatchObject({ status: "UNREACHABLE", consecutiveFailures: 1 });
  });
  it("forgets failures once a test passes again", () => {
    expect(reachabilityOf([ok(), failed(), failed(), failed()], thresholds)).toMatchObject({ status: "REACHABLE", consecutiveFailures: 0, lastError: null });
  });
});
