// Cross-site requests against a development instance (AUTH_DISABLED=true): a page on another site
// must not be able to drive the API with a form post, a plain GET, a CORS read or a WebSocket.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { pgliteDb } from "../../src/data/db.ts";
import { migrate } from "../../src/data/migrate.ts";
import { SqlStore } from "../../src/data/sql-store.ts";
import { insertEnvironment } from "../../fixtures/fleet.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const EVIL = "https://evil.example";
const FRIEND = "https://dashboard.example";

describe("cross-site requests", () => {
  let server: TestServer;
  let envId: string;

  beforeAll(async () => {
    const db = await pgliteDb(undefined);
    await migrate(db);
    envId = await insertEnvironment(db, { name: "dev", publicIp: "127.0.0.1" });
    server = await startTestServer(new SqlStore(db), { env: { AUTH_DISABLED: "true", CORS_ORIGINS: FRIEND, DTMA_API_KEY: "k", DTMA_TIMEOUT_MS: "200" } });
  });
  afterAll(async () => server?.close());

  it.each([
    ["application/x-www-form-urlencoded", (q: string) => new URLSearchParams({ query: q }).toString()],
    ["text/plain", (q: string) => JSON.stringify({ query: q })],
    [
      "multipart/form-data; boundary=x",
      (q: string) => `--x\r\nContent-Disposition: form-data; name="operations"\r\n\r\n${JSON.stringify({ query: q })}\r\n--x--\r\n`,
    ],
  ])("refuses a %s POST (a form any page can submit) without executing it", async (contentType, body) => {
    const mutation = `mutation { refreshEnvironmentStatus(id: "${envId}") { status } }`;
    const res = await fetch(server.url, { method: "POST", headers: { "content-type": contentType, origin: EVIL }, body: body(mutation) });
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ errors: [{ message: expect.stringMatching(/CSRF/), extensions: { code: "BAD_USER_INPUT" } }] });
  });

  it("refuses a plain GET without a script-only header, and serves one with it", async () => {
    const url = `${server.url}?query=${encodeURIComponent("{ environments { totalCount } }")}`;
    expect((await fetch(url, { headers: { accept: "application/json" } })).status).toBe(403);
    const ok = await fetch(url, { headers: { accept: "application/json", "x-graphql-yoga-csrf": "1" } });
    expect(await ok.json()).toEqual({ data: { environments: { totalCount: 1 } } });
  });

  it("gives CORS access to listed origins only (same origin by default)", async () => {
    const ask = (origin: string) =>
      fetch(server.url, {
        method: "POST",
        headers: { "content-type": "application/json", origin },
        body: JSON.stringify({ query: "{ environments { totalCount } }" }),
      });
    const evil = await ask(EVIL);
    expect(evil.headers.get("access-control-allow-origin")).toBeNull();
    expect(evil.headers.get("access-control-allow-credentials")).toBeNull();
    const friend = await ask(FRIEND);
    expect(friend.headers.get("access-control-allow-origin")).toBe(FRIEND);
    const preflight = await fetch(server.url, { method: "OPTIONS", headers: { origin: EVIL, "access-control-request-method": "POST" } });
    expect(preflight.headers.get("access-control-allow-origin")).toBeNull();
  });

  it.each([
    [EVIL, "refused", 401],
    [FRIEND, "accepted", 101],
    [undefined, "accepted (not a browser)", 101],
  ] as const)("a WebSocket from origin %s is %s", async (origin, _what, expected) => {
    const ws = new WebSocket(server.url.replace("http", "ws"), "graphql-transport-ws", origin ? { origin } : {});
    const status = await new Promise<number>((resolve) => {
      ws.on("upgrade", (res) => resolve(res.statusCode ?? 0));
      ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
      ws.on("error", () => undefined);
    });
    ws.terminate();
    expect(status).toBe(expected);
  });

  it("accepts a WebSocket from its own origin", async () => {
    const own = new URL(server.url).origin;
    const ws = new WebSocket(server.url.replace("http", "ws"), "graphql-transport-ws", { origin: own });
    const status = await new Promise<number>((resolve) => {
      ws.on("upgrade", (res) => resolve(res.statusCode ?? 0));
      ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
    });
    ws.terminate();
    expect(status).toBe(101);
  });
});
