import { pino, type Logger } from "pino";

// Secrets must never reach a log line, whatever object is logged.
const REDACT = [
  "*.dtma_bearer_token", "*.dtmaBearerToken", "*.authorization", "*.Authorization",
  "headers.authorization", "*.headers.authorization", "*.apiKey", "*.key", "*.password",
];

export function createLogger(level: string): Logger {
  return pino({ level, redact: { paths: REDACT, censor: "[redacted]" }, base: { service: "mcp-fleet" } });
}
export type { Logger };
