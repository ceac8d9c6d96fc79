// npm run bench:probes: the background prober on 10,000 running servers over 500 droplets in real
// Postgres, every endpoint a real MCP server on loopback (half the SDK's, of the legacy era; half
// written to 2026-07-28), in a process of their own. Measures one full round (probes per second,
// API and Postgres CPU per probe), then the read benchmark's workload against its baseline with
// the API idle and with probes running, in alternating rounds. Prints Markdown for BENCHMARKS.md.
import { randomBytes } from "node:crypto";
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { signDevToken } from "../src/auth/verify.ts";
import { migrate } from "../src/data/migrate.ts";
import { generateFleet } from "../src/data/seed.ts";
import { freshPostgres } from "../fixtures/postgres.ts";
import { cpuMs, median, postgresCpuMs } from "./measure.ts";
import { startServerProcess } from "./processes.ts";

const DURATION_S = Number(process.env.BENCH_SECONDS ?? 2);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);
const CONCURRENCY = Number(process.env.PROBE_CONCURRENCY ?? 32);
const TARGETS = 10; // servers of each era; the 10,000 rows share their endpoints
const CONNECTIONS = 32;
const QUERY = `{ servers(first: 100) { edges { node { id name rawStatus status { state health heartbeatAge } endpoint environment { id name publicIP region status } } } } }`;

const SECRET = randomBytes(32).toString("hex");
const ISSUER = "mcp-fleet-bench";
const TOKEN = await signDevToken(SECRET, { sub: "00000000-0000-4000-8000-00000000ffff", role: "service_role" }, { audience: "authenticated", issuer: ISSUER });

/** Sends `message` to a child and resolves with its next answer. */
function ask<T>(child: ChildProcess, message: string): Promise<T> {
  return new Promise((resolve) => {
    child.once("message", (m) => resolve(m as T));
    child.send(message);
  });
}

