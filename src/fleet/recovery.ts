// Automatic recovery (RECOVERY_INTERVAL_MS, on by default): each round reads the servers whose
// users want them running, decides by domain/recovery.ts, and acts through the droplet's agent,
// one replica at a time (an advisory lock). Every attempt and outcome is written as AUTO_RECOVERY:
// the record on the row (a change event), the status writes of the start or restart (status
// events and transitions), and an entry with its `detail` in the server's status history.
import type { EnvironmentRow, ServerRow } from "../data/rows.ts";
import { allPages, type StatusTransition } from "../data/store.ts";
import { parseRecovery, type RecoveryDecision, type RecoveryPolicy, type RecoveryRecord, recoveryDecision } from "../domain/recovery.ts";
import { agentProblemOf, desiredStateOf, type HeartbeatThresholds, serverStatus, stateOf } from "../domain/status.ts";
import type { Logger } from "../log.ts";
import { mapLimited } from "./concurrency.ts";
import { LockedRounds } from "./rounds.ts";
import { OperationError } from "./errors.ts";
import { type OperationDeps, restartServer, startServer } from "./operations.ts";

/** Arbitrary but fixed: the advisory lock every replica's recovery competes for. */
export const RECOVERY_LOCK_KEY = 0x6d6372; // "mcr"

export interface RecoveryOptions {
  intervalMs: number;
  concurrency: number;
  policy: RecoveryPolicy;
  thresholds: HeartbeatThresholds;
  /** Days of status history kept (STATUS_HISTORY_DAYS); 0 records none. */
  historyDays: number;
  logger: Logger;
  now?: () => Date;
}

export interface RecoveryRound {
  ran: boolean;
  attempted: number;
  failed: number;
  recovered: number;
  gaveUp: number;
  blocked: number;
}

/** Errors no restart can mend: the container is gone, or the row cannot address one. */
const HOPELESS = new Set(["NOT_FOUND", "BAD_USER_INPUT"]);

export class Recovery extends LockedRounds {
  private readonly deps: OperationDeps;
  private readonly now: () => Date;

  /** `deps.store` is the service role's. Needs an advisory lock (Postgres or the embedded database). */
  constructor(
    deps: OperationDeps,
    private readonly options: RecoveryOptions,
  ) {
    super(deps.store.capabilities, "automatic recovery", options);
    this.deps = { ...deps, source: "AUTO_RECOVERY" };
    this.now = options.now ?? (() => new Date());
  }

  protected round(): Promise<unknown> {
    return this.runOnce();
  }

  /** One round; `ran` is false when another replica holds the lock. */
  async runOnce(): Promise<RecoveryRound> {
    const round = { ran: false, attempted: 0, failed: 0, recovered: 0, gaveUp: 0, blocked: 0 };
    round.ran = await this.withLock(RECOVERY_LOCK_KEY, async () => {
      const { servers, environments } = await this.candidates();
      if (!servers.length) return;
      // Tests matter only to a running server (a probe fault); one statement for all of them.
      const running = servers.filter((s) => stateOf(s.status) === "RUNNING");
      const tests = await this.deps.store.connectionTestsOf(
        running.map((s) => s.id),
        this.options.policy.probeFailures,
      );
      const testsOf = new Map(running.map((s, i) => [s.id, tests[i]]));
      await mapLimited(
        servers.map((server) => ({ server, tests: testsOf.get(server.id) ?? [] })),
        this.options.concurrency,
        async ({ server, tests: recent }) => {
          const now = this.now();
          const env = environments.get(server.environmentId) ?? null;
          const record = parseRecovery(server.recovery);
          const decision = recoveryDecision({
            now,
            state: stateOf(server.status),
            policy: this.options.policy,
            enabled: server.autoRecovery,
            desired: desiredStateOf(server.desiredState, server.status),
            status: server.status,
            errorMessage: server.errorMessage,
            testsSinceStart: recent.filter((t) => server.lastStartedAtMs === null || t.testedAt.getTime() >= server.lastStartedAtMs),
            agentProblem: agentProblemOf(env, now, this.options.thresholds, this.deps.allowPrivateTargets),
            record,
          });
          try {
            await this.act(server, env, decision, round);
          } catch (error) {
            this.options.logger.warn({ server: server.id, err: String(error) }, "recovery: could not record an outcome");
          }
        },
      );
    });
    return round;
  }

