// The JSON lane: the common GraphQL request (a POST of JSON to /graphql running a query or a
// mutation, answered as JSON) served from node:http through yoga's own envelope and result
// processor, without the fetch-API Request/Response objects, web streams and per-request hook
// chains of yoga's server adapter (measured: 0.10-0.14 ms of CPU less per request for a page of 100
// servers, BENCHMARKS.md). Every other request, and any request the lane is unsure of once it
// has read the body, goes to yoga with the body already read. Each step runs yoga's code or its
// rule; test/http/json-lane.test.ts sends the same requests both ways and expects the same answers.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { CORSOptions } from "@whatwg-node/server";
import { getCORSHeadersByRequestAndOptions, sendNodeResponse } from "@whatwg-node/server";
import { type DocumentNode, getOperationAST, GraphQLError, type OperationDefinitionNode, parse } from "graphql";
import { createLRUCache, processRegularResult } from "graphql-yoga";
import type { Logger } from "../log.ts";

/** Documents longer than this are left to yoga, so the lane's own cache stays small. */
const MAX_CACHED_QUERY = 16 * 1024;

export interface GraphQLParams {
  query: string;
  variables?: Record<string, unknown>;
  operationName?: string;
  extensions?: Record<string, unknown>;
}

/** What the lane needs of a yoga server: its public instance members (private in yoga's typings). */
export interface YogaInternals {
  (req: IncomingMessage, res: ServerResponse): unknown;
  onResultProcessHooks: ((payload: never) => unknown)[];
  maskedErrorsOpts: { maskError(error: unknown, message: string): Error } | null;
  parseRequest(
    request: LaneRequest,
    context: object,
  ): Promise<{ response?: Response; requestParserResult?: GraphQLParams }> | { response?: Response; requestParserResult?: GraphQLParams };
  getResultForParams(payload: { params: GraphQLParams; request: LaneRequest }, context: object): unknown;
}

export interface JsonLaneOptions {
  /** yoga's CORS option, the same function (CORS headers are added as yoga's adapter adds them). */
  cors: (request: LaneRequest) => CORSOptions;
  /** The histogram yoga's Prometheus plugin observes per HTTP request, and its labels. */
  httpDuration?: {
    histogram: { observe(labels: Record<string, string | number>, seconds: number): void };
    fillLabelsFn(
      params: { operationName?: string; operationType?: string },
      context: { request: { method: string }; response: { status: number } },
    ): Record<string, string | number>;
  };
  maxTokens: number;
  logger: Logger;
}

/** A request as yoga's plugins, its JSON parser and our context read one: method, url, headers and body. */
export interface LaneRequest {
  method: string;
  url: string;
  headers: { get(name: string): string | null; has(name: string): boolean };
  json(): unknown;
}

function laneRequest(req: IncomingMessage, body: unknown): LaneRequest {
  const { headers } = req;
  return {
    method: "POST",
    url: `http://${headers.host ?? "localhost"}${req.url}`,
    json: () => body,
    headers: {
      get: (name) => {
        const v = headers[name.toLowerCase()];
        return v === undefined ? null : Array.isArray(v) ? v.join(", ") : v;
      },
      has: (name) => headers[name.toLowerCase()] !== undefined,
    },
  };
}

/** A body whose operation the lane can look up before running it (yoga's hooks check the rest). */
function isParams(v: unknown): v is GraphQLParams {
  if (typeof v !== "object" || v === null) return false;
  const { query, operationName } = v as Record<string, unknown>;
  return typeof query === "string" && (operationName == null || typeof operationName === "string");
}

/** The whole body (Node reads no more than Content-Length, which routes.ts has capped); rejects if the client goes away. */
function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.once("end", () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
    req.once("error", reject);
    req.once("close", () => {
      if (!req.complete) reject(new Error("the client closed the request before sending its body"));
    });
  });
}

/** processRegularResult's answer kept as it is, instead of as a fetch Response. */
class Answer {
  constructor(
    readonly body: string,
    readonly init: { status: number; headers: Record<string, string> },
  ) {}
}

