// mcp-fleet with its live fleet, for bench:live; reports subscribers and heap over IPC.
import type { AddressInfo } from "node:net";
import { loadConfig } from "../src/config.ts";
import { openApp } from "../src/app/index.ts";
import { createLogger } from "../src/log.ts";
import { startServer } from "../src/http/server.ts";
import { answerStats } from "./processes.ts";

const config = loadConfig({
  DATABASE_URL: process.env.DATABASE_URL,
  SUPABASE_JWT_SECRET: process.env.SUPABASE_JWT_SECRET,
  JWT_ISSUER: process.env.JWT_ISSUER,
  PORT: "0",
  LOG_LEVEL: "silent",
  NODE_ENV: "production",
});
const logger = createLogger("silent");
const services = await openApp(config, logger);
const app = await startServer(services);
answerStats(() => services.live!.serverEvents.size);
process.send?.({ port: (app.server.address() as AddressInfo).port });
