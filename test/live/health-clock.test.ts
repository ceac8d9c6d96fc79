// The health clock alone, on the manual clock: one timer, due ids in order, stale moments skipped.
import { describe, expect, it } from "vitest";
import { HealthClock } from "../../src/live/health-clock.ts";
import { ManualClock } from "../helpers/manual-clock.ts";

function setup() {
  const clock = new ManualClock(1_000_000);
  const due: Array<[string, number]> = [];
  const health = new HealthClock(clock, (id, now) => due.push([id, now.getTime() - 1_000_000]));
  return { clock, due, health };
}

describe("HealthClock", () => {
  it("calls each id when its moment comes, in order, with one timer armed at a time", () => {
    const { clock, due, health } = setup();
    health.set("b", 1_000_200);
    health.set("a", 1_000_100);
    health.set("c", 1_000_300);
    health.schedule();
    expect(clock.pending).toBe(1);
    clock.advance(150);
    expect(due).toEqual([["a", 100]]);
    expect(clock.pending).toBe(1);
    clock.advance(1000);
    expect(due).toEqual([
      ["a", 100],
      ["b", 200],
      ["c", 300],
    ]);
    expect(clock.pending).toBe(0);
  });

  it("skips a moment that was moved (stale) and one that was cleared", () => {
    const { clock, due, health } = setup();
    health.set("moved", 1_000_100);
    health.set("cleared", 1_000_150);
    health.schedule();
    health.set("moved", 1_000_500); // a heartbeat arrived: later now
    health.set("cleared", undefined); // no longer running
    health.schedule();
    clock.advance(400);
    expect(due).toEqual([]);
    clock.advance(100);
    expect(due).toEqual([["moved", 500]]);
  });

  it("keeps one entry for an unchanged moment, and fires nothing after stop", () => {
    const { clock, due, health } = setup();
    health.set("x", 1_000_100);
    health.set("x", 1_000_100);
    health.schedule();
    health.stop();
    expect(clock.pending).toBe(0);
    clock.advance(1000);
    expect(due).toEqual([]);
  });

  it("lets an id be set again from its own callback (its next moment)", () => {
    const clock = new ManualClock(0);
    const seen: number[] = [];
    const health: HealthClock = new HealthClock(clock, (id, now) => {
      seen.push(now.getTime());
      if (seen.length < 3) health.set(id, now.getTime() + 100);
    });
    health.set("x", 100);
    health.schedule();
    clock.advance(1000);
    expect(seen).toEqual([100, 200, 300]);
  });
});
