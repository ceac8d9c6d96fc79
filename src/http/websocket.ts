// graphql-ws on the HTTP server's port and path, executed through yoga's envelope (same schema,
// context, plugins and error masking as HTTP), with the token given in connectionParams.
import type { IncomingMessage, Server } from "node:http";
import { type DocumentNode, type ExecutionArgs, GraphQLError, getOperationAST, type execute as graphqlExecute } from "graphql";
import { useServer } from "graphql-ws/use/ws";
import { WebSocket, WebSocketServer } from "ws";
import type { Services } from "../app/index.ts";
import { AuthError, bearer } from "../auth/verify.ts";
import type { Viewer } from "../auth/visibility.ts";
import { createContext } from "../schema/context.ts";
import { maskError } from "./errors.ts";
import { atExpiry } from "./expiry.ts";
import { type DirectSink, subscribeShared } from "./shared-execution.ts";
import type { YogaApp } from "./yoga.ts";

/** Largest message a client may send (a graphql-ws message is a small JSON document). */
const MAX_MESSAGE_BYTES = 1024 * 1024;

type Extra = {
  /** The upgrade request: read at connect, then let go (a socket may live for hours). */
  request?: IncomingMessage;
  socket: WebSocket;
  viewer?: Viewer;
  accessToken?: string;
  cancelExpiry?: () => void;
};

function sameOrigin(origin: string, host: string | undefined): boolean {
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}

/**
 * One subscription's pushed results, written to its socket as graphql-ws `next` messages (see
 * DirectSink): the operation's id around the shared payload, one string and one send per subscriber.
 */
class SocketSink implements DirectSink {
  private readonly prefix: string;

  constructor(
    private readonly socket: WebSocket,
    id: string,
    /** Most the socket may have waiting to be sent (WS_MAX_BUFFERED_BYTES): a client reading slower than its subscriptions produce falls behind it. */
    private readonly maxBuffered: number,
  ) {
    this.prefix = `{"id":${JSON.stringify(id)},"type":"next","payload":`;
  }

  next(payloadJson: string): boolean {
    // A closing socket: graphql-ws ends its operations.
    if (this.socket.readyState !== WebSocket.OPEN) return true;
    if (this.socket.bufferedAmount > this.maxBuffered) return false;
    this.socket.send(`${this.prefix}${payloadJson}}`);
    return true;
  }
}

/** Each subscription's sink, by its context (graphql-ws hands subscribe() only the execution's arguments). */
const sinks = new WeakMap<object, DirectSink>();

/** An error for one operation, with its code; the socket and its other operations go on. */
const coded = (error: GraphQLError, code: string) => new GraphQLError(error.message, { nodes: error.nodes, extensions: { code, ...error.extensions } });

/**
 * Serves graphql-ws on `server` at yoga's path; dispose() closes every socket (1001, Going away).
 *
 * Close codes, chosen for what graphql-ws clients (and Apollo's and urql's links on it) do next:
 * 4403 when the token has expired, at connect or later: the clients retry, calling a
 * connectionParams function again for a fresh token; 4401 for a missing or invalid token, which
 * they do not retry. Everything about one operation (parse, validation, limits, a failure while it
 * streams, too many subscriptions) is an error message for that operation, never a close.
 */
