// The real services the suites use (PostgreSQL, Redis): under CI=true a missing one fails the run;
// elsewhere its suites skip with a message saying how to run them.
import { describe } from "vitest";

/** `describe` that runs only when the service is up (and a failure under CI=true when it is not). */
export function describeWhenUp(service: string, url: string, up: boolean, hint: string): typeof describe | typeof describe.skip {
  if (!up) {
    if (process.env.CI === "true") throw new Error(`${service} is required under CI=true but ${url} is not reachable`);
    console.warn(`\n  SKIPPING the ${service} suites: ${url} is not reachable (${hint})\n`);
  }
  return up ? describe : describe.skip;
}
