// mcp-fleet as shipped, for bench:probes, with the background prober in its own process. "round"
// runs one round of the prober over every running server (each due: interval 1 ms) and answers
// with its counts and duration; "on" keeps PROBE_CONCURRENCY probes going, each as a round makes
// it (Prober.probe), until "off", which answers with how many were made.
import { allPages } from "../src/data/store.ts";
import { DEFAULT_THRESHOLDS } from "../src/domain/status.ts";
import type { EnvironmentRow, ServerRow } from "../src/data/rows.ts";
import { connectionTestDeps } from "../src/fleet/test-connection.ts";
import { Prober } from "../src/fleet/prober.ts";
import { createLogger } from "../src/log.ts";
import { serveMcpFleet } from "./processes.ts";

const services = await serveMcpFleet({ ALLOW_PRIVATE_TARGETS: "true" });
const logger = createLogger("silent");
const concurrency = Number(process.env.PROBE_CONCURRENCY ?? 32);
const deps = connectionTestDeps({ ...services, logger });
const prober = new Prober(deps, { intervalMs: 1, concurrency, startBudgetMs: 10_000, logger });

const servers: ServerRow[] = [];
const environments = new Map<string, EnvironmentRow>();
for await (const page of allPages((after) =>
  services.store.listServers({ states: ["RUNNING"] }, { first: 500, after }, { now: new Date(), thresholds: DEFAULT_THRESHOLDS }),
)) {
  servers.push(...page.rows);
  for (const env of page.environments) environments.set(env.id, env);
}

let last: Awaited<ReturnType<typeof services.store.lastConnectionTests>> = [];
let looping = false;
let workers: Promise<void>[] = [];
let made = 0;
let next = 0;
let first = 0;

process.on("message", async (m: string) => {
  if (m === "round") {
    const started = performance.now();
    const round = await prober.runOnce();
    process.send?.({ ...round, ms: performance.now() - started });
  } else if (m.startsWith("on")) {
    // "on" as fast as PROBE_CONCURRENCY allows; "on:R", paced at R probes per second (as a paced round).
    const rate = Number(m.split(":")[1] ?? 0);
    const started = performance.now();
    // Each server's last test, as a round reads them (one statement).
    last = await services.store.lastConnectionTests(servers.map((server) => server.id));
    looping = true;
    made = 0;
    first = next;
    workers = Array.from({ length: concurrency }, async () => {
      while (looping) {
        const slot = next++;
        const wait = rate ? started + (slot - first) * (1000 / rate) - performance.now() : 0;
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        if (!looping) break;
        const i = slot % servers.length;
        const server = servers[i];
        await prober.probe(server, environments.get(server.environmentId) ?? null, last[i]).catch(() => undefined);
        made++;
      }
    });
    process.send?.({ on: true });
  } else if (m === "off") {
    looping = false;
    await Promise.all(workers);
    process.send?.({ probed: made });
  }
});
