// A database whose server pages are held until `together` of them have been read, then handed
// back each in a callback of its own in one turn of the event loop: as pages arriving on several
// connections at once under load. The statements are the real ones, on the real database.
import type { Db } from "../../src/data/db.ts";

export const ENVIRONMENTS_BY_ID = "FROM account_tool_environments e WHERE e.id = ANY";

export function pagesTogether(db: Db, together: number): { db: Db; failNextEnvironments(): void } {
  const held: (() => void)[] = [];
  let failEnvironments = false;
  const gated: Db = Object.assign(Object.create(db), {
    // The database is the caller's: a server closing its store leaves it open.
    close: async () => {},
    async query(text: string, params?: unknown[]) {
      if (failEnvironments && text.includes(ENVIRONMENTS_BY_ID)) {
        failEnvironments = false;
        throw new Error("the environments statement failed");
      }
      const rows = await db.query(text, params);
      if (text.includes("FROM account_tool_instances s") && held.length < together) {
        await new Promise<void>((resolve) => {
          held.push(resolve);
          if (held.length === together) for (const release of held) setImmediate(release);
        });
      }
      return rows;
    },
  });
  return { db: gated, failNextEnvironments: () => void (failEnvironments = true) };
}
