// Starts the real HTTP server on a free loopback port over a given store.
import { loadConfig } from "../../src/config.ts";
import type { Store } from "../../src/data/store.ts";
import { createLogger } from "../../src/log.ts";
import { startServer, type App } from "../../src/server.ts";

export interface TestServer {
  app: App;
  url: string;
  gql<T = any>(query: string, variables?: Record<string, unknown>): Promise<{ status: number; body: { data?: T; errors?: Array<{ message: string; extensions?: Record<string, unknown>; path?: unknown[] }> } }>;
  close(): Promise<void>;
}

export async function startTestServer(store: Store, env: Record<string, string> = {}): Promise<TestServer> {
  const config = loadConfig({ PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "silent", ...env });
  const app = await startServer(store, config, createLogger("silent"));
  return {
    app,
    url: app.url,
    async gql(query, variables) {
      const res = await fetch(app.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query, variables }) });
      return { status: res.status, body: await res.json() };
    },
    close: () => app.close(),
  };
}

export function codes(body: { errors?: Array<{ extensions?: Record<string, unknown> }> }): unknown[] {
  return (body.errors ?? []).map((e) => e.extensions?.code);
}
