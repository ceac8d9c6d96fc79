// What ships is what was tested: the production image runs the bundled JavaScript (npm run build:
// scripts/build.mjs, dist/), while tests and development run the sources. This builds dist/ as the
// image does and runs it as real processes with plain node (no loader: a TypeScript file reached at
// run time would fail to load): it must serve the very schema the sources print
// (schema/schema.graphql, itself checked against the sources), the demo fleet, the dashboard and
// GraphiQL; every chunk it loads on demand must load; the demo's real MCP servers must answer a
// connection test through the bundled SDK; it must serve without V8's allocation-site pretenuring
// (src/app/heap.ts); and it must migrate, seed and serve Postgres.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { buildClientSchema, buildSchema, getIntrospectionQuery, lexicographicSortSchema, printSchema } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describePostgres, freshPostgres, type TestDatabase } from "./helpers/postgres.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DIST = `${ROOT}dist/`;
const MAIN = `${DIST}main.js`;
const { DATABASE_URL: _d, SUPABASE_URL: _s, NODE_OPTIONS: _n, ...ENV } = process.env;

beforeAll(() => {
  execFileSync(process.execPath, [`${ROOT}scripts/build.mjs`], { cwd: ROOT, stdio: "pipe" });
  expect(existsSync(MAIN)).toBe(true);
}, 120_000);

interface Running {
  child: ChildProcess;
  url: string;
  output(): string;
}

/** Runs `node dist/main.js <command>` and waits until it says where it serves (`ready` matches the URL). */
function runDist(command: string, env: Record<string, string>, ready: RegExp, nodeFlags: string[] = []): Promise<Running> {
  const child = spawn(process.execPath, [...nodeFlags, MAIN, command], {
    cwd: ROOT,
    env: { ...ENV, PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "info", AUTH_DISABLED: "true", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  return new Promise<Running>((resolve, reject) => {
    child.stdout!.on("data", (chunk) => {
      output += chunk;
      const serving = ready.exec(output);
      if (serving) resolve({ child, url: serving[1], output: () => output });
    });
    child.stderr!.on("data", (chunk) => (output += chunk));
    child.on("exit", (code) => reject(new Error(`dist/main.js ${command} exited with ${code} before serving:\n${output}`)));
  });
}

const SERVING = /"url":"(http:[^"]+)"[^\n]*"msg":"mcp-fleet is serving"/;

async function post(url: string, query: string): Promise<{ data: any; errors?: unknown[] }> {
  const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query }) });
  return (await response.json()) as { data: any; errors?: unknown[] };
}

function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}

