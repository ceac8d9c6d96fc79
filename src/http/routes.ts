// The routes beside GraphQL, and the checks every request passes before yoga sees it: liveness,
// readiness, the metrics guard, the body cap, and the droplet agents' heartbeat.
import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Services } from "../app/index.ts";
import { bearer } from "../auth/verify.ts";
import { handleHeartbeat } from "../dtma/heartbeat.ts";
import { dashboardRoutes } from "./dashboard.ts";

/** The dashboard's routes of each app (its assets are read on the first visit). */
const dashboards = new WeakMap<Services, ReturnType<typeof dashboardRoutes>>();

/** Whether an Authorization header carries exactly `token` as a bearer token (compared in constant time). */
function bearerMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(bearer(header) ?? "");
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

const json = (res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}) =>
  void res.writeHead(status, { "content-type": "application/json", ...headers }).end(body);

function pathOf(url: string | undefined): string {
  try {
    // Built as yoga's server adapter builds its request URL (host + raw path), so both agree.
    return new URL(`http://localhost${url ?? "/"}`).pathname;
  } catch {
    return "";
  }
}

/** Answers the request if it is one of these routes or fails a check; false lets GraphQL have it. */
export async function handleRoute(req: IncomingMessage, res: ServerResponse, services: Services): Promise<boolean> {
  const { store, config, metrics, logger } = services;
  // One parse for every route: the path as the URL standard normalises it (dot segments, %2e), the
  // same path yoga routes by, so a guard cannot be walked around with /./metrics.
  const path = pathOf(req.url);
  if (path === "/health") {
    json(res, 200, '{"status":"ok"}');
    return true;
  }
  if (path === "/ready") {
    // Ready means reads answer and, when subscriptions are served, the change feed is connected.
    const feed = services.live ? (services.live.feedUp ? "up" : "down") : "off";
    try {
      await store.ping();
      json(res, feed === "down" ? 503 : 200, `{"status":"${feed === "down" ? "unavailable" : "ready"}","store":"${store.kind}","changeFeed":"${feed}"}`);
    } catch {
      json(res, 503, `{"status":"unavailable","store":"${store.kind}","changeFeed":"${feed}"}`);
    }
    return true;
  }
  if (config.metricsToken && path === "/metrics" && !bearerMatches(req.headers.authorization, config.metricsToken)) {
    json(res, 401, '{"error":"Send the metrics token as Authorization: Bearer <token>"}', { "www-authenticate": "Bearer" });
    return true;
  }
  // Bodies are capped before anything reads them; a body of unknown length is refused.
  if (req.method === "POST") {
    const length = Number(req.headers["content-length"]);
    if (!req.headers["content-length"] || !Number.isFinite(length)) {
      json(res, 411, '{"errors":[{"message":"Send a Content-Length header","extensions":{"code":"BAD_USER_INPUT"}}]}');
      return true;
    }
    if (length > config.limits.maxBodyBytes) {
      json(res, 413, `{"errors":[{"message":"The request body is larger than ${config.limits.maxBodyBytes} bytes","extensions":{"code":"BAD_USER_INPUT"}}]}`, {
        connection: "close",
      });
      req.resume();
      return true;
    }
  }
  if (path === "/dtma/heartbeat") {
    try {
      await handleHeartbeat(req, res, store, logger);
      metrics.heartbeats.inc({ outcome: String(res.statusCode) });
    } catch (error) {
      logger.error({ err: String(error) }, "heartbeat failed");
      if (!res.headersSent) json(res, 503, '{"error":"The heartbeat could not be stored; retry"}');
    }
    return true;
  }
  let dashboard = dashboards.get(services);
  if (!dashboard) dashboards.set(services, (dashboard = dashboardRoutes({ config, headers: services.graphiqlHeaders })));
  return dashboard(path, req, res);
}
