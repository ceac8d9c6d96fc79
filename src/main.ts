// CLI entry: serve | migrate | seed | print-schema
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { packagePath } from "./paths.ts";
import { ConfigError, loadConfig, type Config } from "./config.ts";
import { openApp } from "./app/index.ts";
import { startBackground } from "./app/background.ts";
import { servingHeap } from "./app/heap.ts";
import { openDb } from "./data/index.ts";
import { migrate } from "./data/migrate.ts";
import { seedDemoFleet } from "./data/seed.ts";
import { createLogger, type Logger } from "./log.ts";
import { startServer } from "./http/server.ts";
import { announceAuth } from "./auth/dev.ts";
import { printedSchema } from "./schema/index.ts";

export const SCHEMA_FILE = packagePath("schema/schema.graphql");

const USAGE = `Usage: mcp-fleet <command>
  serve          serve the API (embedded PGlite unless DATABASE_URL or SUPABASE_URL is set)
  migrate        apply schema/sql to the database (DATABASE_URL, or the embedded one)
  seed           add the demo fleet to the database (DATABASE_URL, or the embedded one)
  demo           the API with simulated droplets and real MCP servers, in memory
  doctor [--fix] list servers whose endpoint cannot be built, with the fix; --fix applies the safe ones
  print-schema   write schema/schema.graphql from the code`;

async function serve(config: Config, logger: Logger): Promise<number> {
  servingHeap();
  if (config.auth.mode === "unconfigured") {
    console.error(`Refusing to serve: ${config.auth.reason}`);
    return 2;
  }
  const services = await openApp(config, logger, { graphiqlHeaders: await announceAuth(config, logger) });
  const app = await startServer(services);
  const background = startBackground(services);
  logger.info({ store: services.store.kind, live: !!services.live, url: app.url }, "mcp-fleet is serving");
  console.log(`\n  Dashboard: ${app.url.replace(/\/graphql$/, "/")}${config.graphiql ? `\n  GraphiQL:  ${app.url}` : ""}\n`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    (async () => {
      await Promise.all(background.map((task) => task.stop()));
      await app.close();
    })().then(
      () => process.exit(0),
      (error) => {
        logger.error({ err: String(error) }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
  return -1; // keep running
}

async function demo(logger: Logger) {
  servingHeap();
  const { startDemo, DEMO_GUIDE } = await import("./demo/index.ts");
  // A fresh in-memory database and a one-off agent key, whatever the environment says.
  const config = loadConfig({
    // The fleet looking after itself, at a pace one can watch (each overridable).
    PROBE_INTERVAL_MS: "15000",
    PROBE_CONCURRENCY: "4",
    RECOVERY_INTERVAL_MS: "5000",
    RECOVERY_BACKOFF_MS: "5000",
    ...process.env,
    DATABASE_URL: "",
    SUPABASE_URL: "",
    PGLITE_MEMORY: "true",
    SEED: "never",
    DTMA_API_KEY: randomBytes(24).toString("hex"),
    ALLOW_PRIVATE_TARGETS: "true",
  });
  const running = await startDemo(config, logger, { graphiqlHeaders: await announceAuth(config, logger) });
  console.log(DEMO_GUIDE(running.app.url, config));
  const stop = () => void running.close().then(() => process.exit(0));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

export async function main(argv: string[]): Promise<number> {
  const command = argv[0] ?? "serve";
  if (command === "print-schema") {
    await writeFile(SCHEMA_FILE, printedSchema());
    console.log(`wrote ${SCHEMA_FILE}`);
    return 0;
  }
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      return 2;
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  switch (command) {
    case "serve":
      return serve(config, logger);
    case "demo":
      await demo(logger);
      return -1;
    case "doctor": {
      const { runDoctor, formatDoctor } = await import("./doctor.ts");
      const { openStore } = await import("./data/index.ts");
      const fix = argv.includes("--fix");
      const store = await openStore({ ...config, seed: "never" }, logger);
      try {
        console.log(formatDoctor(await runDoctor(store, config.dtmaPort, fix), fix));
      } finally {
        await store.close();
      }
      return 0;
    }
    case "migrate":
    case "seed": {
      if (config.store === "supabase") {
        console.error("With Supabase, apply schema/sql with the Supabase CLI or SQL editor; set DATABASE_URL to run it from here.");
        return 2;
      }
      const db = await openDb(config, logger);
      try {
        const applied = await migrate(db);
        console.log(applied.length ? `applied ${applied.join(", ")}` : "database is up to date");
        if (command === "seed") console.log((await seedDemoFleet(db)) ? "seeded the demo fleet" : "the database already has environments; nothing seeded");
      } finally {
        await db.close();
      }
      return 0;
    }
    default:
      console.error(USAGE);
      return command === "help" || command === "--help" ? 0 : 2;
  }
}

const code = await main(process.argv.slice(2)).catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  return 1;
});
if (code >= 0) process.exit(code);
