// One node:http server: GraphQL (yoga, with GraphiQL) at /graphql, liveness at /health,
// readiness (database round trip) at /ready. Graceful shutdown drains requests, then closes the store.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { randomUUID, timingSafeEqual } from "node:crypto";
import { GraphQLError } from "graphql";
import { useGraphQlJit } from "@envelop/graphql-jit";
import { createYoga } from "graphql-yoga";
import { usePrometheus } from "@graphql-yoga/plugin-prometheus";
import { useDisableIntrospection } from "@graphql-yoga/plugin-disable-introspection";
import { EnvelopArmor } from "@escape.tech/graphql-armor";
import { useServer } from "graphql-ws/use/ws";
import { WebSocketServer, type WebSocket } from "ws";
import type { Config } from "./config.ts";
import { DatabaseUnavailableError } from "./data/db.ts";
import { AuthError, bearer } from "./auth/verify.ts";
import type { Viewer } from "./auth/visibility.ts";
import { handleHeartbeat } from "./dtma/heartbeat.ts";
import { subscribeShared, useSharedSubscriptions } from "./live/shared-execution.ts";
import type { Logger } from "./log.ts";
import type { Services } from "./app/index.ts";
import { createContext } from "./schema/context.ts";
import { buildSchema } from "./schema/index.ts";
import { graphqlMetrics } from "./metrics.ts";

export interface App {
  server: Server;
  url: string;
  close(): Promise<void>;
}

// By name, not instanceof: a bundler or test runner may load two copies of `graphql`.
function isGraphQLError(e: unknown): e is GraphQLError {
  return e instanceof Error && e.name === "GraphQLError";
}

function causeChain(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e = error; e && chain.length < 5; e = (e as { originalError?: unknown; cause?: unknown }).originalError ?? (e as { cause?: unknown }).cause) chain.push(e);
  return chain;
}

/**
 * What a client sees of an error: coded errors as they are; GraphQL's own request errors as
 * BAD_USER_INPUT; a database outage as UPSTREAM_UNAVAILABLE; anything else as an opaque
 * INTERNAL_SERVER_ERROR with an id that finds the logged details.
 */
function maskError(error: unknown, logger: Logger): Error {
  const chain = causeChain(error);
  const coded = chain.find((e): e is GraphQLError => isGraphQLError(e) && typeof e.extensions?.code === "string");
  if (coded) return error as Error;
  // GraphQL's own errors about the request (a variable of the wrong type, an unknown enum
  // value) carry no code and wrap no program error: the client can fix them.
  if (isGraphQLError(error) && chain.every(isGraphQLError)) {
    return new GraphQLError(error.message, { nodes: error.nodes, path: error.path, extensions: { ...error.extensions, code: "BAD_USER_INPUT" } });
  }
  if (chain.some((e) => e instanceof DatabaseUnavailableError)) {
    return new GraphQLError("The database is unavailable; try again shortly", { extensions: { code: "UPSTREAM_UNAVAILABLE" } });
  }
  const errorId = randomUUID();
  const original = chain.at(-1) as Error | undefined;
  logger.error({ errorId, err: original?.message, stack: original?.stack }, "unexpected error in a GraphQL request");
  return new GraphQLError("Unexpected error", { extensions: { code: "INTERNAL_SERVER_ERROR", errorId } });
}

