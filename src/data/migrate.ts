// Applies schema/sql/*.sql in name order, each once, each in its own transaction.
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import type { Db } from "./db.ts";
import { packagePath } from "../paths.ts";

export const MIGRATIONS_DIR = packagePath("schema/sql/");

export async function migrate(db: Db, dir = MIGRATIONS_DIR): Promise<string[]> {
  await db.exec(`CREATE TABLE IF NOT EXISTS mcp_fleet_migrations (
    name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
  const done = new Set((await db.query<{ name: string }>("SELECT name FROM mcp_fleet_migrations")).map((r) => r.name));
  const files = (await readdir(dir)).filter((f) => f.endsWith(".sql")).sort();
  const applied: string[] = [];
  for (const file of files) {
    if (done.has(file)) continue;
    const sql = await readFile(path.join(dir, file), "utf8");
    const name = file.replace(/'/g, "''");
    // One script per migration, so a failure rolls the whole file back.
    await db.exec(`BEGIN;\n${sql}\nINSERT INTO mcp_fleet_migrations (name) VALUES ('${name}') ON CONFLICT DO NOTHING;\nCOMMIT;`);
    applied.push(file);
  }
  return applied;
}
