// npm run bench: two workloads against their hand-written baselines, on 10,000 servers over 500
// droplets in real Postgres: servers(first: 100) with environments, and a dashboard's first screen
// (schema/operations/dashboard.graphql: summary, the worst 50 servers, 100 droplets with their
// server counts). mcp-fleet runs as the image runs it: the compiled build (npm run bench builds it),
// node dist/main.js serve. Prints Markdown tables for BENCHMARKS.md.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";
import autocannon from "autocannon";
import { signDevToken } from "../src/auth/verify.ts";
import { loadConfig } from "../src/config.ts";
import { migrate } from "../src/data/migrate.ts";
import { generateFleet } from "../src/data/seed.ts";
import { SqlStore } from "../src/data/sql-store.ts";
import { createLogger } from "../src/log.ts";
import { openApp } from "../src/app/index.ts";
import { createYogaApp } from "../src/http/yoga.ts";
import { freshPostgres } from "../fixtures/postgres.ts";
import { cpuMs, median, postgresCpuMs } from "./measure.ts";
import { startServerProcess, startShippedApi } from "./processes.ts";

// Baseline and API are measured in many short alternating rounds, so that a slow moment of the
// machine (its speed drifts over seconds) hits both sides alike, and the median ratio is stable.
const DURATION_S = Number(process.env.BENCH_SECONDS ?? 2);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const WARM_UP_S = Number(process.env.BENCH_WARM_UP_SECONDS ?? 10);
const CONNECTIONS = 32;
// What the read workload asks of each server (the first page, or with BENCH_PAGES=distinct any page).
const SERVER_FIELDS = "id name rawStatus status { state health heartbeatAge } endpoint environment { id name publicIP region status }";
const QUERY = `{ servers(first: 100) { edges { node { ${SERVER_FIELDS} } } } }`;
// BENCH_AGAINST=<git revision>: that revision's API against this one on the read workload, in
// BENCH_PAIRS fresh pairs of processes that take the load at the same moment. One process of
// identical code can run 10-20% slower than its twin for its whole life (JIT and heap layout), so a
// change is only told from noise over several pairs.
const AGAINST = process.env.BENCH_AGAINST;
const PAIRS = Number(process.env.BENCH_PAIRS ?? 5);
// BENCH_PAGES=distinct: in that comparison every connection reads a page of its own (the pages after
// the first, by cursor) instead of all reading the first one.
const DISTINCT_PAGES = process.env.BENCH_PAGES === "distinct";
const PAGE_QUERY = `query Page($after: String) { servers(first: 100, after: $after) { edges { node { ${SERVER_FIELDS} } } pageInfo { endCursor } } }`;
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DASHBOARD = readFileSync(new URL("../schema/operations/dashboard.graphql", import.meta.url), "utf8");

// The API verifies a token on every request, as in production; the baseline has no auth to do.
const SECRET = randomBytes(32).toString("hex");
const ISSUER = "mcp-fleet-bench";
const TOKEN = await signDevToken(SECRET, { sub: "00000000-0000-4000-8000-00000000ffff", role: "service_role" }, { audience: "authenticated", issuer: ISSUER });
// A fresh object each time: autocannon writes its own headers (content-length) into the one it is given.
const headers = () => ({ "content-type": "application/json", authorization: `Bearer ${TOKEN}` });

interface Measured {
  rps: number;
  p50: number;
  p99: number;
  /** CPU per request, ms: the server process, and Postgres. */
  serverCpu: number;
  postgresCpu: number;
}

/** Load with `body` on every connection, or with bodies[i % n] on the i-th connection. */
function runLoad(url: string, body: string | readonly string[] | undefined, duration: number, connections = CONNECTIONS) {
  let next = 0;
  return autocannon({
    url,
    connections,
    duration,
    method: body ? "POST" : "GET",
    body: typeof body === "string" ? body : body?.[0],
    headers: body ? headers() : {},
    setupClient: (client: { setBody(body: string): void }) => {
      if (Array.isArray(body)) client.setBody(body[next++ % body.length]);
    },
  });
}