export function createYogaApp(services: Services, options: { prometheus?: boolean } = {}) {
  const { config, metrics, logger } = services;
  return createYoga({
    schema: buildSchema(),
    graphqlEndpoint: "/graphql",
    // The HTTP server refuses a POST without Content-Length or above MAX_BODY_BYTES before yoga
    // sees it, and Node reads no more than Content-Length: yoga's own limit (a stream transform
    // per request) would check it again.
    maxRequestBodySize: false,
    graphiql: config.graphiql
      ? { title: "mcp-fleet", defaultQuery: DEFAULT_QUERY, ...(services.graphiqlHeaders ? { headers: JSON.stringify(services.graphiqlHeaders, null, 2), defaultEditorToolsVisibility: "headers" as const } : {}) }
      : false,
    landingPage: false,
    logging: logger,
    plugins: [
      // Depth, aliases, tokens, cost and directives are bounded before execution.
      ...new EnvelopArmor({
        maxDepth: { n: config.limits.maxDepth, ignoreIntrospection: true },
        maxAliases: { n: config.limits.maxAliases },
        maxTokens: { n: config.limits.maxTokens },
        costLimit: { maxCost: config.limits.maxCost, ignoreIntrospection: true },
        maxDirectives: { n: 20 },
        // Suggestions reveal the schema: keep them where the schema is public anyway.
        blockFieldSuggestion: { enabled: !config.introspection },
      }).protect().plugins,
      ...(config.introspection ? [] : [useDisableIntrospection()]),
      // Compiles each distinct operation once into plain JS: about a third less CPU per request.
      useGraphQlJit(),
      // Subscriptions through this envelope (SSE) share one execution per event, as WebSocket
      // ones do (startServer); after graphql-jit, whose subscribe function it replaces.
      useSharedSubscriptions(),
      ...(options.prometheus === false ? [] : [usePrometheus({ registry: metrics.registry, endpoint: "/metrics", metrics: graphqlMetrics(metrics.registry) })]),
    ],
    // HTTP and SSE authenticate from the Authorization header; WebSocket connections arrive with
    // the viewer established once, in onConnect.
    context: async (initial: { request: Request; viewer?: Viewer; accessToken?: string }) => {
      if (initial.viewer) return createContext(services, initial.viewer, initial.accessToken);
      try {
        const token = bearer(initial.request.headers.get("authorization"));
        const { viewer } = await services.verify(token);
        return createContext(services, viewer, token ?? undefined);
      } catch (error) {
        if (error instanceof AuthError) throw new GraphQLError(error.message, { extensions: { code: "UNAUTHENTICATED", http: { status: 401 } } });
        throw error;
      }
    },
    maskedErrors: { maskError: (error) => maskError(error, logger) },
  });
}

