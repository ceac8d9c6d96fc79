// The health clock: one timer, for the nearest moment some server's health changes with time
// alone (its heartbeat ageing past a threshold). It visits only the servers that are due, not the
// whole fleet.
import FlatQueue from "flatqueue";
import type { Clock } from "./clock.ts";

export class HealthClock {
  /** Ids by the moment they are due. An entry whose moment is no longer the id's own is stale. */
  private readonly deadlines = new FlatQueue<string>();
  /** Each id's current moment (ms). */
  private readonly moments = new Map<string, number>();
  private timer: unknown;
  private timerAt: number | undefined;
  private stopped = false;

  /** `onDue` runs for each id whose moment has come, with the clock's time. */
  constructor(
    private readonly clock: Clock,
    private readonly onDue: (id: string, now: Date) => void,
  ) {}

  /** Sets when `id` is next due (ms); undefined: never. Call schedule() after a batch. */
  set(id: string, at: number | undefined): void {
    if (at === undefined) {
      this.moments.delete(id);
      return;
    }
    const before = this.moments.get(id);
    this.moments.set(id, at);
    // An unchanged moment keeps its entry; a new one gets its own (the old one is now stale).
    if (at === before) return;
    this.deadlines.push(id, at);
    // Stale entries go when they come due; rebuild if writes pile them up faster.
    if (this.deadlines.length > 2 * this.moments.size + 1024) {
      this.deadlines.clear();
      for (const [key, moment] of this.moments) this.deadlines.push(key, moment);
    }
  }

  /** Arms the one timer for the nearest moment (or none). */
  schedule(): void {
    if (this.stopped) return;
    while (this.deadlines.length && this.isStale(this.deadlines.peek()!, this.deadlines.peekValue()!)) this.deadlines.pop();
    const next = this.deadlines.length ? this.deadlines.peekValue() : undefined;
    if (next === this.timerAt) return;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
    this.timerAt = next;
    if (next !== undefined) this.timer = this.clock.setTimer(() => this.tick(), Math.max(0, next - this.clock.now().getTime()));
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
  }

  private isStale(id: string, at: number): boolean {
    return this.moments.get(id) !== at;
  }

  private tick() {
    this.timer = undefined;
    this.timerAt = undefined;
    const now = this.clock.now();
    while (this.deadlines.length && this.deadlines.peekValue()! <= now.getTime()) {
      const at = this.deadlines.peekValue()!;
      const id = this.deadlines.pop()!;
      if (this.isStale(id, at)) continue;
      this.moments.delete(id);
      this.onDue(id, now);
    }
    this.schedule();
  }
}