async function load(url: string, body: string | readonly string[] | undefined, pid: number, connections = CONNECTIONS): Promise<Measured> {
  const server0 = cpuMs(pid);
  const postgres0 = postgresCpuMs();
  const r = await runLoad(url, body, DURATION_S, connections);
  if (r.non2xx || r.errors) throw new Error(`${url}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  const n = r.requests.total;
  return {
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    serverCpu: (cpuMs(pid) - server0) / n,
    postgresCpu: (postgresCpuMs() - postgres0) / n,
  };
}

const medianOf = (runs: Measured[]): Measured => ({
  rps: median(runs.map((r) => r.rps)),
  p50: median(runs.map((r) => r.p50)),
  p99: median(runs.map((r) => r.p99)),
  serverCpu: median(runs.map((r) => r.serverCpu)),
  postgresCpu: median(runs.map((r) => r.postgresCpu)),
});

const pgTest = await freshPostgres();
try {
  await migrate(pgTest.db);
  await generateFleet(pgTest.db, { environments: 500, serversPerEnvironment: 20 });
  const [{ n }] = await pgTest.db.query<{ n: number }>("SELECT count(*)::int AS n FROM account_tool_instances");

  // Statements per request, counted on the API's own store.
  const config = loadConfig({ DATABASE_URL: pgTest.url, LOG_LEVEL: "silent", SUPABASE_JWT_SECRET: SECRET, JWT_ISSUER: ISSUER });
  const store = new SqlStore(pgTest.db);
  let statements = 0;
  pgTest.db.onStatement(() => statements++);
  const yoga = createYogaApp(await openApp(config, createLogger("silent"), { store, live: false }));
  async function statementsOf(query: string, check: (data: any) => boolean, operationName?: string): Promise<number> {
    statements = 0;
    const res = await yoga.fetch("http://bench/graphql", {
      method: "POST",
      headers: headers(),
      body: JSON.stringify({ query, operationName }),
    });
    const body = (await res.json()) as { data?: unknown; errors?: unknown };
    if (body.errors || !check(body.data)) throw new Error(`the API did not answer as expected: ${JSON.stringify(body).slice(0, 500)}`);
    return statements;
  }
  const pageStatements = await statementsOf(QUERY, (d) => d.servers.edges.length === 100);
  const dashboardStatements = await statementsOf(
    DASHBOARD,
    (d) => d.servers.edges.length === 50 && d.environments.edges.length === 100,
    "DashboardFirstScreen",
  );

  const serverEnv = { DATABASE_URL: pgTest.url, SUPABASE_JWT_SECRET: SECRET, JWT_ISSUER: ISSUER };
  const baseline = await startServerProcess("./serve-baseline.ts", serverEnv);
  // mcp-fleet runs as the image runs it (node dist/main.js serve: the compiled build).
  const api = await startShippedApi(ROOT, serverEnv);
  try {
    const apiUrl = `http://127.0.0.1:${api.port}/graphql`;
    // A URL the JSON lane leaves to yoga's adapter.
    const yogaUrl = `${apiUrl}?via=yoga`;
    console.log(
      `\n${n} servers on 500 droplets, ${CONNECTIONS} connections, ${ROUNDS} alternating rounds of ${DURATION_S} s per side (medians), node ${process.version}`,
    );
    const workloads = [
      {
        name: "servers(first: 100) + environment",
        baselineName: "1 SQL query + JSON.stringify",
        path: "/",
        query: QUERY,
        operationName: undefined as string | undefined,
        statements: pageStatements,
        baselineStatements: 1,
        // Also measured in this workload's rounds: the same requests through yoga's adapter.
        comparisons: true,
      },
      {
        name: "dashboard first screen",
        baselineName: "4 SQL queries at once + JSON.stringify",
        path: "/dashboard",
        query: DASHBOARD,
        operationName: "DashboardFirstScreen",
        statements: dashboardStatements,
        baselineStatements: 4,
        comparisons: false,
      },
    ];
    // BENCH_WORKLOAD=servers|dashboard runs one of them (for a profile of one workload); none, neither (BENCH_AGAINST alone).
    for (const w of workloads.filter((w) => !process.env.BENCH_WORKLOAD || w.name.startsWith(process.env.BENCH_WORKLOAD))) {
      const baselineUrl = `http://127.0.0.1:${baseline.port}${w.path}`;
      const body = JSON.stringify({ query: w.query, operationName: w.operationName });
      // Warm-up: JIT, pools, plan caches. The API has far more code for V8 to optimise than the
      // baseline: with 2 s of warm-up its first rounds still ran slower than its last.
      await runLoad(baselineUrl, undefined, WARM_UP_S);
      await runLoad(apiUrl, body, WARM_UP_S);
      // Every server measured gets the same warm-up (a cold one runs its first rounds slower).
      if (w.comparisons) await runLoad(yogaUrl, body, WARM_UP_S);
      const baselineRuns: Measured[] = [];
      const apiRuns: Measured[] = [];
      // The same requests at /graphql?via=yoga, a URL the JSON lane leaves to yoga's adapter: what
      // the lane saves, measured in the same rounds.
      const yogaRuns: Measured[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        baselineRuns.push(await load(baselineUrl, undefined, baseline.child.pid!));
        apiRuns.push(await load(apiUrl, body, api.child.pid!));
        if (w.comparisons) yogaRuns.push(await load(yogaUrl, body, api.child.pid!));
      }
      const b = medianOf(baselineRuns);
      const a = medianOf(apiRuns);
      const ratios = apiRuns.map((r, i) => r.rps / baselineRuns[i].rps);
      console.log(`\n### ${w.name}\n`);
      console.log("| | requests/s | p50 ms | p99 ms | server CPU ms/request | Postgres CPU ms/request | SQL statements per request |");
      console.log("|---|---:|---:|---:|---:|---:|---:|");
      console.log(
        `| baseline (${w.baselineName}) | ${b.rps.toFixed(0)} | ${b.p50} | ${b.p99} | ${b.serverCpu.toFixed(2)} | ${b.postgresCpu.toFixed(2)} | ${w.baselineStatements} |`,
      );
      console.log(
        `| mcp-fleet ${w.name} | ${a.rps.toFixed(0)} | ${a.p50} | ${a.p99} | ${a.serverCpu.toFixed(2)} | ${a.postgresCpu.toFixed(2)} | ${w.statements} |`,
      );
      if (w.comparisons) {
        const y = medianOf(yogaRuns);
        console.log(
          `| mcp-fleet, through yoga's adapter (JSON lane bypassed) | ${y.rps.toFixed(0)} | ${y.p50} | ${y.p99} | ${y.serverCpu.toFixed(2)} | ${y.postgresCpu.toFixed(2)} | ${w.statements} |`,
        );
        const yogaRatios = yogaRuns.map((r, i) => r.rps / baselineRuns[i].rps);
        console.log(
          `\nthe JSON lane's ratio without it, per round: ${yogaRatios.map((r) => r.toFixed(2)).join(", ")}; median ${median(yogaRatios).toFixed(2)}`,
        );
      }
      const total = (runs: Measured[]) => runs.reduce((sum, r) => sum + r.rps, 0);
      console.log(`\nthroughput ratio (mcp-fleet / baseline), per round: ${ratios.map((r) => r.toFixed(2)).join(", ")}`);
      console.log(`median ${median(ratios).toFixed(2)}, all rounds together ${(total(apiRuns) / total(baselineRuns)).toFixed(2)} (target >= 0.75)`);
      console.log(`p99 ratio (mcp-fleet / baseline): ${(a.p99 / b.p99).toFixed(2)}`);
    }
  } finally {
    baseline.child.kill();
    api.child.kill();
  }
  if (AGAINST) await compareAgainst(AGAINST, serverEnv);
} finally {
  await pgTest.drop();
}