/** Whether an Authorization header carries exactly `token` as a bearer token (compared in constant time). */
function bearerMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(bearer(header) ?? "");
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export async function startServer(services: Services): Promise<App> {
  const { store, config, logger } = services;
  const yoga = createYogaApp(services);
  // WebSocket subscriptions run without the Prometheus plugin: its hooks run for every event of
  // every subscriber (measured: p99 delivery 256 -> ~300 ms at 5,000 subscribers). Subscriber
  // counts and change-feed lag are measured by our own metrics.
  const wsYoga = createYogaApp(services, { prometheus: false });
  const { metrics } = services;
  const server = createServer(async (req, res) => {
    if (req.url === "/health") {
      res.writeHead(200, { "content-type": "application/json" }).end('{"status":"ok"}');
      return;
    }
    if (req.url === "/ready") {
      try {
        await store.ping();
        res.writeHead(200, { "content-type": "application/json" }).end(`{"status":"ready","store":"${store.kind}"}`);
      } catch {
        res.writeHead(503, { "content-type": "application/json" }).end(`{"status":"unavailable","store":"${store.kind}"}`);
      }
      return;
    }
    if (config.metricsToken && req.url?.split("?")[0] === "/metrics" && !bearerMatches(req.headers.authorization, config.metricsToken)) {
      res.writeHead(401, { "content-type": "application/json", "www-authenticate": "Bearer" }).end('{"error":"Send the metrics token as Authorization: Bearer <token>"}');
      return;
    }
    // Bodies are capped before anything reads them; a body of unknown length is refused.
    if (req.method === "POST") {
      const length = Number(req.headers["content-length"]);
      if (!req.headers["content-length"] || !Number.isFinite(length)) {
        res.writeHead(411, { "content-type": "application/json" }).end('{"errors":[{"message":"Send a Content-Length header","extensions":{"code":"BAD_USER_INPUT"}}]}');
        return;
      }
      if (length > config.limits.maxBodyBytes) {
        res.writeHead(413, { "content-type": "application/json", connection: "close" }).end(`{"errors":[{"message":"The request body is larger than ${config.limits.maxBodyBytes} bytes","extensions":{"code":"BAD_USER_INPUT"}}]}`);
        req.resume();
        return;
      }
    }
    if (req.url === "/dtma/heartbeat") {
      try {
        await handleHeartbeat(req, res, store, logger);
        metrics.heartbeats.inc({ outcome: String(res.statusCode) });
      } catch (error) {
        logger.error({ err: String(error) }, "heartbeat failed");
        if (!res.headersSent) res.writeHead(503, { "content-type": "application/json" }).end('{"error":"The heartbeat could not be stored; retry"}');
      }
      return;
    }
    return yoga(req, res);
  });

  // graphql-ws on the same port and path, executed through yoga's envelope (same schema,
  // context, plugins and error masking as HTTP).
  const wss = new WebSocketServer({ server, path: yoga.graphqlEndpoint, maxPayload: 1024 * 1024 });
  const wsServer = useServer<Record<string, unknown> | undefined, { request: IncomingMessage; socket: WebSocket; viewer?: Viewer; accessToken?: string; expiry?: NodeJS.Timeout }>(
    {
      // The token comes in connectionParams (authorization: "Bearer …", or token). A connection
      // whose token expires is closed with 4401 and the reason, so the client re-authenticates.
      onConnect: async (ctx) => {
        const params = ctx.connectionParams ?? {};
        const raw = params.authorization ?? params.Authorization ?? params.token;
        const token = typeof raw === "string" ? (bearer(raw) ?? raw) : null;
        try {
          const { viewer, expiresAt } = await services.verify(token);
          ctx.extra.viewer = viewer;
          ctx.extra.accessToken = token ?? undefined;
          if (expiresAt) {
            ctx.extra.expiry = setTimeout(() => ctx.extra.socket.close(4401, "Token expired: reconnect with a fresh token"), Math.max(0, expiresAt.getTime() - Date.now()));
            ctx.extra.expiry.unref();
          }
          return true;
        } catch (error) {
          if (error instanceof AuthError) {
            ctx.extra.socket.close(4401, error.message.slice(0, 120));
            return false;
          }
          throw error;
        }
      },
      onDisconnect: (ctx) => clearTimeout(ctx.extra.expiry),
      onClose: (ctx) => clearTimeout(ctx.extra.expiry),
      execute: (args: any) => args.rootValue.execute(args),
      // Subscribers with the same document, variables and viewer share one execution per event.
      subscribe: (args: any) => subscribeShared(args, (result) => ({ ...result, errors: result.errors?.map((e) => maskError(e, logger) as GraphQLError) })),
      onSubscribe: async (ctx, _id, params) => {
        const { schema, execute, contextFactory, parse, validate } = wsYoga.getEnveloped({ ...ctx, req: ctx.extra.request, socket: ctx.extra.socket, params, viewer: ctx.extra.viewer, accessToken: ctx.extra.accessToken });
        let document;
        try {
          document = parse(params.query);
        } catch (error) {
          return [error as GraphQLError];
        }
        const errors = validate(schema, document);
        if (errors.length) return errors;
        return { schema, operationName: params.operationName, document, variableValues: params.variables, contextValue: await contextFactory(), rootValue: { execute } };
      },
    },
    wss,
  );

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
      await wsServer.dispose();
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), config.shutdownTimeoutMs);
      await drained;
      clearTimeout(timer);
      await services.close();
    })());
  return { server, url, close };
}

const DEFAULT_QUERY = `# Welcome to mcp-fleet. Try the query below, then explore the docs on the left.
query Fleet {
  servers(first: 20) {
    totalCount
    edges {
      node {
        name
        rawStatus
        status { state health uptime heartbeatAge lastError }
        endpoint
        endpointProblem
        environment { name status publicIP region }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
`;
