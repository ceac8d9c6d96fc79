// The CLI as a user runs it: the real process, its output and exit code. And the embedded database's
// first start: migrated and seeded once, never seeded twice.
import { spawn } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.ts";
import { pgliteDb } from "../src/data/db.ts";
import { openStore } from "../src/data/index.ts";
import { MIGRATIONS_DIR } from "../src/data/migrate.ts";
import type { SqlStore } from "../src/data/sql-store.ts";
import { createLogger } from "../src/log.ts";
import { insertEnvironment } from "../fixtures/fleet.ts";
import { capturingLogger } from "./helpers/logs.ts";
import { describePostgres, freshPostgres, type TestDatabase } from "./helpers/postgres.ts";

const BIN = fileURLToPath(new URL("../bin/mcp-fleet.js", import.meta.url));

/** Runs `mcp-fleet args` with `env` added to a clean environment; resolves its exit code and output. */
function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const { DATABASE_URL: _d, SUPABASE_URL: _s, ...rest } = process.env;
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...rest, LOG_LEVEL: "silent", ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, out }));
  });
}

describe("mcp-fleet CLI", () => {
  it("prints its usage for help (0) and for an unknown command (2)", async () => {
    const help = await cli(["help"]);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/Usage: mcp-fleet <command>[\s\S]*serve[\s\S]*migrate[\s\S]*doctor/);
    const unknown = await cli(["frobnicate"]);
    expect(unknown.code).toBe(2);
    expect(unknown.out).toMatch(/Usage: mcp-fleet/);
  });

  it.each([
    ["a real database and an empty NODE_ENV (docker run -e NODE_ENV=)", { DATABASE_URL: "postgres://u:pw@127.0.0.1:1/db", NODE_ENV: "" }],
    ["the embedded database listening beyond loopback", { HOST: "0.0.0.0", PGLITE_MEMORY: "true" }],
  ])("refuses to serve with self-signed development tokens on %s, printing no token", async (_what, env) => {
    const { code, out } = await cli(["serve"], { ...env, SUPABASE_JWT_SECRET: "", SUPABASE_URL: "", AUTH_DISABLED: "" });
    expect(code).toBe(2);
    expect(out).toMatch(/Refusing to serve: no way to verify access tokens: set SUPABASE_JWT_SECRET/);
    expect(out).not.toMatch(/Bearer ey/);
  });

  it("refuses bad configuration with exit code 2, naming the variable", async () => {
    const { code, out } = await cli(["migrate"], { PORT: "not-a-port" });
    expect(code).toBe(2);
    expect(out).toMatch(/PORT/);
  });
});

describePostgres("mcp-fleet CLI on Postgres", () => {
  let pgTest: TestDatabase;
  beforeAll(async () => {
    pgTest = await freshPostgres();
  });
  afterAll(async () => pgTest?.drop());

  it("migrates once, seeds once, and reports on endpoints with doctor", async () => {
    const env = { DATABASE_URL: pgTest.url };
    const first = await cli(["migrate"], env);
    expect(first).toMatchObject({ code: 0, out: expect.stringMatching(/^applied 001_upstream_schema\.sql, .*009_/m) });
    expect(await cli(["migrate"], env)).toMatchObject({ code: 0, out: expect.stringContaining("database is up to date") });
    expect(await cli(["seed"], env)).toMatchObject({ code: 0, out: expect.stringContaining("seeded the demo fleet") });
    expect(await cli(["seed"], env)).toMatchObject({ code: 0, out: expect.stringContaining("nothing seeded") });
    const [{ n }] = await pgTest.db.query<{ n: number }>("SELECT count(*)::int AS n FROM account_tool_environments");
    expect(n).toBe(4);
    const doctor = await cli(["doctor"], env);
    expect(doctor.code).toBe(0);
    expect(doctor.out.length).toBeGreaterThan(0);
  });
});

