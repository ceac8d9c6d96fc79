import { createRequire } from "node:module";
import { defineConfig } from "vitest/config";

const require = createRequire(import.meta.url);

// Tests that start no database and need no service: `npm run check` runs these (seconds); the
// rest start PGlite, Postgres, Redis, servers and clients. `vitest run` runs both projects.
const UNIT = [
  "test/architecture.test.ts",
  "test/config.test.ts",
  "test/api/ids.test.ts",
  "test/api/schema-file.test.ts",
  "test/domain/**/*.test.ts",
  "test/fleet/catalog.test.ts",
  "test/dtma/client.test.ts",
  "test/live/health-clock.test.ts",
  "test/live/hub.test.ts",
  "test/mcp/probe.test.ts",
  "test/data/supabase-store.test.ts",
  "test/data/statement-batches.test.ts",
  "test/security/jwks.test.ts",
];

export default defineConfig({
  // graphql ships CJS and ESM builds; one copy for every importer, as under Node itself.
  resolve: { alias: { graphql: require.resolve("graphql") } },
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Each project takes the settings above (extends).
    projects: [
      { extends: true, test: { name: "unit", include: UNIT } },
      { extends: true, test: { name: "integration", include: ["test/**/*.test.ts"], exclude: UNIT } },
    ],
  },
});
