// The embedded database's template: a fresh PGlite cluster (what initdb makes, several seconds of
// work) dumped once per PGlite version, so that a new embedded database is loaded from it (about a
// third of the time) instead of being made again. `npm install` makes it (the `prepare` script runs
// this file); the first database made without one leaves one. Kept in
// node_modules/.cache/mcp-fleet/ unless PGLITE_TEMPLATE names another file. Plain JavaScript: it
// runs at install, before anything is built, and as the child process that creates a database.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The template's file for the installed PGlite. */
export function templatePath() {
  if (process.env.PGLITE_TEMPLATE) return process.env.PGLITE_TEMPLATE;
  // node_modules/@electric-sql/pglite/dist/index.js: its package.json is not exported, so read it from the folder.
  let dir = dirname(fileURLToPath(import.meta.resolve("@electric-sql/pglite")));
  while (!existsSync(join(dir, "package.json"))) dir = dirname(dir);
  const { version } = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  return join(dir, "..", "..", ".cache", "mcp-fleet", `pglite-${version}.tar.gz`);
}

/** The template as PGlite's loadDataDir takes it, or undefined when there is none. */
export function readTemplate() {
  const path = templatePath();
  return existsSync(path) ? new Blob([readFileSync(path)]) : undefined;
}

/**
 * Dumps `db`, a database nothing has been written to, as the template. Written under a name of its
 * own and renamed, so processes writing at once never leave half a file; false if it cannot be
 * written (a read-only node_modules): the next database is then made by initdb again.
 */
export async function writeTemplate(db) {
  const path = templatePath();
  try {
    const dump = Buffer.from(await (await db.dumpDataDir("gzip")).arrayBuffer());
    mkdirSync(dirname(path), { recursive: true });
    const partial = join(dirname(path), `.${basename(path)}.${process.pid}`);
    writeFileSync(partial, dump);
    renameSync(partial, path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Opens a new database, in `dataDir` or (none) in memory: from the template when there is one that
 * loads, else made by initdb, which leaves a template behind (replacing one that did not load).
 */
export async function openNew(PGlite, dataDir, startParams) {
  const options = { ...(dataDir ? { dataDir } : {}), ...(startParams?.length ? { startParams } : {}) };
  const template = readTemplate();
  if (template) {
    try {
      return await PGlite.create({ ...options, loadDataDir: template });
    } catch {
      // Made again below; if that works, the template did not load (damaged) and is replaced.
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    }
  }
  const db = await PGlite.create(options);
  await writeTemplate(db);
  return db;
}

/**
 * Creates an embedded database in `dataDir`, runs the `setup` scripts on it (the migrations) and
 * closes it; with no `dataDir`, only makes sure the template exists.
 */
export async function createEmbedded(dataDir, startParams, setup = []) {
  if (!dataDir && existsSync(templatePath())) return;
  const { PGlite } = await import("@electric-sql/pglite");
  const db = await openNew(PGlite, dataDir, startParams);
  try {
    for (const script of setup) await db.exec(script);
  } finally {
    await db.close();
  }
}

// `node scripts/pglite-template.mjs [--setup] [dataDir [startParams…]]`: the child that creates a
// database (with --setup, the scripts to run on it come as a JSON array on stdin), and `npm
// install`'s prepare step (no arguments), which must never fail an install.
// (The name is checked too: bundled into the build, this module's URL is the bundle's.)
if (process.argv[1]?.endsWith("pglite-template.mjs") && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  let setup = [];
  if (args[0] === "--setup") {
    args.shift();
    setup = JSON.parse(readFileSync(0, "utf8")); // stdin
  }
  const [dataDir, ...startParams] = args;
  try {
    await createEmbedded(dataDir, startParams, setup);
  } catch (error) {
    if (dataDir) throw error;
    console.warn(`mcp-fleet: the embedded database's template was not made (${error?.message ?? error}); the first start will make it`);
  }
}
