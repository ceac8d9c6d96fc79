// The SQL engines every database-backed suite runs on: PGlite always, real Postgres when reachable.
import { pgliteDb, type Db } from "../../src/data/db.ts";
import { freshPostgres, postgresUp } from "./postgres.ts";

export interface SqlTarget {
  name: "PGlite" | "Postgres";
  /** A fresh, empty database; `close` releases it (for Postgres, drops its schema). */
  open(): Promise<{ db: Db; close(): Promise<void> }>;
}

export const sqlTargets: SqlTarget[] = [
  {
    name: "PGlite",
    async open() {
      const db = await pgliteDb(undefined);
      return { db, close: async () => db.close().catch(() => undefined) };
    },
  },
  ...(postgresUp
    ? [
        {
          name: "Postgres" as const,
          async open() {
            const t = await freshPostgres();
            return { db: t.db, close: () => t.drop() };
          },
        },
      ]
    : []),
];
