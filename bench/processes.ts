// The servers a benchmark measures run in child processes of their own: started here (with tsx,
// NODE_ENV=production and BENCH_NODE_FLAGS), each reporting its port, and for bench:live its
// subscriber count and heap, over IPC.
import { fork, spawn, type ChildProcess } from "node:child_process";
import { writeHeapSnapshot } from "node:v8";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { servingHeap } from "../src/app/heap.ts";
import { openApp, type Services } from "../src/app/index.ts";
import { loadConfig } from "../src/config.ts";
import { startServer } from "../src/http/server.ts";
import { createLogger } from "../src/log.ts";

export const benchNodeFlags = () => (process.env.BENCH_NODE_FLAGS ?? "").split(" ").filter(Boolean);

/**
 * mcp-fleet as the image runs it: `node dist/main.js serve` from `root` (whose dist/ `npm run
 * build` has built), on the database `env` gives, with its background tasks off (bench:probes
 * measures those); resolves with its port once it logs that it serves.
 */
export function startShippedApi(root: string, env: Record<string, string>, nodeFlags: readonly string[] = []): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [...nodeFlags, ...benchNodeFlags(), `${root}/dist/main.js`, "serve"], {
    cwd: root,
    env: {
      ...process.env,
      NODE_ENV: "production",
      PORT: "0",
      HOST: "127.0.0.1",
      LOG_LEVEL: "info",
      MONITOR_INTERVAL_MS: "0",
      PROBE_INTERVAL_MS: "0",
      RECOVERY_INTERVAL_MS: "0",
      EARLY_WARNING_INTERVAL_MS: "0",
      ...env,
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    let out: string | null = "";
    // Read to the end: a full pipe would stall the server.
    child.stdout!.on("data", (chunk: Buffer) => {
      if (out === null) return;
      out += chunk;
      const serving = /"url":"http:\/\/[^"]*:(\d+)\/graphql"[^\n]*"msg":"mcp-fleet is serving"/.exec(out);
      if (serving) {
        out = null;
        resolve({ child, port: Number(serving[1]) });
      }
    });
    child.once("exit", (code) => reject(new Error(`${root}/dist/main.js exited with ${code} before serving`)));
  });
}

/** Forks `script` (a path relative to bench/) and resolves once it has sent its port. */
export function startServerProcess(script: string, env: Record<string, string>, nodeFlags: string[] = []): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(fileURLToPath(new URL(script, import.meta.url)), {
    execArgv: ["--import", "tsx", "--import", fileURLToPath(new URL("./exit-on-term.ts", import.meta.url)), ...nodeFlags, ...benchNodeFlags()],
    env: { ...process.env, NODE_ENV: "production", ...env },
    stdio: "inherit",
  });
  return new Promise((resolve, reject) => {
    child.once("message", (m: { port: number }) => resolve({ child, port: m.port }));
    child.once("exit", (code) => reject(new Error(`${script} exited with ${code}`)));
  });
}

export interface ServerStats {
  subscribers: number;
  heapUsed: number;
  rss: number;
}

/** In a server process: answers "stats" with its subscriber count and its heap after a full GC (--expose-gc). */
export function answerStats(subscribers: () => number): void {
  process.on("message", (m: string) => {
    // BENCH_HEAP_SNAPSHOTS=dir: a heap snapshot at each stats request, to see what a subscriber holds.
    if (m === "stats" && process.env.BENCH_HEAP_SNAPSHOTS) {
      (globalThis as { gc?: () => void }).gc?.();
      writeHeapSnapshot(`${process.env.BENCH_HEAP_SNAPSHOTS}/${process.pid}-${Date.now()}.heapsnapshot`);
    }
    if (m !== "stats") return;
    (globalThis as { gc?: () => void }).gc?.();
    const { heapUsed, rss } = process.memoryUsage();
    process.send?.({ subscribers: subscribers(), heapUsed, rss } satisfies ServerStats);
  });
}

/**
 * In a server process: mcp-fleet as shipped (production, authentication on), on the database and
 * with the token secret and issuer its parent gave it; resolves its services and reports its port.
 */
export async function serveMcpFleet(extra: Record<string, string> = {}): Promise<Services> {
  // As `serve` sets up its heap (src/app/heap.ts).
  servingHeap();
  const config = loadConfig({
    ...extra,
    DATABASE_URL: process.env.DATABASE_URL,
    SUPABASE_JWT_SECRET: process.env.SUPABASE_JWT_SECRET,
    JWT_ISSUER: process.env.JWT_ISSUER,
    PORT: "0",
    LOG_LEVEL: "silent",
    NODE_ENV: "production",
  });
  const services = await openApp(config, createLogger("silent"));
  const app = await startServer(services);
  process.send?.({ port: (app.server.address() as AddressInfo).port });
  return services;
}
