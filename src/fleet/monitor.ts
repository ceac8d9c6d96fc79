// The background monitor (opt-in, MONITOR_INTERVAL_MS): refreshes every droplet from its agent on
// an interval, a few at a time, on one replica at a time (a Postgres advisory lock).
import type { EnvironmentRow } from "../data/rows.ts";
import { allPages } from "../data/store.ts";
import { agentExpected } from "../domain/status.ts";
import type { Logger } from "../log.ts";
import { mapLimited } from "./concurrency.ts";
import { LockedRounds } from "./rounds.ts";
import { refreshEnvironment, type OperationDeps } from "./operations.ts";

/** Arbitrary but fixed: the advisory lock every replica's monitor competes for. */
export const MONITOR_LOCK_KEY = 0x6d6366; // "mcf"

export interface MonitorRound {
  ran: boolean;
  refreshed: number;
  failed: number;
}

export class Monitor extends LockedRounds {
  /** Needs a store with an advisory lock (Postgres, or the embedded database). */
  constructor(
    private readonly deps: OperationDeps,
    private readonly options: { intervalMs: number; concurrency: number; logger: Logger },
  ) {
    super(deps.store.capabilities, "the background monitor", options);
  }

  protected round(): Promise<unknown> {
    return this.runOnce();
  }

  /** One round; `ran` is false when another replica holds the lock. */
  async runOnce(): Promise<MonitorRound> {
    const round = { ran: false, refreshed: 0, failed: 0 };
    round.ran = await this.withLock(MONITOR_LOCK_KEY, async () => {
      const environments = await this.environments();
      await mapLimited(environments, this.options.concurrency, async (env) => {
        try {
          await refreshEnvironment(this.deps, env.id);
          round.refreshed++;
        } catch (error) {
          round.failed++;
          this.options.logger.info({ environment: env.id, err: (error as Error).message }, "monitor: refresh failed");
        }
      });
    });
    return round;
  }

  private async environments(): Promise<EnvironmentRow[]> {
    const all: EnvironmentRow[] = [];
    for await (const page of allPages((after) => this.deps.store.listEnvironments({}, { first: 500, after }))) {
      // Only droplets whose agent should answer (domain/status.ts agentExpected).
      all.push(...page.rows.filter((e) => e.publicIp && agentExpected(e.status)));
    }
    return all;
  }
}