export interface JsonLane {
  /** Whether the request is the lane's kind, judged before its body is read. */
  takes(req: IncomingMessage): boolean;
  serve(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /** Requests served by the lane itself, not handed to yoga (for tests). */
  served: number;
}

export function createJsonLane(yoga: YogaInternals, options: JsonLaneOptions): JsonLane {
  // Each document parsed once, to know its operation (a subscription is yoga's) before running it.
  const documents = createLRUCache<{ document: DocumentNode | null }>({ max: 1000 });
  const operationOf = (params: GraphQLParams): OperationDefinitionNode | null => {
    if (params.query.length > MAX_CACHED_QUERY) return null;
    let known = documents.get(params.query);
    if (!known) {
      let document: DocumentNode | null = null;
      try {
        document = parse(params.query, { noLocation: true, maxTokens: options.maxTokens });
      } catch {}
      documents.set(params.query, (known = { document }));
    }
    return known.document && (getOperationAST(known.document, params.operationName) ?? null);
  };

  // For each Accept header, the media type yoga's result processors choose for a plain result
  // (asked of the processors themselves), or null when they would stream it or refuse.
  const mediaTypes = createLRUCache<{ type: string | null }>({ max: 1000 });
  const mediaTypeOf = (request: LaneRequest): string | null => {
    const accept = request.headers.get("accept") ?? "";
    let known = mediaTypes.get(accept);
    if (!known) {
      let type: string | null = null;
      for (const hook of yoga.onResultProcessHooks) {
        hook({
          request,
          result: {},
          acceptableMediaTypes: [],
          setResult() {},
          setResultProcessor(processor: unknown, mediaType: string) {
            type = processor === processRegularResult ? mediaType : null;
          },
          serverContext: {},
        } as never);
      }
      mediaTypes.set(accept, (known = { type }));
    }
    return known.type;
  };

  const lane: JsonLane = {
    served: 0,
    takes(req) {
      if (req.method !== "POST" || req.url !== "/graphql") return false;
      // yoga's own test of a JSON body (the first of a list of types, with or without parameters).
      const contentType = req.headers["content-type"]?.split(",")[0];
      return contentType === "application/json" || !!contentType?.startsWith("application/json;");
    },
    async serve(req, res) {
      const start = Date.now();
      let body: Buffer;
      try {
        body = await readBody(req);
      } catch {
        return void res.destroy();
      }
      let json: unknown;
      try {
        json = JSON.parse(body.toString("utf8"));
      } catch {}
      const request = laneRequest(req, json);
      const mediaType = mediaTypeOf(request);
      const operation = mediaType && isParams(json) ? operationOf(json) : null;
      if (!mediaType || !operation || operation.operation === "subscription") {
        // yoga takes a body already read from req.body, and answers (or refuses) as it always does.
        (req as IncomingMessage & { body?: Buffer }).body = body;
        await yoga(req, res);
        return;
      }
      lane.served++;
      try {
        let result: unknown;
        // The context starts with req and res, as yoga's node adapter starts it.
        const context = { req, res };
        try {
          // What yoga does with a request once it is one: the onRequestParse hooks (CSRF, the
          // introspection switch) and its JSON parser, the params' checks, the envelope (parse and
          // validation caches, Armor, context and authentication, graphql-jit, masking), the
          // onExecutionResult hooks.
          const parsed = await yoga.parseRequest(request, context);
          if (parsed.response) {
            // A hook answered the request itself (none of ours does on this path).
            await sendNodeResponse(parsed.response, res, req, false);
            return;
          }
          result = await yoga.getResultForParams({ params: parsed.requestParserResult as GraphQLParams, request }, context);
        } catch (error) {
          result = { errors: [yoga.maskedErrorsOpts?.maskError(error, "Unexpected error.") ?? new GraphQLError("Unexpected error.")] };
        }
        const answer = processRegularResult(result as never, { Response: Answer } as never, mediaType) as unknown as Answer;
        const headers = { ...answer.init.headers, ...getCORSHeadersByRequestAndOptions(request as never, options.cors(request)) };
        res.writeHead(answer.init.status, headers).end(answer.body);
        const duration = options.httpDuration;
        if (duration) {
          const labels = duration.fillLabelsFn(
            { operationName: operation.name?.value, operationType: operation.operation },
            { request, response: { status: answer.init.status } },
          );
          duration.histogram.observe(labels, (Date.now() - start) / 1000);
        }
      } catch (error) {
        // Only a fault of the lane itself lands here (the envelope's errors are in the result).
        options.logger.error({ err: String(error) }, "the JSON lane failed to answer a request");
        if (!res.headersSent) {
          res
            .writeHead(500, { "content-type": "application/json" })
            .end('{"errors":[{"message":"Unexpected error.","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}');
        } else res.destroy();
      }
    },
  };
  return lane;
}