/**
 * BENCH_AGAINST: `revision`'s API (A) and this checkout's (B) in BENCH_PAIRS fresh pairs of
 * processes; each pair is warmed up together, then takes BENCH_ROUNDS rounds of load at the same
 * moment (half the connections each), and the ratios B/A are medians per pair.
 */
async function compareAgainst(revision: string, env: Record<string, string>): Promise<void> {
  const root = checkout(revision);
  const half = CONNECTIONS / 2;
  let body: string | string[] = JSON.stringify({ query: QUERY });
  const pairs: { rps: number; cpu: number; a: Measured; b: Measured }[] = [];
  try {
    for (let pair = 0; pair < PAIRS; pair++) {
      const a = await startShippedApi(root, env);
      const b = await startShippedApi(ROOT, env);
      try {
        const sides = [a, b].map((s) => ({ url: `http://127.0.0.1:${s.port}/graphql`, pid: s.child.pid! }));
        if (DISTINCT_PAGES && typeof body === "string") body = await distinctPages(sides[1].url, half);
        await Promise.all(sides.map((s) => runLoad(s.url, body, WARM_UP_S, half)));
        const rounds: [Measured, Measured][] = [];
        for (let round = 0; round < ROUNDS; round++) {
          // Postgres serves both at once: its CPU per request (postgresCpu) is not either's own here.
          const [ra, rb] = await Promise.all(sides.map((s) => load(s.url, body, s.pid, half)));
          rounds.push([ra, rb]);
        }
        const ma = medianOf(rounds.map(([x]) => x));
        const mb = medianOf(rounds.map(([, y]) => y));
        pairs.push({ rps: median(rounds.map(([x, y]) => y.rps / x.rps)), cpu: median(rounds.map(([x, y]) => y.serverCpu / x.serverCpu)), a: ma, b: mb });
      } finally {
        a.child.kill();
        b.child.kill();
      }
    }
  } finally {
    // The worktree goes with the run: nothing is left registered in this repository.
    removeWorktree(root);
  }
  console.log(
    `\n### this checkout (B) against ${revision} (A): ${PAIRS} fresh pairs, each ${ROUNDS} rounds of ${DURATION_S} s at once, ${half} connections each${DISTINCT_PAGES ? ", each connection its own page" : ""}\n`,
  );
  console.log("| pair | A requests/s | B requests/s | B/A requests/s | A CPU ms/request | B CPU ms/request | B/A CPU |");
  console.log("|---|---:|---:|---:|---:|---:|---:|");
  for (const [i, p] of pairs.entries()) {
    console.log(
      `| ${i + 1} | ${p.a.rps.toFixed(0)} | ${p.b.rps.toFixed(0)} | ${p.rps.toFixed(3)} | ${p.a.serverCpu.toFixed(2)} | ${p.b.serverCpu.toFixed(2)} | ${p.cpu.toFixed(3)} |`,
    );
  }
  const range = (xs: number[]) => `median ${median(xs).toFixed(3)} [${Math.min(...xs).toFixed(3)}-${Math.max(...xs).toFixed(3)}]`;
  console.log(`\nB/A requests/s over the pairs: ${range(pairs.map((p) => p.rps))}; B/A CPU per request: ${range(pairs.map((p) => p.cpu))}`);
  console.log(
    "(the same code against itself gave requests/s 0.78-1.15 per pair in two runs of 6 pairs, medians 1.01 and 1.02: only a shift of most pairs is a change)",
  );
}

