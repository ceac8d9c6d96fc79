import { describe, expect, it } from "vitest";
import { systemMetrics } from "../../src/domain/metrics.ts";

describe("systemMetrics", () => {
  it("reads the DTMA system_status shape and computes percentages", () => {
    const m = systemMetrics({
      cpu_load_percent: 12.5,
      memory: { total_bytes: 1000, used_bytes: 250, active_bytes: 200, free_bytes: 750 },
      disk: { mount: "/", total_bytes: 200, used_bytes: 50, free_bytes: 150 },
    });
    expect(m).toEqual({
      cpuLoadPercent: 12.5,
      memory: { totalBytes: 1000, usedBytes: 250, activeBytes: 200, freeBytes: 750, usedPercent: 25 },
      disk: { mount: "/", totalBytes: 200, usedBytes: 50, freeBytes: 150, usedPercent: 25 },
      error: null,
    });
  });
  it("surfaces the error a failed refresh stored", () => {
    expect(systemMetrics({ error: "timeout" })).toMatchObject({ error: "timeout", memory: null, disk: null, cpuLoadPercent: null });
  });
  it("ignores values of the wrong type instead of failing", () => {
    expect(systemMetrics({ cpu_load_percent: "high", memory: { total_bytes: 0, used_bytes: 5 } })).toMatchObject({
      cpuLoadPercent: null,
      memory: { usedPercent: null },
    });
  });
  it.each([[null], [[]], ["text"], [42]])("returns null for %j", (value) => {
    expect(systemMetrics(value)).toBeNull();
  });
});
