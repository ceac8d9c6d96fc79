// The GraphQL envelope shared by HTTP, SSE and WebSocket: schema, limits, compilation, shared
// subscription execution, metrics, authentication and the masking rule.
import { readFileSync } from "node:fs";
import { useGraphQlJit } from "@envelop/graphql-jit";
import { EnvelopArmor } from "@escape.tech/graphql-armor";
import { useDisableIntrospection } from "@graphql-yoga/plugin-disable-introspection";
import { useCSRFPrevention } from "@graphql-yoga/plugin-csrf-prevention";
import { usePrometheus } from "@graphql-yoga/plugin-prometheus";
import { GraphQLError } from "graphql";
import { createYoga } from "graphql-yoga";
import type { Services } from "../app/index.ts";
import { AuthError, bearer } from "../auth/verify.ts";
import type { Viewer } from "../auth/visibility.ts";
import type { Config } from "../config.ts";
import { type GraphQLMetrics, graphqlMetrics } from "../metrics.ts";
import { createContext } from "../schema/context.ts";
import { buildSchema } from "../schema/index.ts";
import { maskError } from "./errors.ts";
import { createJsonLane, type JsonLaneOptions, type YogaInternals } from "./json-lane.ts";
import { useQueryBudget } from "./query-budget.ts";
import { useSharedSubscriptions } from "./shared-execution.ts";
import { packagePath } from "../paths.ts";

/** Headers that mark a request as a script's (any one will do): yoga's, Apollo's and the GraphQL-over-HTTP draft's. */
const CSRF_HEADERS = ["x-graphql-yoga-csrf", "apollo-require-preflight", "x-apollo-operation-name", "graphql-preflight"];

/** GraphiQL's first query: a typed document, so codegen checks it against the schema. */
const GRAPHIQL_QUERY = readFileSync(packagePath("schema/operations/graphiql.graphql"), "utf8");

/**
 * An Armor limit answers as a coded error that names the limit, on every transport, without
 * Armor's "Syntax Error:" prefix (the document is valid; it is too big). Being coded, it passes
 * masking unchanged, so it is not logged as a server error: the client chose to send it.
 */
function limitError(limit: string) {
  return {
    onReject: [
      (_context: unknown, error: GraphQLError) => {
        throw new GraphQLError(error.message.replace(/^Syntax Error: /, ""), { extensions: { code: "BAD_USER_INPUT", limit } });
      },
    ],
  };
}

/** Same origin by default: no CORS headers at all unless the request's origin is listed. */
export function corsOptions(config: Config) {
  return (request: { headers: { get(name: string): string | null } }) => {
    const origin = request.headers.get("origin");
    return origin && config.corsOrigins.includes(origin)
      ? { origin, credentials: true, allowedHeaders: ["content-type", "authorization", ...CSRF_HEADERS] }
      : false;
  };
}

/**
 * The GraphQL envelope in yoga. `prometheus`: false for none, or the metrics to observe (made here
 * when not given; a registry takes each metric once).
 */
