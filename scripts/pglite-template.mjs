// The embedded database's template: a fresh PGlite cluster (what initdb makes, several seconds of
// work) kept once per PGlite version, so that a new embedded database is made from it instead of
// being made again: dumped (4.5 MB), which a database in memory loads, and as a closed data
// directory (about 40 MB), which a database on disk is a copy of. `npm install` makes both (the
// `prepare` script runs this file); the first database made without them leaves them. Kept in
// node_modules/.cache/mcp-fleet/ unless PGLITE_TEMPLATE names another file for the dump (the
// directory goes beside it). Plain JavaScript: it runs at install, before anything is built, and
// as the child process that creates a database.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
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
 * The template as a closed data directory, beside the dump: a new database on disk is a copy of it
 * (a tenth of a second, where loading the dump into a directory takes nearly two).
 */
export function templateDirPath() {
  return `${templatePath().replace(/\.tar\.gz$/, "")}.datadir`;
}

const hasTemplateDir = () => existsSync(join(templateDirPath(), "PG_VERSION"));

/** Keeps the closed, fresh database in `dataDir` as the directory template (copied, then renamed). */
function saveTemplateDir(dataDir) {
  const partial = `${templateDirPath()}.${process.pid}`;
  try {
    cpSync(dataDir, partial, { recursive: true });
    renameSync(partial, templateDirPath());
  } catch {
    // Nowhere to write it, or another process saved one first.
    if (existsSync(partial)) rmSync(partial, { recursive: true, force: true });
  }
}

/**
 * Opens a new database, in `dataDir` or (none) in memory. On disk: a copy of the directory template
 * when there is one that opens. Else from the dump when there is one that loads, else made by
 * initdb, which leaves a dump behind (replacing one that did not load); a new database on disk
 * then leaves a directory template too (replacing one that did not open).
 */
export async function openNew(PGlite, dataDir, startParams) {
  const options = { ...(dataDir ? { dataDir } : {}), ...(startParams?.length ? { startParams } : {}) };
  if (dataDir && hasTemplateDir()) {
    cpSync(templateDirPath(), dataDir, { recursive: true });
    try {
      return await PGlite.create(options);
    } catch {
      // Damaged: made again below, which leaves a new one.
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(templateDirPath(), { recursive: true, force: true });
    }
  }
  let db;
  const template = readTemplate();
  if (template) {
    try {
      db = await PGlite.create({ ...options, loadDataDir: template });
    } catch {
      // Made again below; if that works, the template did not load (damaged) and is replaced.
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    }
  }
  if (!db) {
    db = await PGlite.create(options);
    await writeTemplate(db);
  }
  if (!dataDir || hasTemplateDir()) return db;
  await db.close();
  saveTemplateDir(dataDir);
  return PGlite.create(options);
}

/**
 * Creates an embedded database in `dataDir`, runs the `setup` scripts on it (the migrations) and
 * closes it; with no `dataDir`, only makes sure the templates exist (the dump and the directory),
 * by creating a database in a scratch directory.
 */
export async function createEmbedded(dataDir, startParams, setup = []) {
  if (!dataDir) {
    if (existsSync(templatePath()) && hasTemplateDir()) return;
    const scratch = mkdtempSync(join(tmpdir(), "mcp-fleet-template-"));
    try {
      return await createEmbedded(join(scratch, "db"), startParams);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }
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
