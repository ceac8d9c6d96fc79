// The JSON lane (src/http/json-lane.ts) answers exactly as yoga does. Each request is sent twice
// to one server: to /graphql, which the lane takes, and to /graphql?via=yoga (the same endpoint for yoga,
// a URL the lane leaves alone); status, headers and body must match, and the lane must have
// served the first when it says it takes that kind of request.
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openApp } from "../../src/app/index.ts";
import { signDevToken } from "../../src/auth/verify.ts";
import { loadConfig } from "../../src/config.ts";
import { pgliteDb } from "../../src/data/db.ts";
import { createYogaApp } from "../../src/http/yoga.ts";
import { createLogger } from "../../src/log.ts";
import { migrate } from "../../src/data/migrate.ts";
import { SqlStore } from "../../src/data/sql-store.ts";
import { insertEnvironment, insertServer, USER_A } from "../../fixtures/fleet.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const SECRET = "json-lane-secret-0123456789abcdef0123456789";
const ISSUER = "https://project.supabase.co/auth/v1";
const FRIEND = "https://dashboard.example";
const BUDGET = 40;
const sign = (claims: { sub: string; role: "authenticated" | "service_role" }) => signDevToken(SECRET, claims, { audience: "authenticated", issuer: ISSUER });

/** Headers that differ between any two answers (the date) or only in framing. */
const UNCOMPARED = new Set(["date", "connection", "keep-alive", "transfer-encoding", "content-length"]);

async function answer(url: string, headers: Record<string, string>, body: string) {
  const res = await fetch(url, { method: "POST", headers, body });
  const text = await res.text();
  return {
    status: res.status,
    headers: Object.fromEntries([...res.headers].filter(([name]) => !UNCOMPARED.has(name))),
    // An unexpected error's id is new each time.
    body: text.replace(/"errorId":"[^"]+"/g, '"errorId":"…"'),
  };
}

