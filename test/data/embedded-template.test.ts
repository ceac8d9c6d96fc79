// The embedded database's templates (scripts/pglite-template.mjs): a new database in memory is
// loaded from the dump, one on disk is a copy of the directory (or, without it, loaded from the
// dump); the first database made without them leaves them; a damaged one is replaced; and making
// them at install never fails the install.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { PGlite } from "@electric-sql/pglite";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { pgliteDb } from "../../src/data/db.ts";
import { templateDirPath, writeTemplate } from "../../scripts/pglite-template.mjs";

const run = promisify(execFile);

describe("the embedded database's template", () => {
  let dir: string;
  let template: string;
  const before = process.env.PGLITE_TEMPLATE;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "mcp-fleet-template-"));
    template = join(dir, "template.tar.gz");
    process.env.PGLITE_TEMPLATE = template; // the creating child inherits it
  });
  afterEach(async () => {
    if (before === undefined) delete process.env.PGLITE_TEMPLATE;
    else process.env.PGLITE_TEMPLATE = before;
    await rm(dir, { recursive: true, force: true });
  });

  /** Whether `db` holds the marker table only a template made by this test has. */
  const hasMarker = async (db: { query: (sql: string) => Promise<unknown[]> }) =>
    (await db.query("SELECT 1 FROM pg_tables WHERE tablename = 'template_marker'")).length === 1;

  /** Whether a new database, in `dataDir` or in memory, has the marker (it is closed again). */
  const newHasMarker = async (dataDir: string | undefined) => {
    const db = await pgliteDb(dataDir);
    try {
      return await hasMarker(db);
    } finally {
      await db.close();
    }
  };

  it("is what a new database is loaded from, on disk (in the creating child) and in memory", async () => {
    const source = await PGlite.create();
    await source.exec("CREATE TABLE template_marker ()");
    expect(await writeTemplate(source)).toBe(true);
    await source.close();

    const onDisk = await pgliteDb(join(dir, "db"));
    try {
      expect(await hasMarker(onDisk)).toBe(true);
      // The server's own start parameters still apply to a database made from the template.
      expect(await onDisk.query("SHOW shared_buffers")).toEqual([{ shared_buffers: "16MB" }]);
    } finally {
      await onDisk.close();
    }
    expect(await newHasMarker(undefined)).toBe(true);
  });

  it("is left by the first database made without one, and a damaged one is replaced", async () => {
    const first = await pgliteDb(join(dir, "first"));
    await first.close();
    expect(existsSync(template)).toBe(true);
    const made = await readFile(template);
    expect(made.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b])); // gzip

    // A database on disk left the directory template too.
    expect(existsSync(join(templateDirPath(), "PG_VERSION"))).toBe(true);

    await writeFile(template, "not a database");
    const second = await pgliteDb(undefined);
    try {
      expect(await second.query("SELECT 1 AS one")).toEqual([{ one: 1 }]);
    } finally {
      await second.close();
    }
    expect((await readFile(template)).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
  });

  it("is a directory that a new database on disk is a copy of; a damaged one is replaced", async () => {
    await (await pgliteDb(join(dir, "first"))).close(); // leaves both templates
    // Mark the directory template: only a copy of it has the marker, a database from the dump does not.
    const marking = await PGlite.create({ dataDir: templateDirPath() });
    await marking.exec("CREATE TABLE template_marker ()");
    await marking.close();
    expect(await newHasMarker(join(dir, "copied"))).toBe(true);
    expect(await newHasMarker(undefined)).toBe(false);

    await writeFile(join(templateDirPath(), "global", "pg_control"), "damaged");
    const fresh = await pgliteDb(join(dir, "fresh"));
    try {
      expect(await hasMarker(fresh)).toBe(false);
      expect(await fresh.query("SELECT 1 AS one")).toEqual([{ one: 1 }]);
    } finally {
      await fresh.close();
    }
    const replaced = await PGlite.create({ dataDir: templateDirPath() });
    expect(await replaced.query("SELECT 1 AS one")).toMatchObject({ rows: [{ one: 1 }] });
    await replaced.close();
  });

  it("is made by npm install's prepare step, which never fails the install", { timeout: 60_000 }, async () => {
    const script = new URL("../../scripts/pglite-template.mjs", import.meta.url).pathname;
    await run(process.execPath, [script], { env: { ...process.env, PGLITE_TEMPLATE: template } });
    expect(existsSync(template)).toBe(true);
    expect(existsSync(join(templateDirPath(), "PG_VERSION"))).toBe(true);
    // Nowhere to write it (a read-only node_modules): the install goes on, and the first start makes a database by initdb.
    await writeFile(join(dir, "a-file"), "");
    const nowhere = join(dir, "a-file", "template.tar.gz");
    const { stderr } = await run(process.execPath, [script], { env: { ...process.env, PGLITE_TEMPLATE: nowhere } });
    expect(existsSync(nowhere)).toBe(false);
    expect(stderr).toBe("");
  });
});
