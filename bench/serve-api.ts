// mcp-fleet itself, on Postgres, for the benchmark (run in its own process).
import type { AddressInfo } from "node:net";
import { loadConfig } from "../src/config.ts";
import { openApp } from "../src/app/index.ts";
import { createLogger } from "../src/log.ts";
import { startServer } from "../src/http/server.ts";

const config = loadConfig({
  DATABASE_URL: process.env.DATABASE_URL,
  SUPABASE_JWT_SECRET: process.env.SUPABASE_JWT_SECRET,
  JWT_ISSUER: process.env.JWT_ISSUER,
  PORT: "0",
  LOG_LEVEL: "silent",
  NODE_ENV: "production",
});
const logger = createLogger("silent");
const app = await startServer(await openApp(config, logger));
process.send?.({ port: (app.server.address() as AddressInfo).port });
