// What ships is what was tested: the production image runs the compiled JavaScript (npm run build,
// dist/), while tests and development run the sources. This builds dist/ as the image does, starts
// the compiled server as a real process, and checks that it serves the very schema the sources
// print (schema/schema.graphql, itself checked against the sources), the demo fleet, the
// dashboard and GraphiQL, without loading TypeScript at all.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { buildClientSchema, buildSchema, getIntrospectionQuery, lexicographicSortSchema, printSchema } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const MAIN = `${ROOT}dist/main.js`;

describe("the compiled build (dist/)", () => {
  let child: ChildProcess;
  let url: string;
  let output = "";

  beforeAll(async () => {
    execFileSync(process.execPath, [`${ROOT}node_modules/typescript/bin/tsc`, "-p", `${ROOT}tsconfig.build.json`], { cwd: ROOT, stdio: "pipe" });
    expect(existsSync(MAIN)).toBe(true);
    const { DATABASE_URL: _d, SUPABASE_URL: _s, NODE_OPTIONS: _n, ...rest } = process.env;
    // Plain node: no loader, no --import; a TypeScript file reached at run time would fail to load.
    child = spawn(process.execPath, [MAIN, "serve"], {
      cwd: ROOT,
      env: { ...rest, PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "info", AUTH_DISABLED: "true", PGLITE_MEMORY: "true" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    url = await new Promise<string>((resolve, reject) => {
      child.stdout!.on("data", (chunk) => {
        output += chunk;
        const serving = /"url":"(http:[^"]+)"[^\n]*"msg":"mcp-fleet is serving"/.exec(output);
        if (serving) resolve(serving[1]);
      });
      child.stderr!.on("data", (chunk) => (output += chunk));
      child.on("exit", (code) => reject(new Error(`dist/main.js exited with ${code} before serving:\n${output}`)));
    });
  }, 120_000);
  afterAll(() => {
    child?.kill("SIGTERM");
  });

  it("serves the schema the sources print, and the demo fleet", async () => {
    const post = async (query: string) =>
      (await (await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query }) })).json()) as {
        data: any;
      };
    // Both sides as graphql-js prints them, sorted: the running schema, and the checked-in file.
    const running = printSchema(
      lexicographicSortSchema(
        buildClientSchema(
          (
            await post(
              getIntrospectionQuery({ specifiedByUrl: true, directiveIsRepeatable: true, schemaDescription: true, inputValueDeprecation: true, oneOf: true }),
            )
          ).data,
        ),
      ),
    );
    const checkedIn = printSchema(lexicographicSortSchema(buildSchema(readFileSync(`${ROOT}schema/schema.graphql`, "utf8"))));
    expect(running).toBe(checkedIn);
    expect((await post("{ servers { totalCount } }")).data.servers.totalCount).toBe(22);
  });

  it("serves the dashboard and GraphiQL from the package", async () => {
    const origin = url.replace(/\/graphql$/, "");
    const page = await fetch(`${origin}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("DashboardFleet");
    const graphiql = await fetch(url, { headers: { accept: "text/html" } });
    expect(graphiql.status).toBe(200);
    expect(await graphiql.text()).toContain("mcp-fleet");
    expect(output).not.toMatch(/tsx|\.ts:\d+/);
  });
});
