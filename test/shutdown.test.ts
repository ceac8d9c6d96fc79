// Shutdown as an operator causes it: the real process, signalled. It stops accepting, closes
// WebSockets with 1001 (Going away, which clients retry elsewhere), closes the store and the feed,
// exits 0 within SHUTDOWN_TIMEOUT_MS, and leaves its port free for the next start.
import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import { fileURLToPath } from "node:url";
import { createClient } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { freshPostgres, type TestDatabase } from "../fixtures/postgres.ts";
import { postgresUp } from "./helpers/postgres.ts";
import { until } from "./helpers/wait.ts";

const BIN = fileURLToPath(new URL("../bin/mcp-fleet.js", import.meta.url));

interface Running {
  child: ChildProcess;
  url: string;
  exited: Promise<number | null>;
}

/** Starts `mcp-fleet serve` and resolves once it says where it serves. */
async function serve(env: Record<string, string>): Promise<Running> {
  const { DATABASE_URL: _d, SUPABASE_URL: _s, ...rest } = process.env;
  const child = spawn(process.execPath, [BIN, "serve"], {
    env: { ...rest, PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "info", AUTH_DISABLED: "true", SHUTDOWN_TIMEOUT_MS: "3000", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  let out = "";
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on("data", (chunk) => {
      out += chunk;
      const serving = /"url":"(http:[^"]+)"[^\n]*"msg":"mcp-fleet is serving"/.exec(out);
      if (serving) resolve(serving[1]);
    });
    child.stderr!.on("data", (chunk) => (out += chunk));
    void exited.then((code) => reject(new Error(`exited with ${code} before serving:\n${out}`)));
  });
  return { child, url, exited };
}

const configurations: Array<[string, () => Record<string, string>]> = [
  ["the embedded database, monitor off (the default)", () => ({ PGLITE_MEMORY: "true", SEED: "never" })],
];
let pgTest: TestDatabase | undefined;
if (postgresUp) configurations.push(["Postgres with the monitor on", () => ({ DATABASE_URL: pgTest!.url, MONITOR_INTERVAL_MS: "60000" })]);

describe("shutdown", () => {
  beforeAll(async () => {
    if (postgresUp) {
      pgTest = await freshPostgres();
      const { migrate } = await import("../src/data/migrate.ts");
      await migrate(pgTest.db);
    }
  });
  afterAll(async () => pgTest?.drop());

  describe.each(configurations)("on %s", (_name, env) => {
    it.each(["SIGTERM", "SIGINT"] as const)("drains on %s: WebSockets closed with 1001, exit 0, port free", async (signal) => {
      const running = await serve(env());
      let closedWith: number | undefined;
      let connected = false;
      const client = createClient({
        url: running.url.replace("http", "ws"),
        webSocketImpl: WebSocket,
        retryAttempts: 0,
        lazy: false,
        // The 1001 close is what this test waits for; graphql-ws would print it to stderr by default.
        onNonLazyError: () => undefined,
        on: { connected: () => (connected = true), closed: (e) => (closedWith = (e as { code: number }).code) },
      });
      try {
        client.subscribe({ query: "subscription { serverChanged { kind } }" }, { next: () => undefined, error: () => undefined, complete: () => undefined });
        const ready = await fetch(running.url.replace("/graphql", "/ready"));
        expect(ready.status).toBe(200);
        await until(() => connected, "the WebSocket to connect");
        const started = Date.now();
        running.child.kill(signal);
        expect(await running.exited).toBe(0);
        expect(Date.now() - started).toBeLessThan(4000);
        await until(() => closedWith !== undefined, "the WebSocket to close");
        expect(closedWith).toBe(1001);
        // The port is free again: a restart would not meet EADDRINUSE.
        const port = Number(new URL(running.url).port);
        await new Promise<void>((resolve, reject) => {
          const probe = net
            .createServer()
            .once("error", reject)
            .listen(port, "127.0.0.1", () => probe.close(() => resolve()));
        });
      } finally {
        await client.dispose();
        running.child.kill("SIGKILL");
      }
    });
  });
});