  private async act(server: ServerRow, env: EnvironmentRow | null, decision: RecoveryDecision, round: RecoveryRound): Promise<void> {
    if (decision.kind === "NONE" || decision.kind === "WAIT") return;
    const { store } = this.deps;
    if (decision.kind === "RECORD") {
      await store.setRecovery(server.id, decision.record);
      await this.history(server, env, decision.detail);
      if (decision.record.state === "RECOVERED") round.recovered++;
      if (decision.record.state === "GAVE_UP") round.gaveUp++;
      if (decision.record.state === "BLOCKED") round.blocked++;
      this.options.logger.info({ server: server.id, recovery: decision.record.state, reason: decision.record.reason }, "automatic recovery");
      return;
    }
    round.attempted++;
    await store.setRecovery(server.id, decision.record);
    await this.history(server, env, decision.detail);
    this.options.logger.info({ server: server.id, attempt: decision.attempt, action: decision.action }, "automatic recovery: attempting");
    try {
      const act = decision.action === "START" ? startServer : restartServer;
      const after = await act(this.deps, server.id);
      await this.history(after, env, `Attempt ${decision.attempt}: the agent ${decision.action === "START" ? "started" : "restarted"} the container`);
    } catch (error) {
      round.failed++;
      const message = error instanceof Error ? error.message : String(error);
      const hopeless = error instanceof OperationError && HOPELESS.has(error.code);
      const record: RecoveryRecord = hopeless
        ? { ...decision.record, state: "GAVE_UP", lastError: message, reason: `gave up: ${message}`, since: this.now().toISOString() }
        : { ...decision.record, lastError: message };
      await store.setRecovery(server.id, record);
      await this.history(
        server,
        env,
        hopeless ? `Attempt ${decision.attempt} failed, and no restart can mend it; gave up: ${message}` : `Attempt ${decision.attempt} failed: ${message}`,
      );
      if (hopeless) round.gaveUp++;
      this.options.logger.info({ server: server.id, attempt: decision.attempt, err: message }, "automatic recovery: attempt failed");
    }
  }

  /** An entry in the server's status history, at its state and health now, saying what recovery did. */
  private async history(server: ServerRow, env: EnvironmentRow | null, detail: string): Promise<void> {
    if (this.options.historyDays <= 0) return;
    const [fresh] = await this.deps.store.serversByIds([server.id]);
    const row = fresh ?? server;
    const now = this.now();
    const { state, health } = serverStatus(row, now, this.options.thresholds);
    const entry: StatusTransition = {
      serverId: row.id,
      environmentId: row.environmentId,
      userId: env?.userId ?? null,
      at: now,
      previous: { state, health },
      current: { state, health },
      source: "AUTO_RECOVERY",
      detail,
    };
    await this.deps.store.recordHistory([entry], [], this.options.historyDays);
  }

  /** Servers recovery may have to look at (not in a transition, with the policy on), and their droplets (a page brings both). */
  private async candidates(): Promise<{ servers: ServerRow[]; environments: Map<string, EnvironmentRow> }> {
    const servers: ServerRow[] = [];
    const environments = new Map<string, EnvironmentRow>();
    const time = { now: this.now(), thresholds: this.options.thresholds };
    for await (const page of allPages((after) => this.deps.store.listServers({ states: ["RUNNING", "STOPPED", "ERROR"] }, { first: 500, after }, time))) {
      for (const row of page.rows) if (row.autoRecovery && desiredStateOf(row.desiredState, row.status) === "RUNNING") servers.push(row);
      for (const env of page.environments) environments.set(env.id, env);
    }
    return { servers, environments };
  }
}
