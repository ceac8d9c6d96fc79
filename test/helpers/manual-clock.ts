import type { Clock } from "../../src/live/clock.ts";

/** A clock that moves only when told to, firing due timers as it passes them. */
export class ManualClock implements Clock {
  private timers = new Map<number, { due: number; fn: () => void }>();
  private nextId = 1;
  constructor(private t: number = Date.now()) {}
  now() {
    return new Date(this.t);
  }
  setTimer(fn: () => void, ms: number) {
    const id = this.nextId++;
    this.timers.set(id, { due: this.t + ms, fn });
    return id;
  }
  clearTimer(handle: unknown) {
    this.timers.delete(handle as number);
  }
  get pending() {
    return this.timers.size;
  }
  advance(ms: number) {
    const target = this.t + ms;
    for (;;) {
      const due = [...this.timers].filter(([, t]) => t.due <= target).sort((a, b) => a[1].due - b[1].due)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.t = due[1].due;
      due[1].fn();
    }
    this.t = target;
  }
}