export function createYogaApp(services: Services, options: { prometheus?: false | GraphQLMetrics } = {}) {
  const { config, metrics, logger } = services;
  const prometheus = options.prometheus === false ? undefined : (options.prometheus ?? graphqlMetrics(metrics.registry));
  return createYoga({
    schema: buildSchema(),
    graphqlEndpoint: "/graphql",
    // The HTTP server refuses a POST without Content-Length or above MAX_BODY_BYTES before yoga
    // sees it, and Node reads no more than Content-Length: yoga's own limit (a stream transform
    // per request) would check it again.
    maxRequestBodySize: false,
    graphiql: config.graphiql
      ? {
          title: "mcp-fleet",
          // Both: GraphiQL opens on `query` (yoga's page would otherwise start on an empty editor,
          // and the first run answer "Unexpected <EOF>"); `defaultQuery` fills new tabs.
          ...({ query: GRAPHIQL_QUERY } as object),
          defaultQuery: GRAPHIQL_QUERY,
          // GraphiQL sends subscriptions as a GET for an event stream: a "simple" request, so it
          // must carry a CSRF header like any script's (not shown in its header editor).
          additionalHeaders: { "x-graphql-yoga-csrf": "graphiql" },
          ...(services.graphiqlHeaders ? { headers: JSON.stringify(services.graphiqlHeaders, null, 2), defaultEditorToolsVisibility: "headers" as const } : {}),
        }
      : false,
    // GraphiQL from the packaged build (no CDN: it works offline), loaded on the first visit only:
    // its 9 MB bundle stays out of memory for a server nobody browses.
    renderGraphiQL: async (options) => (await import("@graphql-yoga/render-graphiql")).renderGraphiQL(options),
    landingPage: false,
    cors: corsOptions(config),
    logging: logger,
    plugins: [
      // A request a browser sends cross-site without a preflight (a form post, a plain GET) must
      // carry a header only scripts can set: with AUTH_DISABLED, any page could drive the API.
      useCSRFPrevention({ requestHeaders: CSRF_HEADERS }),
      // Depth, aliases, tokens, cost and directives are bounded before execution.
      ...new EnvelopArmor({
        maxDepth: { n: config.limits.maxDepth, ignoreIntrospection: true, ...limitError("depth") },
        maxAliases: { n: config.limits.maxAliases, ...limitError("aliases") },
        maxTokens: { n: config.limits.maxTokens, ...limitError("tokens") },
        costLimit: { maxCost: config.limits.maxCost, ignoreIntrospection: true, ...limitError("cost") },
        maxDirectives: { n: 20, ...limitError("directives") },
        // Suggestions reveal the schema: keep them where the schema is public anyway.
        blockFieldSuggestion: { enabled: !config.introspection },
      }).protect().plugins,
      ...(config.introspection ? [] : [useDisableIntrospection()]),
      useQueryBudget(services.queryBudget, config.limits.queryCostPerMinute),
      // Compiles each distinct operation once into plain JS: about a third less CPU per request.
      useGraphQlJit(),
      // Subscriptions through this envelope (SSE) share one execution per event, as WebSocket
      // ones do (websocket.ts); after graphql-jit, whose subscribe function it replaces.
      useSharedSubscriptions(),
      ...(prometheus ? [usePrometheus({ registry: metrics.registry, endpoint: "/metrics", metrics: prometheus })] : []),
    ],
    // HTTP and SSE authenticate from the Authorization header; WebSocket connections arrive with
    // the viewer established once, in onConnect.
    context: async (initial: { request: Request; viewer?: Viewer; accessToken?: string; expiresAt?: Date | null }) => {
      if (initial.viewer) return createContext(services, initial.viewer, initial.accessToken, initial.expiresAt ?? null);
      try {
        const token = bearer(initial.request.headers.get("authorization"));
        const { viewer, expiresAt } = await services.verify(token);
        return createContext(services, viewer, token ?? undefined, expiresAt);
      } catch (error) {
        if (error instanceof AuthError) {
          throw new GraphQLError(error.message, { extensions: { code: "UNAUTHENTICATED", http: { status: 401, headers: { "WWW-Authenticate": "Bearer" } } } });
        }
        throw error;
      }
    },
    maskedErrors: { maskError: (error) => maskError(error, logger) },
  });
}

export type YogaApp = ReturnType<typeof createYogaApp>;

/** yoga for HTTP and SSE, and the JSON lane in front of it (json-lane.ts), observing the same metrics. */
export function createGraphQLHttp(services: Services) {
  const prometheus = graphqlMetrics(services.metrics.registry);
  const yoga = createYogaApp(services, { prometheus });
  const lane = createJsonLane(yoga as unknown as YogaInternals, {
    cors: corsOptions(services.config),
    httpDuration: prometheus.graphql_yoga_http_duration as JsonLaneOptions["httpDuration"],
    maxTokens: services.config.limits.maxTokens,
    logger: services.logger,
  });
  return { yoga, lane };
}