describe("the JSON lane", () => {
  let server: TestServer;
  let user: string;
  let service: string;
  let serverId: string;

  beforeAll(async () => {
    const db = await pgliteDb(undefined);
    await migrate(db);
    const env = await insertEnvironment(db, { name: "lane", publicIp: "203.0.113.9" });
    serverId = await insertServer(db, { env, name: "s1", status: "running", heartbeatSecondsAgo: 5 });
    await insertServer(db, { env, name: "s2", status: "stopped" });
    server = await startTestServer(new SqlStore(db), {
      env: {
        AUTH_DISABLED: "false",
        SUPABASE_JWT_SECRET: SECRET,
        JWT_ISSUER: ISSUER,
        CORS_ORIGINS: FRIEND,
        INTROSPECTION: "false",
        GRAPHQL_MAX_DEPTH: "6",
        QUERY_COST_PER_MINUTE: String(BUDGET),
      },
    });
    user = await sign({ sub: USER_A, role: "authenticated" });
    service = await sign({ sub: USER_A, role: "service_role" });
  });
  afterAll(async () => server?.close());

  const json = (token?: string, extra: Record<string, string> = {}) => ({
    "content-type": "application/json",
    ...(token ? { authorization: `Bearer ${token}` } : {}),
    ...extra,
  });
  const body = (query: string, rest: Record<string, unknown> = {}) => JSON.stringify({ query, ...rest });
  const PAGE = "query Page { servers(first: 5) { totalCount edges { node { id name rawStatus status { state health } environment { name } } } } }";

  // [what, headers, body, taken by the lane]
  const cases: Array<[string, () => Record<string, string>, () => string, boolean]> = [
    ["a named query", () => json(service), () => body(PAGE), true],
    ["a query as a signed-in user (row-level visibility)", () => json(user), () => body("{ servers(first: 5) { totalCount } }"), true],
    ["a query with variables", () => json(service), () => body("query($id: ID!) { server(id: $id) { name } }", { variables: { id: serverId } }), true],
    [
      "one of several operations, by name",
      () => json(service),
      () => body("query A { __typename } query B { environments { totalCount } }", { operationName: "B" }),
      true,
    ],
    ["a mutation refused for bad input", () => json(service), () => body('mutation { startServer(id: "nope") { id } }'), true],
    ["no token", () => json(), () => body("{ servers(first: 5) { totalCount } }"), true],
    ["a bad token", () => json("not.a.jwt"), () => body("{ servers(first: 5) { totalCount } }"), true],
    ["an unknown field (validation)", () => json(service), () => body("{ servers(first: 5) { nope } }"), true],
    [
      "an unknown field, accepting graphql-response+json",
      () => json(service, { accept: "application/graphql-response+json" }),
      () => body("{ servers(first: 5) { nope } }"),
      true,
    ],
    ["an unknown field, accepting application/json", () => json(service, { accept: "application/json" }), () => body("{ servers(first: 5) { nope } }"), true],
    ["a variable of the wrong type", () => json(service), () => body("query($n: Int) { servers(first: $n) { totalCount } }", { variables: { n: "x" } }), true],
    [
      "a query over the depth limit",
      () => json(service),
      () => body("{ servers(first: 1) { edges { node { environment { servers(first: 1) { edges { node { name } } } } } } } }"),
      true,
    ],
    ["introspection, which is off", () => json(service), () => body("{ __schema { types { name } } }"), true],
    [
      "urql's Accept header",
      () => json(service, { accept: "application/graphql-response+json, application/graphql+json, application/json, text/event-stream, multipart/mixed" }),
      () => body(PAGE),
      true,
    ],
    ["Apollo's Accept header", () => json(service, { accept: "application/graphql-response+json,application/json;q=0.9" }), () => body(PAGE), true],
    ["a listed origin (CORS headers)", () => json(service, { origin: FRIEND }), () => body(PAGE), true],
    ["an origin not listed (no CORS headers)", () => json(service, { origin: "https://evil.example" }), () => body(PAGE), true],
    ["a charset parameter", () => ({ ...json(service), "content-type": "application/json; charset=utf-8" }), () => body(PAGE), true],
    ["an unknown parameter", () => json(service), () => JSON.stringify({ query: PAGE, nope: 1 }), true],
    ["variables that are not an object", () => json(service), () => JSON.stringify({ query: PAGE, variables: [1] }), true],
    [
      "over the query budget (429, Retry-After)",
      () => json(user),
      () => body("{ a: servers(first: 100) { edges { node { name environment { name } } } } }"),
      true,
    ],
    // Left to yoga: each still gets yoga's answer.
    ["invalid JSON", () => json(service), () => "{ nope", false],
    ["a batch", () => json(service), () => JSON.stringify([{ query: PAGE }]), false],
    ["a query that is not a string", () => json(service), () => JSON.stringify({ query: 1 }), false],
    ["a syntax error", () => json(service), () => body("{ servers("), false],
    ["an operation name that is not in the document", () => json(service), () => body(PAGE, { operationName: "Other" }), false],
    ["an Accept header only yoga's streams answer", () => json(service, { accept: "text/event-stream" }), () => body(PAGE), false],
    ["an Accept header nothing answers", () => json(service, { accept: "text/html" }), () => body(PAGE), false],
    ["a document over the token limit", () => json(service), () => body(`{ ${"__typename ".repeat(4000)}}`), false],
  ];

  it.each(cases)("%s", async (_what, headers, payload, taken) => {
    const before = server.app.lane.served;
    const viaLane = await answer(server.url, headers(), payload());
    expect(server.app.lane.served - before).toBe(taken ? 1 : 0);
    const viaYoga = await answer(`${server.url}?via=yoga`, headers(), payload());
    expect(server.app.lane.served - before).toBe(taken ? 1 : 0);
    expect(viaLane).toEqual(viaYoga);
  });

  it("stands in for each of yoga's adapter hooks it does not run (a new one must be looked at)", async () => {
    const db = await pgliteDb(undefined);
    const services = await openApp(loadConfig({ AUTH_DISABLED: "true", LOG_LEVEL: "silent", CORS_ORIGINS: FRIEND }), createLogger("silent"), {
      store: new SqlStore(db),
      live: false,
    });
    try {
      const plugins = (createYogaApp(services) as unknown as { plugins: Array<Record<string, unknown>> }).plugins.filter(Boolean);
      const withHook = (hook: string) => plugins.filter((p) => typeof p[hook] === "function").length;
      // onRequest: the health check, CORS (preflight), GraphiQL, Prometheus (its start time and
      // /metrics) and the unhandled-route check; none acts on a POST of JSON to /graphql but
      // Prometheus's start time, and the onResponse parts of CORS and Prometheus, which the lane
      // performs itself (CORS headers, the HTTP histogram). onResultProcess: the result
      // processors, whose choice the lane asks for.
      expect({ onRequest: withHook("onRequest"), onResponse: withHook("onResponse"), onResultProcess: withHook("onResultProcess") }).toEqual({
        onRequest: 6,
        onResponse: 2,
        onResultProcess: 1,
      });
    } finally {
      await services.close();
    }
  });

  it("hands a subscription over POST to yoga, which streams it as server-sent events", async () => {
    const before = server.app.lane.served;
    const controller = new AbortController();
    const res = await fetch(server.url, {
      method: "POST",
      headers: json(service, { accept: "text/event-stream" }),
      body: body("subscription { serverChanged { kind } }"),
      signal: controller.signal,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    controller.abort();
    expect(server.app.lane.served).toBe(before);
  });

  it("counts the lane's requests in yoga's HTTP histogram, with the same labels", async () => {
    const count = async () => {
      const text = await (await fetch(server.url.replace("/graphql", "/metrics"))).text();
      const line = text
        .split("\n")
        .find((l) => l.startsWith('graphql_yoga_http_duration_count{operationName="Page",operationType="query",method="POST",statusCode="200"}'));
      return Number(line?.split(" ")[1] ?? 0);
    };
    const before = await count();
    await answer(server.url, json(service), body(PAGE));
    expect(await count()).toBe(before + 1);
    await answer(`${server.url}?via=yoga`, json(service), body(PAGE));
    expect(await count()).toBe(before + 2);
  });

  it("keeps serving when a client goes away in the middle of its body", async () => {
    const { port } = new URL(server.url);
    const socket = connect(Number(port), "127.0.0.1");
    await new Promise((resolve) => socket.once("connect", resolve));
    socket.write('POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"query":');
    await new Promise((resolve) => setTimeout(resolve, 50));
    socket.destroy();
    const res = await answer(server.url, json(service), body("{ environments { totalCount } }"));
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ data: { environments: { totalCount: 1 } } });
  });
});
