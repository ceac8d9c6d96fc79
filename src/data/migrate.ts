// Applies schema/sql/*.sql in name order, each once, each in its own transaction.
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import type { Db } from "./db.ts";
import { packagePath } from "../paths.ts";

export const MIGRATIONS_DIR = packagePath("schema/sql/");

/** The ledger of applied migrations, made before it is read. */
const LEDGER = `CREATE TABLE IF NOT EXISTS mcp_fleet_migrations (
    name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`;

/** The migrations not yet `done`, in name order, each as one script: its SQL and its ledger entry. */
async function pending(done: Set<string>, dir: string): Promise<{ file: string; script: string }[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith(".sql") && !done.has(f)).sort();
  return Promise.all(
    files.map(async (file) => {
      const sql = await readFile(path.join(dir, file), "utf8");
      const name = file.replace(/'/g, "''");
      // One transaction per migration, so a failure rolls the whole file back.
      return { file, script: `BEGIN;\n${sql}\nINSERT INTO mcp_fleet_migrations (name) VALUES ('${name}') ON CONFLICT DO NOTHING;\nCOMMIT;` };
    }),
  );
}

export async function migrate(db: Db, dir = MIGRATIONS_DIR): Promise<string[]> {
  await db.exec(LEDGER);
  const done = new Set((await db.query<{ name: string }>("SELECT name FROM mcp_fleet_migrations")).map((r) => r.name));
  const applied: string[] = [];
  for (const { file, script } of await pending(done, dir)) {
    await db.exec(script);
    applied.push(file);
  }
  return applied;
}

/** What migrate runs on a new database, as scripts: the embedded database's creating process runs them. */
export async function migrationScripts(dir = MIGRATIONS_DIR): Promise<string[]> {
  return [LEDGER, ...(await pending(new Set(), dir)).map((m) => m.script)];
}
