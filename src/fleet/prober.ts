// The background prober (opt-in, PROBE_INTERVAL_MS): tests the MCP connection of every running
// server once per interval, with jitter, a few at a time, on one replica at a time (an advisory
// lock), and only servers whose last test is older than the interval, so several replicas probe
// each server once per interval, not once each. A server's own budget (setServerHealthPolicy)
// replaces the default, and the first probe after a (re)start gets at least PROBE_START_BUDGET_MS
// (cold starts of servers with many tools take tens of seconds). Results go where every
// connection test goes: the server's history (capped per server), connectionTested subscribers,
// and the reachability axis (domain/reachability.ts). Its probes are light (the handshake and
// tools/list, in the era the server spoke last: mcp/probe.ts) and reuse the rows the round read.
import { setTimeout as sleep } from "node:timers/promises";
import type { ConnectionTestRow, EnvironmentRow, ServerRow } from "../data/rows.ts";
import { allPages } from "../data/store.ts";
import { DEFAULT_THRESHOLDS } from "../domain/status.ts";
import type { Logger } from "../log.ts";
import { mapLimited } from "./concurrency.ts";
import { LockedRounds } from "./rounds.ts";
import { testConnection, type TestConnectionDeps } from "./test-connection.ts";

/** Arbitrary but fixed: the advisory lock every replica's prober competes for. */
export const PROBER_LOCK_KEY = 0x6d6370; // "mcp"

export interface ProberOptions {
  intervalMs: number;
  concurrency: number;
  /** The budget of a server's first probe after it (re)started. */
  startBudgetMs: number;
  logger: Logger;
  now?: () => number;
}

export interface ProbeRound {
  ran: boolean;
  probed: number;
  failed: number;
}

export class Prober extends LockedRounds {
  private readonly now: () => number;

  /** `deps.store` is the service role's: the prober sees every server. Needs an advisory lock. */
  constructor(
    private readonly deps: TestConnectionDeps,
    private readonly options: ProberOptions,
  ) {
    super(deps.store.capabilities, "the background prober", { ...options, jitter: 0.1 });
    this.now = options.now ?? Date.now;
  }

  protected round(): Promise<unknown> {
    return this.runOnce(true);
  }

  /**
   * One round; `ran` is false when another replica holds the lock. `paced` (the timer's rounds)
   * spreads the probes over 80% of the interval, so a fleet's probes are a steady trickle beside
   * its reads, not a burst; unpaced, they go as fast as the concurrency allows.
   */
  async runOnce(paced = false): Promise<ProbeRound> {
    const round = { ran: false, probed: 0, failed: 0 };
    round.ran = await this.withLock(PROBER_LOCK_KEY, async () => {
      const { servers, environments } = await this.runningServers();
      const last = await this.deps.store.lastConnectionTests(servers.map((s) => s.id));
      const now = this.now();
      // Due: never tested, or tested longer ago than the interval (less the jitter).
      const due = servers
        .map((server, i) => ({ server, last: last[i] }))
        .filter(({ last: test }) => !test || now - test.testedAt.getTime() >= this.options.intervalMs * 0.85)
        .map((item, slot) => ({ ...item, slot }));
      const started = Date.now();
      const spacing = paced && due.length ? (this.options.intervalMs * 0.8) / due.length : 0;
      await mapLimited(due, this.options.concurrency, async ({ server, last: test, slot }) => {
        const wait = started + slot * spacing - Date.now();
        if (wait > 0) await sleep(wait, undefined, { signal: this.halt.signal, ref: false }).catch(() => undefined);
        if (this.stopped) return;
        try {
          const result = await this.probe(server, environments.get(server.environmentId) ?? null, test ?? null);
          round.probed++;
          if (!result.success) round.failed++;
        } catch (error) {
          round.failed++;
          this.options.logger.info({ server: server.id, err: (error as Error).message }, "prober: test failed");
        }
      });
    });
    return round;
  }

  /** One server's probe, as a round makes it: light, with the rows the round read. */
  probe(server: ServerRow, environment: EnvironmentRow | null, lastTest: ConnectionTestRow | null): Promise<ConnectionTestRow> {
    const justStarted = server.lastStartedAtMs !== null && (!lastTest || lastTest.testedAt.getTime() < server.lastStartedAtMs);
    const deps = { ...this.deps, light: true, minimumBudgetMs: justStarted ? this.options.startBudgetMs : undefined };
    return testConnection(deps, server.id, { server, environment, lastTest });
  }

  /** Every running server, with its droplet (a page brings both). */
  private async runningServers(): Promise<{ servers: ServerRow[]; environments: Map<string, EnvironmentRow> }> {
    const servers: ServerRow[] = [];
    const environments = new Map<string, EnvironmentRow>();
    for await (const page of allPages((after) => this.deps.store.listServers({ states: ["RUNNING"] }, { first: 500, after }, this.time()))) {
      servers.push(...page.rows);
      for (const env of page.environments) environments.set(env.id, env);
    }
    return { servers, environments };
  }

  private time() {
    // Only the state filter applies, which does not depend on heartbeat thresholds.
    return { now: new Date(this.now()), thresholds: DEFAULT_THRESHOLDS };
  }
}
