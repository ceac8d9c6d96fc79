// Real Postgres for tests: under CI=true a missing Postgres fails the run; elsewhere its suites
// skip with a message. The fresh-schema fixture itself is fixtures/postgres.ts (benchmarks use it too).
import pg from "pg";
import { POSTGRES_URL } from "../../fixtures/postgres.ts";
import { describeWhenUp } from "./services.ts";

export { POSTGRES_URL, freshPostgres, urlWithSchema, type TestDatabase } from "../../fixtures/postgres.ts";

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
