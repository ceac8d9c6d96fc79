// One node:http server: GraphQL (yoga, with GraphiQL) at /graphql over HTTP, SSE and WebSocket,
// and the routes beside it (routes.ts). Closing drains requests, then closes the services.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Services } from "../app/index.ts";
import { handleRoute } from "./routes.ts";
import { attachWebSocket } from "./websocket.ts";
import type { JsonLane } from "./json-lane.ts";
import { createGraphQLHttp, createYogaApp } from "./yoga.ts";

export interface HttpServer {
  server: Server;
  url: string;
  lane: JsonLane;
  close(): Promise<void>;
}

export async function startServer(services: Services): Promise<HttpServer> {
  const { config } = services;
  // The common request (a POST of JSON: a query or a mutation) takes the JSON lane; the rest, yoga.
  const { yoga, lane } = createGraphQLHttp(services);
  // WebSocket subscriptions run without the Prometheus plugin: its hooks run for every event of
  // every subscriber (measured: p99 delivery 256 -> ~300 ms at 5,000 subscribers). Subscriber
  // counts and change-feed lag are measured by our own metrics.
  const wsYoga = createYogaApp(services, { prometheus: false });
  const server = createServer(async (req, res) => {
    if (await handleRoute(req, res, services)) return;
    if (lane.takes(req)) return lane.serve(req, res);
    return yoga(req, res);
  });
  const websockets = attachWebSocket(server, wsYoga, services);

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = config.host.includes(":") ? `[${config.host}]` : config.host === "0.0.0.0" ? "127.0.0.1" : config.host;
  const url = `http://${host}:${port}/graphql`;

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      const drained = new Promise<void>((resolve) => server.close(() => resolve()));
      await websockets.dispose();
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), config.shutdownTimeoutMs);
      await drained;
      clearTimeout(timer);
      await services.close();
    })());
  return { server, url, lane, close };
}