export function attachWebSocket(server: Server, yoga: YogaApp, services: Services) {
  const { logger, config } = services;
  const wss = new WebSocketServer({
    server,
    path: yoga.graphqlEndpoint,
    maxPayload: MAX_MESSAGE_BYTES,
    // A browser page on another site may not open a socket here (cross-site WebSocket hijacking);
    // clients that are not browsers send no Origin.
    verifyClient: ({ origin, req }: { origin?: string; req: IncomingMessage }) =>
      !origin || sameOrigin(origin, req.headers.host) || config.corsOrigins.includes(origin),
  });
  // One sweep for every socket instead of graphql-ws's timers per socket (keep-alive, and the wait
  // for connection_init): each sweep closes the sockets that have not initialised in time,
  // terminates those that did not answer the previous ping, and pings the rest (ws's README pattern).
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const socket of wss.clients as Set<SweptSocket>) {
      // A socket must initialise within one keep-alive period.
      if (!socket.initialised && now - (socket.openedAt ?? now) >= config.limits.wsKeepAliveMs) {
        socket.close(4408, "Connection initialisation timeout");
        continue;
      }
      if (socket.alive === false) {
        socket.terminate();
        continue;
      }
      socket.alive = false;
      socket.ping();
    }
  }, config.limits.wsKeepAliveMs);
  sweep.unref();
  wss.on("connection", (socket: SweptSocket) => {
    socket.alive = true;
    socket.openedAt = Date.now();
    socket.on("pong", markAlive);
  });
  const served = useServer<Record<string, unknown> | undefined, Extra>(
    {
      // The token comes in connectionParams (authorization: "Bearer …", or token).
      connectionInitWaitTimeout: 0, // the sweep below closes sockets that never initialise
      onConnect: async (ctx) => {
        const params = ctx.connectionParams ?? {};
        const raw = params.authorization ?? params.Authorization ?? params.token;
        const token = typeof raw === "string" ? (bearer(raw) ?? raw) : null;
        try {
          const { viewer, expiresAt } = await services.verify(token);
          ctx.extra.viewer = viewer;
          (ctx.extra.socket as SweptSocket).initialised = true;
          // The token is kept only where requests carry it on (Supabase's row-level security).
          if (services.store.capabilities.asUser) ctx.extra.accessToken = token ?? undefined;
          // Not kept for the socket's life either (set to undefined: a delete would make the object slow).
          for (const key of ["authorization", "Authorization", "token"]) if (key in params) (params as Record<string, unknown>)[key] = undefined;
          (ctx.extra as { request?: IncomingMessage }).request = undefined;
          if (expiresAt) ctx.extra.cancelExpiry = atExpiry(expiresAt, () => ctx.extra.socket.close(4403, "Token expired: reconnect with a fresh token"));
          return true;
        } catch (error) {
          if (error instanceof AuthError) {
            ctx.extra.socket.close(error.expired ? 4403 : 4401, error.message.slice(0, 120));
            return false;
          }
          throw error;
        }
      },
      onDisconnect: (ctx) => ctx.extra.cancelExpiry?.(),
      onClose: (ctx) => ctx.extra.cancelExpiry?.(),
      execute: (args: ExecutionArgs) => (args.rootValue as { execute: (a: ExecutionArgs) => ReturnType<typeof graphqlExecute> }).execute(args),
      // Subscribers with the same document, variables and viewer share one execution per event.
      subscribe: (args: ExecutionArgs) =>
        subscribeShared(
          args,
          (result) => ({ ...result, errors: result.errors?.map((e) => maskError(e, logger) as GraphQLError) }),
          sinks.get(args.contextValue as object),
        ),
      onSubscribe: async (ctx, id, params) => {
        // graphql-ws has already counted this one.
        const open = Object.keys(ctx.subscriptions).length;
        if (open > config.limits.maxSubscriptionsPerSocket) {
          return [
            new GraphQLError(
              `Too many operations on this connection (at most ${config.limits.maxSubscriptionsPerSocket}); close some or open another connection`,
              {
                extensions: { code: "BAD_USER_INPUT", limit: "subscriptionsPerSocket" },
              },
            ),
          ];
        }
        const { schema, execute, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params,
          viewer: ctx.extra.viewer,
          accessToken: ctx.extra.accessToken,
          // No expiry in the operation's context: here the socket expires (4403, which clients
          // retry, resubscribing); an operation that ended itself would not be resubscribed.
          expiresAt: null,
        });
        let document: DocumentNode;
        try {
          document = parse(params.query);
        } catch (error) {
          return [coded(error as GraphQLError, "GRAPHQL_PARSE_FAILED")];
        }
        let errors: readonly GraphQLError[];
        try {
          errors = validate(schema, document);
        } catch (error) {
          // The operation limits (depth, aliases, cost, directives) throw from validation.
          return [maskError(error, logger) as GraphQLError];
        }
        if (errors.length) return errors.map((e) => coded(e, "GRAPHQL_VALIDATION_FAILED"));
        // A subscription lives as long as the socket may: it keeps only its document and our own
        // context, not yoga's merged one (the socket, request and envelope), which is most of what
        // an idle subscriber would otherwise hold. It is executed by subscribeShared, not the envelope.
        if (getOperationAST(document, params.operationName)?.operation === "subscription") {
          const contextValue = createContext(services, ctx.extra.viewer, ctx.extra.accessToken, null);
          sinks.set(contextValue, new SocketSink(ctx.extra.socket, id, config.limits.wsMaxBufferedBytes));
          return { schema, operationName: params.operationName, document, variableValues: params.variables, contextValue };
        }
        return {
          schema,
          operationName: params.operationName,
          document,
          variableValues: params.variables,
          contextValue: await contextFactory(),
          rootValue: { execute },
        };
      },
    },
    wss,
    0, // keep-alive: the sweep above
  );
  // A client that breaks the protocol (a message over MAX_MESSAGE_BYTES, invalid UTF-8, a bad frame)
  // is closed by ws with the matching code (1009, 1007, 1002). graphql-ws would also print the error
  // with its stack to stderr, outside the log, once per such client; it is one log line instead.
  // Registered after useServer, so this runs after graphql-ws has added its listener.
  const protocolError = (error: Error & { code?: string }) =>
    logger.warn({ code: error.code, reason: error.message }, "closed a WebSocket that broke the protocol");
  wss.on("connection", (socket: WebSocket) => {
    socket.removeAllListeners("error");
    socket.on("error", protocolError);
  });
  return {
    async dispose() {
      clearInterval(sweep);
      await served.dispose();
    },
  };
}

/** A socket as the sweep sees it. */
type SweptSocket = WebSocket & { alive?: boolean; openedAt?: number; initialised?: boolean };

/** A pong handler shared by every socket (no closure per socket). */
function markAlive(this: SweptSocket) {
  this.alive = true;
}