/** The bodies of the first `n` pages, each after the one before (by cursor). */
async function distinctPages(url: string, n: number): Promise<string[]> {
  const bodies: string[] = [];
  let after: string | null = null;
  for (let i = 0; i < n; i++) {
    const body = JSON.stringify({ query: PAGE_QUERY, variables: { after } });
    bodies.push(body);
    const res = await fetch(url, { method: "POST", headers: headers(), body });
    const page = (await res.json()) as { data: { servers: { pageInfo: { endCursor: string } } } };
    after = page.data.servers.pageInfo.endCursor;
  }
  return bodies;
}

/** A worktree of `revision` beside this checkout, sharing its node_modules, built. */
function checkout(revision: string): string {
  const commit = execFileSync("git", ["rev-parse", "--short", revision], { encoding: "utf8" }).trim();
  const dir = `/tmp/mcp-fleet-bench-${commit}`;
  // One left by a run that was killed is replaced.
  removeWorktree(dir);
  execFileSync("git", ["worktree", "add", "--detach", dir, commit], { stdio: "ignore" });
  symlinkSync(`${ROOT}node_modules`, `${dir}/node_modules`);
  // Built as that revision builds: esbuild's bundle since 40dfab4, tsc's one module per file before.
  if (existsSync(`${dir}/scripts/build.mjs`)) execFileSync(process.execPath, [`${dir}/scripts/build.mjs`], { stdio: "inherit" });
  else execFileSync(process.execPath, [`${ROOT}node_modules/typescript/bin/tsc`, "-p", `${dir}/tsconfig.build.json`], { stdio: "inherit" });
  return dir;
}

/** Deletes the directory (its node_modules is a link: what it points to stays) and its registration. */
function removeWorktree(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  execFileSync("git", ["worktree", "prune"]);
}
