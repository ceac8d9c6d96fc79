// npm run bench:start: how fast the shipped process starts and how much memory it then holds, on
// the embedded database (a first start on a fresh data directory, then a restart on it) and on
// Postgres; the sources through tsx (as development runs them) and the compiled build (as the image
// runs it). Ready = from spawning node until the server logs that it serves; RSS 5 s later (what
// start left behind) and 30 s later (idle: V8's memory reducer, which runs once allocation has
// been low for a while, has given back the young generation that start grew). Prints a Markdown
// table for BENCHMARKS.md (medians of BENCH_RUNS runs, 2 by default).
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freshPostgres } from "../fixtures/postgres.ts";
import { migrate } from "../src/data/migrate.ts";
import { median } from "./measure.ts";
import { benchNodeFlags } from "./processes.ts";

const RUNS = Number(process.env.BENCH_RUNS ?? 2);
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const ENTRIES = { sources: ["bin/mcp-fleet.js"], compiled: ["dist/main.js"] } as const;

function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("VmRSS:"));
  return Number(line?.split(/\s+/)[1]) / 1024;
}

interface Start {
  readyMs: number;
  /** RSS 5 s after ready, and 30 s after. */
  rssMb: number;
  idleRssMb: number;
}

/** Starts the server, waits for it to serve, reads its RSS 5 s and 30 s later, stops it. */
function startOnce(entry: readonly string[], env: Record<string, string>): Promise<Start> {
  const started = performance.now();
  const child = spawn(process.execPath, [...benchNodeFlags(), ...entry, "serve"], {
    cwd: ROOT,
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      if (out === null) return;
      out += chunk;
      if (!out.includes("mcp-fleet is serving")) return;
      const readyMs = performance.now() - started;
      out = null as unknown as string;
      let rss = 0;
      setTimeout(() => (rss = rssMb(child.pid as number)), 5000);
      setTimeout(() => {
        const idleRss = rssMb(child.pid as number);
        child.once("exit", () => resolve({ readyMs, rssMb: rss, idleRssMb: idleRss }));
        child.kill("SIGTERM");
      }, 30_000);
    });
    child.once("exit", (code) => {
      if (out !== null) reject(new Error(`${entry.join(" ")} exited with ${code} before serving`));
    });
  });
}

const pg = await freshPostgres();
await migrate(pg.db);
const secret = randomBytes(32).toString("hex");
const rows: string[] = [];
try {
  for (const [name, entry] of Object.entries(ENTRIES)) {
    const first: Start[] = [];
    const restart: Start[] = [];
    const postgres: Start[] = [];
    for (let run = 0; run < RUNS; run++) {
      const dir = mkdtempSync(join(tmpdir(), "mcp-fleet-start-"));
      try {
        first.push(await startOnce(entry, { PGLITE_DIR: join(dir, "pglite") }));
        restart.push(await startOnce(entry, { PGLITE_DIR: join(dir, "pglite") }));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      postgres.push(await startOnce(entry, { DATABASE_URL: pg.url, SUPABASE_JWT_SECRET: secret }));
    }
    const cell = (runs: Start[]) =>
      `${(median(runs.map((r) => r.readyMs)) / 1000).toFixed(2)} s | ${median(runs.map((r) => r.rssMb)).toFixed(0)} MB | ${median(runs.map((r) => r.idleRssMb)).toFixed(0)} MB`;
    rows.push(`| ${name} | ${cell(first)} | ${cell(restart)} | ${cell(postgres)} |`);
  }
} finally {
  await pg.drop();
}
console.log(`\nStart and idle memory, medians of ${RUNS} runs, node ${process.version}\n`);
console.log(
  "| entry | embedded, first start: ready | RSS at 5 s | at 30 s | embedded, restart: ready | RSS at 5 s | at 30 s | Postgres: ready | RSS at 5 s | at 30 s |",
);
console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
for (const row of rows) console.log(row);
console.log("\ntargets: embedded first start < 5 s, restart < 3 s, idle RSS < 250 MB; Postgres < 1.5 s, < 120 MB");
