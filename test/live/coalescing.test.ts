// When the change feed reloads what changed: an isolated change at once, a burst gathered into one
// reload per coalescing period.
import pino from "pino";
import { describe, expect, it } from "vitest";
import { pgliteDb } from "../../src/data/db.ts";
import { migrate } from "../../src/data/migrate.ts";
import { SqlStore } from "../../src/data/sql-store.ts";
import { DEFAULT_THRESHOLDS } from "../../src/domain/status.ts";
import { systemClock } from "../../src/live/clock.ts";
import { LiveFleet } from "../../src/live/fleet.ts";
import { insertEnvironment, insertServer } from "../../fixtures/fleet.ts";

describe("the change feed's coalescing", () => {
  it("applies an isolated change without waiting for the period, and a burst within it in one reload", async () => {
    const db = await pgliteDb(undefined);
    await migrate(db);
    const env = await insertEnvironment(db, { name: "e", publicIp: "203.0.113.11" });
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await insertServer(db, { env, name: `s${i}`, status: "running", heartbeatSecondsAgo: 1 }));
    const store = new SqlStore(db);
    let reloads = 0;
    const serversByIds = store.serversByIds.bind(store);
    store.serversByIds = (wanted) => {
      reloads++;
      return serversByIds(wanted);
    };
    const coalesceMs = 1500;
    const live = new LiveFleet({
      store,
      feed: store.capabilities.feed!,
      clock: systemClock,
      thresholds: DEFAULT_THRESHOLDS,
      logger: pino({ level: "silent" }),
      coalesceMs,
    });
    await live.start();
    const events = live.serverEvents.subscribe(() => true);
    try {
      const started = performance.now();
      await db.query("UPDATE account_tool_instances SET version = 'isolated' WHERE id = $1", [ids[0]]);
      expect((await events.next()).value?.server?.version).toBe("isolated");
      // Well within the period: the change was not held back for it.
      expect(performance.now() - started).toBeLessThan(coalesceMs / 2);
      expect(reloads).toBe(1);
      // Five writes 100 ms apart right after: within the period of the last reload, so gathered into one.
      for (const id of ids) {
        await db.query("UPDATE account_tool_instances SET version = 'burst' WHERE id = $1", [id]);
        await new Promise((r) => setTimeout(r, 100));
      }
      const seen = new Set<string>();
      while (seen.size < ids.length) {
        const { value } = await events.next();
        if (value?.server?.version === "burst") seen.add(value.serverId);
      }
      expect(reloads).toBe(2);
    } finally {
      await events.return?.();
      await live.stop();
      await db.close();
    }
  });
});
