// Migration 009 on a database shaped like Supabase's (an `auth.uid()` reading the request's JWT
// subject, and a non-owner role for signed-in users): owners see and record only their own rows of
// mcp-fleet's tables, and deleting a server still records its removal.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { postgresDb, type Db } from "../../src/data/db.ts";
import { migrate } from "../../src/data/migrate.ts";
import { insertEnvironment, insertServer } from "../../fixtures/fleet.ts";
import { POSTGRES_URL, describePostgres } from "../helpers/postgres.ts";

const ALICE = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
const BOB = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";

describePostgres("row level security on a Supabase-shaped database", () => {
  const suffix = randomBytes(5).toString("hex");
  const database = `mcp_fleet_rls_${suffix}`;
  const role = `rls_user_${suffix}`;
  let db: Db;
  let url: string;
  const ids: Record<string, string> = {};

  const admin = async (sql: string) => {
    const c = new pg.Client({ connectionString: POSTGRES_URL });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };

  /** Runs `sql` as a signed-in user, as PostgREST does: a non-owner role and the JWT subject. */
  const asUser = async <T extends pg.QueryResultRow>(user: string, sql: string, params: unknown[] = []) => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      await c.query("BEGIN");
      await c.query(`SET LOCAL ROLE ${role}`);
      await c.query("SELECT set_config('request.jwt.claim.sub', $1, true)", [user]);
      const result = await c.query<T>(sql, params);
      await c.query("COMMIT");
      return result.rows;
    } catch (error) {
      await c.query("ROLLBACK").catch(() => undefined);
      throw error;
    } finally {
      await c.end();
    }
  };

  beforeAll(async () => {
    await admin(`CREATE DATABASE ${database}`);
    await admin(`CREATE ROLE ${role} NOLOGIN`);
    const u = new URL(POSTGRES_URL);
    u.pathname = `/${database}`;
    url = u.toString();
    db = postgresDb({ connectionString: url, maxConnections: 2, connectTimeoutMs: 3000, statementTimeoutMs: 10_000 });
    await db.exec(`CREATE SCHEMA auth;
      CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$ SELECT nullif(current_setting('request.jwt.claim.sub', true), '')::uuid $$;`);
    await migrate(db);
    await db.exec(`GRANT USAGE ON SCHEMA public, auth TO ${role};
      GRANT SELECT, INSERT, DELETE ON ALL TABLES IN SCHEMA public TO ${role};
      GRANT EXECUTE ON FUNCTION auth.uid() TO ${role};`);
    for (const [who, user] of [
      ["alice", ALICE],
      ["bob", BOB],
    ] as const) {
      const env = await insertEnvironment(db, { name: `${who}-droplet` });
      await db.query("UPDATE account_tool_environments SET user_id = $1 WHERE id = $2", [user, env]);
      ids[who] = await insertServer(db, { env, name: `${who}-server`, status: "running" });
      ids[`${who}Doomed`] = await insertServer(db, { env, name: `${who}-doomed`, status: "stopped" });
      await db.query("INSERT INTO mcp_connection_tests (account_tool_instance_id, success, latency_ms) VALUES ($1, true, 5)", [ids[who]]);
    }
    await db.query("DELETE FROM account_tool_instances WHERE id = $1", [ids.bobDoomed]);
  });
  afterAll(async () => {
    await db?.close();
    await admin(`DROP DATABASE IF EXISTS ${database}`);
    await admin(`DROP ROLE IF EXISTS ${role}`);
  });

  it("shows a user only the connection tests and deletions of their own servers", async () => {
    const tests = await asUser<{ id: string }>(ALICE, "SELECT account_tool_instance_id AS id FROM mcp_connection_tests");
    expect(tests.map((t) => t.id)).toEqual([ids.alice]);
    expect(await asUser(ALICE, "SELECT * FROM mcp_fleet_removed_servers")).toEqual([]);
    expect((await asUser<{ id: string }>(BOB, "SELECT account_tool_instance_id AS id FROM mcp_fleet_removed_servers")).map((r) => r.id)).toEqual([
      ids.bobDoomed,
    ]);
    expect(await asUser(ALICE, "SELECT * FROM mcp_fleet_migrations")).toEqual([]);
  });

  it("lets a user record a connection test for their own server only", async () => {
    await asUser(ALICE, "INSERT INTO mcp_connection_tests (account_tool_instance_id, success, latency_ms) VALUES ($1, false, 7)", [ids.alice]);
    await expect(
      asUser(ALICE, "INSERT INTO mcp_connection_tests (account_tool_instance_id, success, latency_ms) VALUES ($1, false, 7)", [ids.bob]),
    ).rejects.toThrow(/row-level security/);
  });

  it("still records a deletion made by the user (the log's triggers run as their definer)", async () => {
    await asUser(ALICE, "DELETE FROM account_tool_instances WHERE id = $1", [ids.aliceDoomed]);
    const removed = await asUser<{ id: string; user_id: string }>(ALICE, "SELECT account_tool_instance_id AS id, user_id FROM mcp_fleet_removed_servers");
    expect(removed).toEqual([{ id: ids.aliceDoomed, user_id: ALICE }]);
  });
});
