// The browser dashboard at `/`: its page, script and style (src/dashboard/), and the browser
// builds of the GraphQL clients it uses, all from this package: nothing from a CDN, no build
// step. The page runs the project's own typed operations (schema/operations, checked by codegen
// against the schema), handed to it by name with the fragments they use.
import { readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { gzipSync } from "node:zlib";
import { type DefinitionNode, type DocumentNode, Kind, parse, print, visit } from "graphql";
import type { Config } from "../config.ts";
import { packagePath } from "../paths.ts";

const read = (path: string) => readFileSync(packagePath(path));

/** The operations the page runs, by name. */
export const DASHBOARD_OPERATIONS = [
  "DashboardCursor",
  "DashboardFleet",
  "DashboardServerChanges",
  "DashboardEnvironmentChanges",
  "DashboardSummary",
  "StartServer",
  "StopServer",
  "RestartServer",
  "RefreshServerStatus",
  "TestServerConnection",
  "ServerLogs",
] as const;

/** Each named operation printed with every fragment it uses (transitively). */
export function operationsByName(documents: DocumentNode[], names: readonly string[]): Record<string, string> {
  const definitions = documents.flatMap((d) => d.definitions);
  const fragments = new Map<string, DefinitionNode>();
  for (const d of definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const operations: Record<string, string> = {};
  for (const name of names) {
    const operation = definitions.find((d) => d.kind === Kind.OPERATION_DEFINITION && d.name?.value === name);
    if (!operation) throw new Error(`The dashboard's operation ${name} is not in schema/operations`);
    const needed = new Set<string>();
    const collect = (node: DefinitionNode) =>
      visit(node, {
        FragmentSpread(spread) {
          if (needed.has(spread.name.value)) return;
          needed.add(spread.name.value);
          const fragment = fragments.get(spread.name.value);
          if (fragment) collect(fragment);
        },
      });
    collect(operation);
    operations[name] = [operation, ...[...needed].map((f) => fragments.get(f) as DefinitionNode)].map((d) => print(d)).join("\n\n");
  }
  return operations;
}

interface Asset {
  type: string;
  body: Buffer;
  gzip: Buffer;
}

const asset = (type: string, body: Buffer): Asset => ({ type, body, gzip: gzipSync(body, { level: 9 }) });

export interface DashboardOptions {
  config: Config;
  /** Headers the page starts with: the development token, as GraphiQL's (announceAuth). */
  headers?: Record<string, string>;
}

/** The dashboard's routes: answers GET / and /dashboard/*, or returns false. Assets are read once. */
export function dashboardRoutes({ config, headers }: DashboardOptions) {
  let assets: Map<string, Asset> | undefined;
  const supabase = config.supabase?.anonKey ? { url: config.supabase.url, anonKey: config.supabase.anonKey } : null;
  const load = () => {
    const operations = operationsByName(
      ["schema/operations/dashboard.graphql", "schema/operations/fleet-actions.graphql", "schema/operations/servers.graphql"].map((f) =>
        parse(read(f).toString("utf8")),
      ),
      DASHBOARD_OPERATIONS,
    );
    const settings = {
      operations,
      token: headers?.Authorization?.replace(/^Bearer /, "") ?? null,
      supabase,
    };
    // Data, not code (the page's policy runs no inline script); `<` escaped so it cannot end the tag.
    const tag = '<script id="settings" type="application/json">';
    const page = read("src/dashboard/index.html")
      .toString("utf8")
      .replace(`${tag}{}`, `${tag}${JSON.stringify(settings).replace(/</g, "\\u003c")}`);
    const js = "text/javascript; charset=utf-8";
    const map = new Map<string, Asset>([
      ["/", asset("text/html; charset=utf-8", Buffer.from(page))],
      ["/dashboard/app.js", asset(js, read("src/dashboard/app.js"))],
      ["/dashboard/style.css", asset("text/css; charset=utf-8", read("src/dashboard/style.css"))],
      ["/dashboard/graphql-ws.js", asset(js, read("node_modules/graphql-ws/umd/graphql-ws.min.js"))],
      ["/dashboard/graphql-sse.js", asset(js, read("node_modules/graphql-sse/umd/graphql-sse.min.js"))],
    ]);
    if (supabase) map.set("/dashboard/supabase.js", asset(js, read("node_modules/@supabase/supabase-js/dist/umd/supabase.js")));
    return map;
  };
  const policy = [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src 'self' ws: wss:${supabase ? ` ${new URL(supabase.url).origin}` : ""}`,
    "frame-ancestors 'none'",
  ].join("; ");

  return function serve(path: string, req: IncomingMessage, res: ServerResponse): boolean {
    if (req.method !== "GET" && req.method !== "HEAD") return false;
    if (path !== "/" && !path.startsWith("/dashboard/")) return false;
    assets ??= load();
    const found = assets.get(path);
    if (!found) return false;
    const gzip = /\bgzip\b/.test(String(req.headers["accept-encoding"] ?? ""));
    const body = gzip ? found.gzip : found.body;
    res.writeHead(200, {
      "content-type": found.type,
      "content-length": body.length,
      ...(gzip ? { "content-encoding": "gzip" } : {}),
      vary: "accept-encoding",
      // The page carries a development token: never cached; the assets change with releases.
      "cache-control": path === "/" ? "no-store" : "no-cache",
      "x-content-type-options": "nosniff",
      ...(path === "/" ? { "content-security-policy": policy, "referrer-policy": "no-referrer" } : {}),
    });
    res.end(req.method === "HEAD" ? undefined : body);
    return true;
  };
}
