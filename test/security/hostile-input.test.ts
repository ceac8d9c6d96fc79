// Hostile input: every request gets a clear error, and the server answers a normal query right after.
import { request as httpRequest } from "node:http";
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished, vi } from "vitest";
import WebSocket from "ws";
import { pgliteDb } from "../../src/data/db.ts";
import { migrate } from "../../src/data/migrate.ts";
import { SqlStore } from "../../src/data/sql-store.ts";
import { DtmaSimulator } from "../../src/demo/simulator.ts";
import { insertEnvironment, insertServer } from "../../fixtures/fleet.ts";
import { codes, startTestServer, type TestServer } from "../helpers/server.ts";
import { selectAll } from "../helpers/selection.ts";
import { capturingLogger } from "../helpers/logs.ts";
import { until } from "../helpers/wait.ts";

describe("hostile input", () => {
  let server: TestServer;
  let sim: DtmaSimulator;
  let envId: string;
  let serverId: string;
  const logs = capturingLogger("info");

  beforeAll(async () => {
    sim = await new DtmaSimulator({ apiKey: "k" }).start();
    const db = await pgliteDb(undefined);
    await migrate(db);
    envId = await insertEnvironment(db, { name: "e", publicIp: "127.0.0.1" });
    serverId = await insertServer(db, { env: envId, name: "s", status: "running" });
    server = await startTestServer(new SqlStore(db), {
      logger: logs.logger,
      live: {},
      env: { INTROSPECTION: "false", RATE_LIMIT_PER_MINUTE: "3", DTMA_PORT: String(sim.port), DTMA_API_KEY: "k" },
    });
  });
  afterAll(async () => {
    await server?.close();
    await sim?.stop();
  });
  afterEach(async () => {
    // The server is still there, answering.
    expect((await server.gql(`{ servers(first: 1) { totalCount } }`)).body.data.servers.totalCount).toBe(1);
  });

  const raw = (body: string, headers: Record<string, string> = {}) =>
    fetch(server.url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });

  // Each limit answers BAD_USER_INPUT naming the limit (extensions.limit, and the message without
  // Armor's "Syntax Error:" prefix), over HTTP; none of them is logged as a server error.
  const deep = `{ servers { edges { node { environment { servers { edges { node { environment { servers { edges { node { environment { name } } } } } } } } } } } } }`;
  it.each([
    ["deep nesting", deep, "depth", /^Query depth limit of 12 exceeded/],
    [
      "1,000 aliases (the token limit stops it first)",
      `{ ${Array.from({ length: 1000 }, (_, i) => `a${i}: servers(first: 1) { totalCount }`).join(" ")} }`,
      "tokens",
      /^Token limit of 3000 exceeded/,
    ],
    [
      "more aliases than allowed, even in a short document",
      `{ ${Array.from({ length: 20 }, (_, i) => `a${i}: servers(first: 1) { totalCount }`).join(" ")} }`,
      "aliases",
      /^Aliases limit of 15 exceeded/,
    ],
    ["a document with too many tokens", `{ servers(first: 1) { ${"totalCount ".repeat(4000)} } }`, "tokens", /^Token limit of 3000 exceeded/],
    [
      "a document whose cost is above the limit (within depth, aliases and tokens)",
      `{ environments(first: 100) { edges { node { ${selectAll("Environment", 4)} } } } }`,
      "cost",
      /^Query Cost limit of 50000 exceeded/i,
    ],
    [
      "more than 20 directives",
      `{ servers(first: 1) { ${Array.from({ length: 21 }, () => "totalCount @include(if: true)").join(" ")} } }`,
      "directives",
      /directive/i,
    ],
  ])("refuses %s", async (_what, query, limit, message) => {
    const errorsLogged = logs.records().filter((r) => (r.level as number) >= 50).length;
    const { body } = await server.gql(query);
    expect(body.data).toBeUndefined();
    expect(body.errors).toEqual([{ message: expect.stringMatching(message), extensions: { code: "BAD_USER_INPUT", limit } }]);
    expect(logs.records().filter((r) => (r.level as number) >= 50).length).toBe(errorsLogged);
  });

  it("refuses a huge string argument with BAD_USER_INPUT", async () => {
    const { body } = await server.gql(`query($s: String) { servers(filter: { search: $s }) { totalCount } }`, { s: "x".repeat(100_000) });
    expect(codes(body)).toEqual(["BAD_USER_INPUT"]);
  });

  it.each([
    ["DateTime", `subscription($s: DateTime) { serverChanged(since: $s) { kind } }`, { s: "yesterday" }],
    ["ID list", `query($e: [ID!]) { servers(filter: { environmentIds: $e }) { totalCount } }`, { e: [{ nested: true }] }],
    ["Int", `query($n: Int) { servers(first: $n) { totalCount } }`, { n: 1e20 }],
  ])("refuses an invalid %s variable with BAD_USER_INPUT", async (_what, query, variables) => {
    const res = await raw(JSON.stringify({ query, variables }));
    const body = (await res.json()) as any;
    expect(codes(body)).toEqual(["BAD_USER_INPUT"]);
  });

  it("refuses batched operations", async () => {
    const res = await raw(JSON.stringify([{ query: "{ servers { totalCount } }" }, { query: "{ servers { totalCount } }" }]));
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(JSON.stringify(await res.json())).toMatch(/error/i);
  });

  it("refuses an oversized body with 413, before reading it", async () => {
    const res = await raw(JSON.stringify({ query: `{ servers { totalCount } }`, variables: { pad: "x".repeat(300 * 1024) } }));
    expect(res.status).toBe(413);
    expect(await res.text()).toMatch(/larger than 262144 bytes/);
  });

  it("refuses a body without a length with 411", async () => {
    const url = new URL(server.url);
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        {
          host: url.hostname,
          port: url.port,
          path: "/graphql",
          method: "POST",
          headers: { "content-type": "application/json", "transfer-encoding": "chunked" },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      req.end(JSON.stringify({ query: "{ servers { totalCount } }" }));
    });
    expect(status).toBe(411);
  });

  it("answers a NUL character in input with BAD_USER_INPUT", async () => {
    const { body } = await server.gql(`query($s: String) { servers(filter: { search: $s }) { totalCount } }`, { s: "a\u0000b" });
    expect(codes(body)).toEqual(["BAD_USER_INPUT"]);
  });

  it("refuses malformed JSON", async () => {
    const res = await raw("{not json");
    expect(res.status).toBe(400);
  });

  it("closes a WebSocket that sends malformed messages, and keeps serving others", async () => {
    const ws = new WebSocket(server.url.replace("http", "ws"), "graphql-transport-ws");
    const closed = await new Promise<number>((resolve) => {
      ws.on("open", () => ws.send("}{ definitely not graphql-ws"));
      ws.on("close", (code) => resolve(code));
    });
    expect(closed).toBe(4400);
  });

  it("closes a WebSocket that sends a message over 1 MiB (1009), logs it in one line, and keeps serving others", async () => {
    const printed: unknown[] = [];
    const consoleError = vi.spyOn(console, "error").mockImplementation((...args) => void printed.push(args));
    onTestFinished(() => consoleError.mockRestore());
    const ws = new WebSocket(server.url.replace("http", "ws"), "graphql-transport-ws");
    const closed = await new Promise<number>((resolve) => {
      ws.on("open", () => ws.send(JSON.stringify({ type: "connection_init", payload: { pad: "x".repeat(1024 * 1024) } })));
      ws.on("close", (code) => resolve(code));
    });
    expect(closed).toBe(1009);
    // Said once in the log, as one line, without a stack (graphql-ws would print one to stderr).
    await until(() => logs.records().some((r) => r.msg === "closed a WebSocket that broke the protocol"), "the log line");
    expect(logs.records().filter((r) => r.msg === "closed a WebSocket that broke the protocol")).toEqual([
      expect.objectContaining({ level: 40, code: "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH", reason: "Max payload size exceeded" }),
    ]);
    expect(printed).toEqual([]);
    const fine = new WebSocket(server.url.replace("http", "ws"), "graphql-transport-ws");
    const acked = await new Promise<string>((resolve) => {
      fine.on("open", () => fine.send(JSON.stringify({ type: "connection_init", payload: { pad: "x".repeat(1000 * 1024) } })));
      fine.on("message", (data) => resolve(JSON.parse(String(data)).type));
    });
    expect(acked).toBe("connection_ack");
    fine.close();
  });

  it("refuses introspection and hides field suggestions when introspection is off", async () => {
    const { body } = await server.gql(`{ __schema { types { name } } }`);
    expect(body.errors?.[0].message).toMatch(/introspection/i);
    const typo = await server.gql(`{ servrs { totalCount } }`);
    expect(typo.body.errors?.[0].message).not.toMatch(/Did you mean/);
  });

  it("rate-limits mutations that reach droplets, per viewer, saying when to retry", async () => {
    const refresh = () => server.gql(`mutation($id: ID!) { refreshEnvironmentStatus(id: $id) { status } }`, { id: envId });
    for (let i = 0; i < 3; i++) expect((await refresh()).body.errors).toBeUndefined();
    const limited = await refresh();
    expect(codes(limited.body)).toEqual(["RATE_LIMITED"]);
    expect(limited.body.errors![0].extensions!.retryAfterSeconds).toBeGreaterThan(0);
    // A bulk action counts each server against the same limit: with the bucket empty, each is refused.
    const bulk = await server.gql(`mutation($ids: [ID!]!) { bulkServerAction(action: REFRESH, ids: $ids) { ok error { code } } }`, {
      ids: [serverId, serverId],
    });
    expect(bulk.body.data.bulkServerAction).toEqual([
      { ok: false, error: { code: "RATE_LIMITED" } },
      { ok: false, error: { code: "RATE_LIMITED" } },
    ]);
  });
});