describe("the build (dist/) on the embedded database", () => {
  let app: Running;
  beforeAll(async () => {
    app = await runDist("serve", { PGLITE_MEMORY: "true" }, SERVING);
  }, 120_000);
  afterAll(() => stop(app?.child));

  it("serves the schema the sources print, and the demo fleet", async () => {
    // Both sides as graphql-js prints them, sorted: the running schema, and the checked-in file.
    const introspection = getIntrospectionQuery({
      specifiedByUrl: true,
      directiveIsRepeatable: true,
      schemaDescription: true,
      inputValueDeprecation: true,
      oneOf: true,
    });
    const running = printSchema(lexicographicSortSchema(buildClientSchema((await post(app.url, introspection)).data)));
    const checkedIn = printSchema(lexicographicSortSchema(buildSchema(readFileSync(`${ROOT}schema/schema.graphql`, "utf8"))));
    expect(running).toBe(checkedIn);
    expect((await post(app.url, "{ servers { totalCount } }")).data.servers.totalCount).toBe(22);
  });

  it("serves the dashboard and GraphiQL from the package", async () => {
    const origin = app.url.replace(/\/graphql$/, "");
    const page = await fetch(`${origin}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("DashboardFleet");
    expect((await fetch(`${origin}/dashboard/graphql-ws.js`)).status).toBe(200);
    const graphiql = await fetch(app.url, { headers: { accept: "text/html" } });
    expect(graphiql.status).toBe(200);
    expect(await graphiql.text()).toContain("mcp-fleet");
    expect(app.output()).not.toMatch(/tsx|\.ts:\d+/);
  });
});

it("loads every chunk of the build with plain node", () => {
  // The parts loaded on demand (the demo, the MCP SDK, supabase-js, GraphiQL's page) are chunks a
  // running server may not reach in the tests above: each must find what it imports.
  const chunks = readdirSync(DIST).filter((f) => f.endsWith(".js") && f !== "main.js");
  expect(chunks.length).toBeGreaterThan(3);
  const script = `for (const url of ${JSON.stringify(chunks.map((f) => pathToFileURL(DIST + f).href))}) await import(url);`;
  execFileSync(process.execPath, ["--input-type=module", "-e", script], { cwd: ROOT, env: ENV, stdio: "pipe", timeout: 60_000 });
});

describe("the build's heap", () => {
  // V8 prints its pretenuring statistics after a young-generation collection that found objects
  // of tracked allocation sites; with pretenuring off (src/app/heap.ts) it has none to print.
  async function pretenuringLinesWhileServing(nodeFlags: string[]): Promise<number> {
    const app = await runDist("serve", { PGLITE_MEMORY: "true" }, SERVING, ["--trace-pretenuring-statistics", ...nodeFlags]);
    try {
      const from = app.output().length;
      // Enough reads for several young-generation collections.
      for (let i = 0; i < 300; i++) {
        const page = await post(app.url, "{ servers(first: 100) { edges { node { id name status { state health } endpoint environment { name } } } } }");
        expect(page.errors).toBeUndefined();
      }
      const whileServing = app.output().slice(from);
      return whileServing.match(/pretenuring:/g)?.length ?? 0;
    } finally {
      await stop(app.child);
    }
  }

  it("serves without V8's allocation-site pretenuring, unless node is told otherwise", async () => {
    expect(await pretenuringLinesWhileServing([])).toBe(0);
    // The control: the same reads with V8's own way kept do make pretenuring decisions.
    expect(await pretenuringLinesWhileServing(["--allocation-site-pretenuring"])).toBeGreaterThan(0);
  }, 120_000);
});

describe("the build's demo", () => {
  let demo: Running;
  beforeAll(async () => {
    demo = await runDist("demo", {}, /GraphiQL at (http:\S+)/);
  }, 120_000);
  afterAll(() => stop(demo?.child));

  it("tests a connection to one of its real MCP servers through the bundled SDK", async () => {
    const page = await post(demo.url, '{ servers(first: 1, filter: { search: "calendar" }) { edges { node { id } } } }');
    const id = page.data.servers.edges[0].node.id;
    const tested = await post(demo.url, `mutation { testServerConnection(id: "${id}") { success tools serverInfo { name } } }`);
    expect(tested.errors).toBeUndefined();
    expect(tested.data.testServerConnection).toMatchObject({ success: true, serverInfo: { name: "calendar" } });
    expect(tested.data.testServerConnection.tools).toContain("echo");
  });
});

describePostgres("the build on Postgres", () => {
  let pg: TestDatabase;
  let app: Running;
  beforeAll(async () => {
    pg = await freshPostgres();
    for (const command of ["migrate", "seed"]) {
      execFileSync(process.execPath, [MAIN, command], { cwd: ROOT, env: { ...ENV, DATABASE_URL: pg.url }, stdio: "pipe", timeout: 60_000 });
    }
    app = await runDist("serve", { DATABASE_URL: pg.url }, SERVING);
  }, 120_000);
  afterAll(async () => {
    await stop(app?.child);
    await pg?.drop();
  });

  it("migrates, seeds and serves it", async () => {
    expect((await post(app.url, "{ servers { totalCount } }")).data.servers.totalCount).toBe(22);
    const ready = await fetch(app.url.replace(/\/graphql$/, "/ready"));
    expect(ready.status).toBe(200);
  });
});
