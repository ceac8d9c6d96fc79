// Starts the real HTTP server on a free loopback port over a given store.
import { loadConfig } from "../../src/config.ts";
import type { Store } from "../../src/data/store.ts";
import { createLogger, type Logger } from "../../src/log.ts";
import { startServer, type HttpServer } from "../../src/http/server.ts";
import type { LiveFleet } from "../../src/live/fleet.ts";
import { openApp, type LiveOptions } from "../../src/app/index.ts";

export interface TestServer {
  app: HttpServer;
  url: string;
  gql<T = any>(
    query: string,
    variables?: Record<string, unknown>,
    operationName?: string,
  ): Promise<{ status: number; body: { data?: T; errors?: Array<{ message: string; extensions?: Record<string, unknown>; path?: unknown[] }> } }>;
  close(): Promise<void>;
}

export interface TestServerOptions {
  env?: Record<string, string>;
  /** Start the live fleet (subscriptions) on the store's database, with this clock. */
  live?: LiveOptions;
  /** Where the server logs (silent by default). */
  logger?: Logger;
}

export async function startTestServer(store: Store, options: TestServerOptions = {}): Promise<TestServer & { live?: LiveFleet }> {
  // Tests run droplets and MCP servers on loopback; the SSRF tests turn this off.
  // Auth is off unless a test turns it on (the security suites do).
  const config = loadConfig({ PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "silent", ALLOW_PRIVATE_TARGETS: "true", AUTH_DISABLED: "true", ...options.env });
  const logger = options.logger ?? createLogger("silent");
  const services = await openApp(config, logger, { store, live: options.live ?? false });
  const app = await startServer(services);
  return {
    app,
    live: services.live,
    url: app.url,
    async gql(query, variables, operationName) {
      const res = await fetch(app.url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query, variables, operationName }),
      });
      return { status: res.status, body: await res.json() };
    },
    close: () => app.close(),
  };
}

export function codes(body: { errors?: Array<{ extensions?: Record<string, unknown> }> }): unknown[] {
  return (body.errors ?? []).map((e) => e.extensions?.code);
}
