// graphql-ws on the HTTP server's port and path, executed through yoga's envelope (same schema,
// context, plugins and error masking as HTTP), with the token given in connectionParams.
import type { IncomingMessage, Server } from "node:http";
import type { DocumentNode, ExecutionArgs, GraphQLError, execute as graphqlExecute } from "graphql";
import { useServer } from "graphql-ws/use/ws";
import { WebSocketServer, type WebSocket } from "ws";
import type { Services } from "../app/index.ts";
import { AuthError, bearer } from "../auth/verify.ts";
import type { Viewer } from "../auth/visibility.ts";
import { maskError } from "./errors.ts";
import { subscribeShared } from "./shared-execution.ts";
import type { YogaApp } from "./yoga.ts";

/** Largest message a client may send (a graphql-ws message is a small JSON document). */
const MAX_MESSAGE_BYTES = 1024 * 1024;

type Extra = {
  request: IncomingMessage;
  socket: WebSocket;
  viewer?: Viewer;
  accessToken?: string;
  expiry?: NodeJS.Timeout;
};

/** Serves graphql-ws on `server` at yoga's path; dispose() closes every socket. */
export function attachWebSocket(server: Server, yoga: YogaApp, services: Services) {
  const { logger } = services;
  const wss = new WebSocketServer({ server, path: yoga.graphqlEndpoint, maxPayload: MAX_MESSAGE_BYTES });
  return useServer<Record<string, unknown> | undefined, Extra>(
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
            ctx.extra.expiry = setTimeout(
              () => ctx.extra.socket.close(4401, "Token expired: reconnect with a fresh token"),
              Math.max(0, expiresAt.getTime() - Date.now()),
            );
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
      execute: (args: ExecutionArgs) => (args.rootValue as { execute: (a: ExecutionArgs) => ReturnType<typeof graphqlExecute> }).execute(args),
      // Subscribers with the same document, variables and viewer share one execution per event.
      subscribe: (args: ExecutionArgs) =>
        subscribeShared(args, (result) => ({ ...result, errors: result.errors?.map((e) => maskError(e, logger) as GraphQLError) })),
      onSubscribe: async (ctx, _id, params) => {
        const { schema, execute, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params,
          viewer: ctx.extra.viewer,
          accessToken: ctx.extra.accessToken,
        });
        let document: DocumentNode;
        try {
          document = parse(params.query);
        } catch (error) {
          return [error as GraphQLError];
        }
        const errors = validate(schema, document);
        if (errors.length) return errors;
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
  );
}
