import { pino, type Logger } from "pino";

// Secrets must never reach a log line, whatever object is logged.
const REDACT = [
  "*.dtma_bearer_token",
  "*.dtmaBearerToken",
  "*.authorization",
  "*.Authorization",
  "headers.authorization",
  "*.headers.authorization",
  "*.apiKey",
  "*.key",
  "*.password",
];

export function createLogger(level: string): Logger {
  return pino({ level, redact: { paths: REDACT, censor: "[redacted]" }, base: { service: "mcp-fleet" } });
}
export type { Logger };

/**
 * Logs a dependency's outage once, however often its client reports it (ioredis reports every
 * reconnect attempt), and its return once.
 */
export function outageLog(logger: Logger, messages: { lost: string; back: string }) {
  let up = true;
  return {
    lost(error: Error) {
      if (!up) return;
      up = false;
      logger.warn({ err: error.message }, messages.lost);
    },
    back() {
      if (up) return;
      up = true;
      logger.info(messages.back);
    },
  };
}
