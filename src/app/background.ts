// The background tasks of a serving process (`serve`, the demo): the droplet monitor, the prober,
// automatic recovery and the early-warning watch, each on when its interval is set. Each takes an advisory lock, so with
// several replicas one of each runs at a time.
import { EarlyWarning } from "../fleet/early-warning.ts";
import { Monitor } from "../fleet/monitor.ts";
import { operationDeps } from "../fleet/operations.ts";
import { Prober } from "../fleet/prober.ts";
import { Recovery } from "../fleet/recovery.ts";
import { connectionTestDeps } from "../fleet/test-connection.ts";
import type { Services } from "./index.ts";

export function startBackground(services: Services): Array<{ stop(): Promise<void> }> {
  const { config, store, dtma, logger, metrics, live } = services;
  const tasks: Array<{ stop(): Promise<void> }> = [];
  const run = (what: string, intervalMs: number, make: () => { start(): void; stop(): Promise<void> }) => {
    if (intervalMs <= 0) return;
    if (!store.capabilities.withLock) {
      logger.warn(`${what} needs Postgres or the embedded database (it takes an advisory lock): off`);
      return;
    }
    const task = make();
    task.start();
    tasks.push(task);
    logger.info({ intervalMs }, `${what} on`);
  };
  const operations = operationDeps(config, { store, dtma, logger });
  run("the background monitor", config.monitor.intervalMs, () => new Monitor(operations, { ...config.monitor, logger }));
  run(
    "the background prober",
    config.prober.intervalMs,
    () => new Prober(connectionTestDeps({ store, config, logger, metrics, live }), { ...config.prober, logger }),
  );
  run(
    "automatic recovery",
    config.recovery.intervalMs,
    () => new Recovery(operations, { ...config.recovery, thresholds: config.thresholds, historyDays: config.statusHistoryDays, logger }),
  );
  run(
    "the early-warning watch",
    config.earlyWarningIntervalMs,
    () => new EarlyWarning(store, { intervalMs: config.earlyWarningIntervalMs, thresholds: config.thresholds, logger }),
  );
  return tasks;
}