async function rps(url: string, body?: string): Promise<{ rps: number; total: number }> {
  const r = await autocannon({
    url,
    connections: CONNECTIONS,
    duration: DURATION_S,
    method: body ? "POST" : "GET",
    body,
    headers: body ? { "content-type": "application/json", authorization: `Bearer ${TOKEN}` } : {},
  });
  if (r.non2xx || r.errors) throw new Error(`${url}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  return { rps: r.requests.average, total: r.requests.total };
}

const pg = await freshPostgres();
const targets = fork(fileURLToPath(new URL("./serve-mcp-targets.ts", import.meta.url)), {
  execArgv: ["--import", "tsx"],
  env: { ...process.env, TARGETS: String(TARGETS) },
  stdio: "inherit",
});
try {
  const ports = await new Promise<{ legacy: number[]; modern: number[] }>((resolve) => targets.once("message", (m) => resolve(m as never)));
  const all = [...ports.legacy, ...ports.modern];
  await migrate(pg.db);
  await generateFleet(pg.db, { environments: 500, serversPerEnvironment: 20 });
  // Every server running (heard from just now), on a droplet at loopback, its endpoint one of the targets.
  await pg.db.query("UPDATE account_tool_environments SET public_ip_address = '127.0.0.1'");
  await pg.db.query(
    `UPDATE account_tool_instances s SET status_on_toolbox = 'running', last_heartbeat_from_dtma = now(),
       port_mapping_json = jsonb_build_object('container_port', 8080, 'host_port', ($1::int[])[1 + n.i % $2::int])
     FROM (SELECT id, row_number() OVER (ORDER BY id) AS i FROM account_tool_instances) n WHERE n.id = s.id`,
    [all, all.length],
  );
  const [{ n }] = await pg.db.query<{ n: number }>("SELECT count(*)::int AS n FROM account_tool_instances WHERE status_on_toolbox = 'running'");

  const env = { DATABASE_URL: pg.url, SUPABASE_JWT_SECRET: SECRET, JWT_ISSUER: ISSUER, PROBE_CONCURRENCY: String(CONCURRENCY) };
  const api = await startServerProcess("./serve-api-probing.ts", env);
  // BENCH_PROBER=replica: reads go to a second replica whose prober is off, as a deployment that
  // keeps probing on one replica out of the load balancer (README, Active health).
  const reader = process.env.BENCH_PROBER === "replica" ? await startServerProcess("./serve-api.ts", env) : api;
  const baseline = await startServerProcess("./serve-baseline.ts", env);
  try {
    const pid = api.child.pid as number;
    console.log(
      `\n${n} running servers on 500 droplets; ${all.length} MCP servers on loopback behind them (half legacy, half 2026-07-28); node ${process.version}`,
    );

    // Full rounds, as the prober runs them (advisory lock, due check, PROBE_CONCURRENCY at once):
    // the first detects each server's era; later ones go straight to it.
    console.log(`\n### Rounds of the prober (concurrency ${CONCURRENCY})\n`);
    console.log("| round | servers probed | failed | round s | probes/s | API CPU ms/probe | Postgres CPU ms/probe | MCP servers' CPU ms/probe |");
    console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (const name of ["first (eras detected)", "second (eras known)"]) {
      const api0 = cpuMs(pid);
      const pg0 = postgresCpuMs();
      const targets0 = cpuMs(targets.pid as number);
      const round = await ask<{ ran: boolean; probed: number; failed: number; ms: number }>(api.child, "round");
      const per = (ms: number) => (ms / round.probed).toFixed(2);
      console.log(
        `| ${name} | ${round.probed} | ${round.failed} | ${(round.ms / 1000).toFixed(1)} | ${(round.probed / (round.ms / 1000)).toFixed(0)} | ${per(cpuMs(pid) - api0)} | ${per(postgresCpuMs() - pg0)} | ${per(cpuMs(targets.pid as number) - targets0)} |`,
      );
    }

    // Reads while probes run: baseline, the API idle, the API probing, alternating.
    const apiUrl = `http://127.0.0.1:${reader.port}/graphql`;
    const baselineUrl = `http://127.0.0.1:${baseline.port}/`;
    const body = JSON.stringify({ query: QUERY });
    await rps(baselineUrl);
    await rps(apiUrl, body);
    // As fast as the concurrency allows, and paced as a round of 10,000 servers over an interval of 5 and 2 minutes.
    const modes = [
      { name: `unpaced (${CONCURRENCY} at once)`, message: "on" },
      ...[300, 120].map((s) => ({ name: `paced: ${n} servers every ${s / 60} min`, message: `on:${(n / (s * 0.8)).toFixed(1)}` })),
    ];
    const idle: number[] = [];
    const ratios = modes.map(() => [] as number[]);
    const sameRatios = modes.map(() => [] as number[]);
    const rates = modes.map(() => [] as number[]);
    // CPU of the reading replica and of Postgres per read request, per mode and (the last slot) idle;
    // the probes' own share included.
    const cpu = Array.from({ length: modes.length + 1 }, () => ({ reader: 0, postgres: 0, requests: 0 }));
    const measured = async (slot: number, run: () => Promise<{ rps: number; total: number }>) => {
      const reader0 = cpuMs(reader.child.pid as number);
      const pg0 = postgresCpuMs();
      const r = await run();
      cpu[slot].reader += cpuMs(reader.child.pid as number) - reader0;
      cpu[slot].postgres += postgresCpuMs() - pg0;
      cpu[slot].requests += r.total;
      return r.rps;
    };
    for (let r = 0; r < ROUNDS; r++) {
      const b = (await rps(baselineUrl)).rps;
      idle.push((await measured(modes.length, () => rps(apiUrl, body))) / b);
      for (const [i, mode] of modes.entries()) {
        await ask(api.child, mode.message);
        const started = performance.now();
        // The baseline again, with the probes running: the same conditions as the API's round.
        const bBusy = (await rps(baselineUrl)).rps;
        const busy = await measured(i, () => rps(apiUrl, body));
        const { probed } = await ask<{ probed: number }>(api.child, "off");
        rates[i].push(probed / ((performance.now() - started) / 1000));
        ratios[i].push(busy / b);
        sameRatios[i].push(busy / bBusy);
      }
    }
    const where = reader === api ? "the replica that probes" : "a second replica (its prober off)";
    console.log(`\n### servers(first: 100) while probes run, read from ${where} (${ROUNDS} alternating rounds of ${DURATION_S} s, medians)\n`);
    console.log(
      "| API | ratio to the baseline, both while probes run | ratio to the baseline on an idle machine | probes/s meanwhile | reading replica's CPU ms per read | Postgres CPU ms per read |",
    );
    console.log("|---|---:|---:|---:|---:|---:|");
    const perRead = (slot: number) => `${(cpu[slot].reader / cpu[slot].requests).toFixed(2)} | ${(cpu[slot].postgres / cpu[slot].requests).toFixed(2)}`;
    console.log(`| idle | ${median(idle).toFixed(2)} | ${median(idle).toFixed(2)} | 0 | ${perRead(modes.length)} |`);
    for (const [i, mode] of modes.entries()) {
      console.log(`| ${mode.name} | ${median(sameRatios[i]).toFixed(2)} | ${median(ratios[i]).toFixed(2)} | ${median(rates[i]).toFixed(0)} | ${perRead(i)} |`);
    }
    console.log("\n(target: >= 0.60 while probes run)");
  } finally {
    api.child.kill();
    reader.child.kill();
    baseline.child.kill();
  }
} finally {
  targets.kill();
  await pg.drop();
}
