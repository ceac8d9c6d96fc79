// npm run build: what the production image runs. One ESM bundle of the server, dist/main.js, with
// what it loads only on demand (the demo, the MCP SDK's client, supabase-js, GraphiQL's page) as
// chunks beside it. Bundled, the compiled server starts in about half the time and memory of one
// module per file: Node's loader resolving, reading and linking ~1,000 modules was most of a
// start on Postgres (BENCHMARKS.md, Session 13). test/build.test.ts runs what this makes.
import { rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = new URL("..", import.meta.url);
rmSync(new URL("dist", root), { recursive: true, force: true });
await build({
  absWorkingDir: fileURLToPath(root),
  entryPoints: ["src/main.ts"],
  outdir: "dist",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  sourcemap: true,
  // PGlite finds its WebAssembly and data files beside its own modules; ioredis is required at run
  // time (src/auth/rate-limit.ts), so the bus's import must find the same copy.
  external: ["@electric-sql/pglite", "ioredis"],
  // CommonJS packages in an ES module bundle still call require (for Node's built-ins).
  banner: { js: 'import { createRequire as __createRequire } from "node:module"; const require = __createRequire(import.meta.url);' },
  logLevel: "warning",
});
