// Real Postgres for tests: one fresh schema per call, dropped afterwards.
// Under CI=true a missing Postgres fails the run; elsewhere its suites skip with a message.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { postgresDb, type Db } from "../../src/data/db.ts";
import { describeWhenUp } from "./services.ts";

export const POSTGRES_URL = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

async function reachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export const postgresUp = await reachable();

/** `describe` that runs only when Postgres is reachable. */
export const describePostgres = describeWhenUp("PostgreSQL", POSTGRES_URL, postgresUp, "start PostgreSQL, or set TEST_DATABASE_URL");

export interface TestDatabase {
  db: Db;
  /** A connection string whose search_path is the test's schema. */
  url: string;
  schema: string;
  drop(): Promise<void>;
}

export function urlWithSchema(schema: string, base = POSTGRES_URL): string {
  const url = new URL(base);
  url.searchParams.set("options", `-c search_path=${schema},public`);
  return url.toString();
}

export async function freshPostgres(): Promise<TestDatabase> {
  const schema = `t_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const url = urlWithSchema(schema);
  const db = postgresDb({ connectionString: url, maxConnections: 4, connectTimeoutMs: 3000, statementTimeoutMs: 10_000, listenerName: `listener-${schema}` });
  return {
    db,
    url,
    schema,
    async drop() {
      await db.close().catch(() => undefined);
      const c = new pg.Client({ connectionString: POSTGRES_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    },
  };
}
