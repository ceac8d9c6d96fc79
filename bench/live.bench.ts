// npm run bench:live: 5,000 graphql-ws subscribers on one server process, real Postgres.
// Measures, against a bare baseline in the same run, commit-to-delivery latency at every subscriber over 100 updates, lost events, and
// server heap per idle subscriber. Prints a Markdown table for BENCHMARKS.md.
import { randomBytes } from "node:crypto";
import { createClient, type Client } from "graphql-ws";
import { signDevToken } from "../src/auth/verify.ts";
import WebSocket from "ws";
import type { Db } from "../src/data/db.ts";
import { migrate } from "../src/data/migrate.ts";
import { insertEnvironment, insertServer } from "../fixtures/fleet.ts";
import { freshPostgres } from "../fixtures/postgres.ts";
import { startServerProcess, type ServerStats } from "./processes.ts";

const SUBSCRIBERS = Number(process.env.BENCH_SUBSCRIBERS ?? 5000);
const UPDATES = Number(process.env.BENCH_UPDATES ?? 100);

const SECRET = randomBytes(32).toString("hex");
const ISSUER = "mcp-fleet-bench";
const TOKEN = await signDevToken(
  SECRET,
  { sub: "00000000-0000-4000-8000-00000000ffff", role: "service_role" },
  { audience: "authenticated", issuer: ISSUER, expiresIn: "1h" },
);
interface Result {
  p50: number;
  p99: number;
  max: number;
  lost: number;
  heapKb: number;
  rssKb: number;
}

/** Starts `script` on the database, subscribes SUBSCRIBERS clients to `id`, writes UPDATES updates. */
async function measure(script: string, databaseUrl: string, db: Db, id: string): Promise<Result> {
  const { child, port } = await startServerProcess(script, { DATABASE_URL: databaseUrl, SUPABASE_JWT_SECRET: SECRET, JWT_ISSUER: ISSUER }, ["--expose-gc"]);
  const ask = () =>
    new Promise<ServerStats>((resolve) => {
      child.once("message", resolve as never);
      child.send("stats");
    });
  const clients: Client[] = [];
  try {
    const idle = await ask();
    // Each subscriber records when it saw each update (by the version marker the update writes).
    const seen: Array<Map<string, number>> = [];
    for (let i = 0; i < SUBSCRIBERS; i++) {
      const client = createClient({
        url: `ws://127.0.0.1:${port}/graphql`,
        webSocketImpl: WebSocket,
        retryAttempts: 0,
        connectionParams: { authorization: `Bearer ${TOKEN}` },
      });
      const mine = new Map<string, number>();
      seen.push(mine);
      client.subscribe<{ serverChanged: { server: { version: string } | null } }>(
        { query: `subscription($id: ID!) { serverChanged(filter: { serverIds: [$id] }) { server { version } } }`, variables: { id } },
        {
          next: (v) => {
            const version = v.data?.serverChanged.server?.version;
            if (version) mine.set(version, performance.now());
          },
          error: () => undefined,
          complete: () => undefined,
        },
      );
      clients.push(client);
      if (i % 500 === 499) await new Promise((r) => setTimeout(r, 50));
    }
    let stats = await ask();
    for (let i = 0; i < 200 && stats.subscribers < SUBSCRIBERS; i++) {
      await new Promise((r) => setTimeout(r, 100));
      stats = await ask();
    }
    if (stats.subscribers < SUBSCRIBERS) throw new Error(`${script}: only ${stats.subscribers} of ${SUBSCRIBERS} subscribed`);

    const latencies: number[] = [];
    let lost = 0;
    for (let u = 0; u < UPDATES; u++) {
      const marker = `${script}-u${u}`;
      await db.query("UPDATE account_tool_instances SET version = $1 WHERE id = $2", [marker, id]);
      const committed = performance.now();
      const deadline = committed + 10_000;
      while (performance.now() < deadline && seen.some((m) => !m.has(marker))) await new Promise((r) => setTimeout(r, 5));
      for (const m of seen) {
        const at = m.get(marker);
        if (at === undefined) lost++;
        else latencies.push(at - committed);
      }
    }
    latencies.sort((a, b) => a - b);
    const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
    return {
      p50: pct(50),
      p99: pct(99),
      max: latencies.at(-1)!,
      lost,
      heapKb: (stats.heapUsed - idle.heapUsed) / SUBSCRIBERS / 1024,
      rssKb: (stats.rss - idle.rss) / SUBSCRIBERS / 1024,
    };
  } finally {
    await Promise.all(clients.map((c) => c.dispose()));
    child.kill();
  }
}

const pgTest = await freshPostgres();
try {
  await migrate(pgTest.db);
  const env = await insertEnvironment(pgTest.db, { name: "bench", publicIp: "203.0.113.80" });
  const id = await insertServer(pgTest.db, { env, name: "watched", status: "running", heartbeatSecondsAgo: 1 });
  const baseline = await measure("./serve-live-baseline.ts", pgTest.url, pgTest.db, id);
  const api = await measure("./serve-live.ts", pgTest.url, pgTest.db, id);
  const row = (name: string, r: Result) =>
    `| ${name} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.max.toFixed(1)} | ${r.lost} of ${SUBSCRIBERS * UPDATES} | ${r.heapKb.toFixed(1)} KB | ${r.rssKb.toFixed(1)} KB |`;
  console.log(`\n${SUBSCRIBERS} graphql-ws subscribers, ${UPDATES} updates of one watched server, real Postgres, node ${process.version}\n`);
  console.log("| | p50 ms | p99 ms | max ms | events lost | server heap per idle subscriber | server RSS per idle subscriber |");
  console.log("|---|---:|---:|---:|---:|---:|---:|");
  console.log(row("baseline (LISTEN, one query, plain ws broadcast)", baseline));
  console.log(row("mcp-fleet serverChanged", api));
  console.log(
    `\nratios (mcp-fleet / baseline): p50 ${(api.p50 / baseline.p50).toFixed(2)}, p99 ${(api.p99 / baseline.p99).toFixed(2)}, heap per subscriber ${(api.heapKb / baseline.heapKb).toFixed(2)}`,
  );
  console.log(`targets: p99 < 250 ms, < 30 KB per idle subscriber, 0 lost`);
} finally {
  await pgTest.drop();
}
