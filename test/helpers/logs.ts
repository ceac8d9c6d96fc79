// A real pino logger whose lines a test reads back.
import { Writable } from "node:stream";
import { type Logger, pino } from "pino";

export function capturingLogger(level = "info"): { logger: Logger; lines: string[]; records(): Array<Record<string, unknown>> } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { logger: pino({ level }, stream), lines, records: () => lines.map((l) => JSON.parse(l)) };
}