describe("the embedded database's first start", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "mcp-fleet-pglite-"));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  const environments = async (seed: string) => {
    const store = await openStore(loadConfig({ PGLITE_DIR: dir, SEED: seed, LOG_LEVEL: "silent" }), createLogger("silent"));
    try {
      return (await store.listEnvironments({}, { first: 100 })).rows.map((e) => e.name).sort();
    } finally {
      await store.close();
    }
  };

  it("migrates and seeds the demo fleet on first start, and never again on restart", async () => {
    const first = await environments("auto");
    expect(first).toHaveLength(4);
    expect(await environments("auto")).toEqual(first);
  });

  it("is created by a process of its own and served with 16 MB of shared buffers (PGLITE_SHARED_BUFFERS)", async () => {
    const fresh = await mkdtemp(join(tmpdir(), "mcp-fleet-pglite-"));
    try {
      const shared = async (env: Record<string, string>) => {
        const store = await openStore(loadConfig({ PGLITE_DIR: fresh, SEED: "never", LOG_LEVEL: "silent", ...env }), createLogger("silent"));
        try {
          const [row] = await (store as SqlStore).db.query<{ shared_buffers: string }>("SHOW shared_buffers");
          return row.shared_buffers;
        } finally {
          await store.close();
        }
      };
      expect(await shared({})).toBe("16MB");
      expect(await shared({ PGLITE_SHARED_BUFFERS: "32MB" })).toBe("32MB");
      expect(() => loadConfig({ PGLITE_SHARED_BUFFERS: "lots" })).toThrow(/PGLITE_SHARED_BUFFERS/);
    } finally {
      await rm(fresh, { recursive: true, force: true });
    }
    // A database that cannot be created says where and why.
    const failing = await mkdtemp(join(tmpdir(), "mcp-fleet-pglite-"));
    try {
      await expect(
        openStore(loadConfig({ PGLITE_DIR: join(failing, "db"), PGLITE_SHARED_BUFFERS: "1kB", LOG_LEVEL: "silent" }), createLogger("silent")),
      ).rejects.toThrow(`creating the embedded database in ${join(failing, "db")} failed: Error: PGlite failed to initialize properly`);
    } finally {
      await rm(failing, { recursive: true, force: true });
    }
  });

  it("is migrated by the process that creates it, so the serving process never migrates a new database", async () => {
    const fresh = await mkdtemp(join(tmpdir(), "mcp-fleet-pglite-"));
    try {
      const { logger, records } = capturingLogger();
      const store = await openStore(loadConfig({ PGLITE_DIR: fresh, SEED: "never", LOG_LEVEL: "info" }), logger);
      try {
        const applied = await (store as SqlStore).db.query<{ n: number }>("SELECT count(*)::int AS n FROM mcp_fleet_migrations");
        expect(applied).toEqual([{ n: (await readdir(MIGRATIONS_DIR)).filter((f) => f.endsWith(".sql")).length }]);
      } finally {
        await store.close();
      }
      const messages = records().map((r) => r.msg);
      expect(messages).toContain("creating the embedded database");
      expect(messages).not.toContain("migrations applied");
      // Scripts that fail on the new database fail its creation, saying why.
      await expect(pgliteDb(join(fresh, "broken"), { setup: async () => ["SELECT * FROM no_such_table"] })).rejects.toThrow(
        /creating the embedded database in .*broken failed: .*no_such_table/,
      );
    } finally {
      await rm(fresh, { recursive: true, force: true });
    }
  });

  it("seeds nothing with SEED=never, and puts the demo fleet back as new with SEED=always", async () => {
    const empty = await mkdtemp(join(tmpdir(), "mcp-fleet-pglite-"));
    try {
      const store = await openStore(loadConfig({ PGLITE_DIR: empty, SEED: "never", LOG_LEVEL: "silent" }), createLogger("silent"));
      expect((await store.listEnvironments({}, { first: 10 })).rows).toEqual([]);
      await store.close();
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
    // A user's own droplet and a renamed demo droplet: always restores the demo fleet, keeps the rest.
    const demo = await environments("auto");
    const store = await openStore(loadConfig({ PGLITE_DIR: dir, SEED: "never", LOG_LEVEL: "silent" }), createLogger("silent"));
    const db = (store as SqlStore).db;
    await insertEnvironment(db, { name: "my-own-droplet" });
    await db.query("UPDATE account_tool_environments SET name = 'renamed' WHERE name = $1", [demo[0]]);
    await store.close();
    expect(await environments("always")).toEqual([...demo, "my-own-droplet"].sort());
  });
});
