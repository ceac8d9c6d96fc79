// What the background tasks share (the droplet monitor, the prober, automatic recovery, the
// early-warning watch): rounds on an interval, one after another, on one replica at a time (each
// round takes an advisory lock), and a stop that ends waits at once and lets a round finish.
import type { StoreCapabilities } from "../data/store.ts";
import type { Logger } from "../log.ts";

export abstract class LockedRounds {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();
  protected stopped = false;
  /** Aborted on stop(): a round's waits end at once. */
  protected readonly halt = new AbortController();
  protected readonly withLock: NonNullable<StoreCapabilities["withLock"]>;

  /** `jitter`: each wait is the interval ± this fraction, so replicas started together do not knock at the lock at the same moment. */
  constructor(
    capabilities: StoreCapabilities,
    private readonly what: string,
    private readonly schedule: { intervalMs: number; jitter?: number; logger: Logger },
  ) {
    if (!capabilities.withLock) throw new Error(`${what} needs Postgres or the embedded database (it takes an advisory lock)`);
    this.withLock = capabilities.withLock;
  }

  /** One round as the timer runs it. */
  protected abstract round(): Promise<unknown>;

  start(): void {
    const { intervalMs, jitter = 0, logger } = this.schedule;
    if (intervalMs <= 0) return;
    const next = () => {
      if (this.stopped) return;
      this.timer = setTimeout(
        () => {
          this.running = this.running
            .then(() => this.round())
            .catch((error) => logger.warn({ err: String(error) }, `${this.what}: a round failed`))
            .finally(next);
        },
        intervalMs * (1 - jitter + Math.random() * 2 * jitter),
      );
      this.timer.unref();
    };
    next();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.halt.abort();
    clearTimeout(this.timer);
    await this.running.catch(() => undefined);
  }
}
