// Authentication through the started server: HTTP, SSE and graphql-ws.
import { createHmac } from "node:crypto";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import { createVerifier, signDevToken } from "../../src/auth/verify.ts";
import { ConfigError, loadConfig } from "../../src/config.ts";
import { pgliteDb } from "../../src/data/db.ts";
import { migrate } from "../../src/data/migrate.ts";
import { SqlStore } from "../../src/data/sql-store.ts";
import { insertEnvironment, insertServer, USER_A } from "../../fixtures/fleet.ts";
import { codes, startTestServer, type TestServer } from "../helpers/server.ts";

const SECRET = "test-secret-0123456789abcdef0123456789abcdef";
const ISSUER = "https://project.supabase.co/auth/v1";
const sign = (claims: Record<string, unknown>, opts: { secret?: string; aud?: string; iss?: string; exp?: string | number } = {}) => {
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256" })
    .setIssuedAt()
    .setAudience(opts.aud ?? "authenticated")
    .setIssuer(opts.iss ?? ISSUER)
    .setExpirationTime(opts.exp ?? "1h");
  return jwt.sign(new TextEncoder().encode(opts.secret ?? SECRET));
};
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");

describe("authentication", () => {
  let server: TestServer;
  let good: string;

  beforeAll(async () => {
    const db = await pgliteDb(undefined);
    await migrate(db);
    const env = await insertEnvironment(db, { name: "mine", publicIp: "203.0.113.1" });
    await insertServer(db, { env, name: "s", status: "running" });
    server = await startTestServer(new SqlStore(db), {
      live: { coalesceMs: 5 },
      env: { AUTH_DISABLED: "false", SUPABASE_JWT_SECRET: SECRET, JWT_ISSUER: ISSUER },
    });
    good = await sign({ sub: USER_A, role: "authenticated" });
  });
  afterAll(async () => server?.close());

  const post = async (token?: string) => {
    const res = await fetch(server.url, {
      method: "POST",
      headers: { "content-type": "application/json", ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query: "{ servers(first: 5) { totalCount } }" }),
    });
    return { status: res.status, body: (await res.json()) as { data?: any; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> } };
  };

  it("serves a valid token", async () => {
    const r = await post(good);
    expect(r.body.errors).toBeUndefined();
    expect(r.body.data.servers.totalCount).toBe(1);
  });

  it("refuses a request without a token with UNAUTHENTICATED, 401 and WWW-Authenticate: Bearer", async () => {
    const r = await post();
    expect(codes(r.body)).toEqual(["UNAUTHENTICATED"]);
    expect(r.body.data).toBeUndefined();
    const res = await fetch(server.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "{ servers { totalCount } }" }),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe("Bearer");
  });

  it("answers a malformed id in node(id) with BAD_USER_INPUT", async () => {
    const res = await fetch(server.url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${good}` },
      body: JSON.stringify({ query: '{ node(id: "garbage") { id } }' }),
    });
    const body = await res.json();
    expect(codes(body)).toEqual(["BAD_USER_INPUT"]);
    expect(body.errors[0].message).toMatch(/"garbage" is not a valid id/);
  });

  it.each([
    ["expired", async () => sign({ sub: USER_A, role: "authenticated" }, { exp: Math.floor(Date.now() / 1000) - 60 }), /expired/],
    ["signed with another secret", async () => sign({ sub: USER_A, role: "authenticated" }, { secret: "x".repeat(40) }), /not valid/],
    ["for another audience", async () => sign({ sub: USER_A, role: "authenticated" }, { aud: "other" }), /aud/],
    ["from another issuer", async () => sign({ sub: USER_A, role: "authenticated" }, { iss: "https://evil.example/auth/v1" }), /iss/],
    [
      "with alg none",
      async () =>
        `${b64({ alg: "none", typ: "JWT" })}.${b64({ sub: USER_A, role: "service_role", aud: "authenticated", iss: ISSUER, exp: Math.floor(Date.now() / 1000) + 3600 })}.`,
      /not valid/,
    ],
    [
      "with a forged HS256 signature over service_role",
      async () => {
        const head = b64({ alg: "HS256", typ: "JWT" });
        const body = b64({ sub: USER_A, role: "service_role", aud: "authenticated", iss: ISSUER, exp: Math.floor(Date.now() / 1000) + 3600 });
        return `${head}.${body}.${createHmac("sha256", "guess").update(`${head}.${body}`).digest("base64url")}`;
      },
      /not valid/,
    ],
    ["malformed", async () => "not.a.jwt", /not valid/],
    ["anonymous (anon role)", async () => sign({ sub: USER_A, role: "anon" }), /anonymous/],
  ])("refuses a token %s", async (_what, make, message) => {
    const r = await post(await make());
    expect(codes(r.body)).toEqual(["UNAUTHENTICATED"]);
    expect(r.body.errors![0].message).toMatch(message);
  });

  it("authenticates SSE subscriptions from the request headers", async () => {
    const refused = await fetch(server.url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify({ query: "subscription { serverChanged { kind } }" }),
    });
    expect(await refused.text()).toContain("UNAUTHENTICATED");
  });

  it("refuses a WebSocket without a valid token, saying why", async () => {
    const closed = await new Promise<{ code: number; reason: string }>((resolve) => {
      const client = createClient({
        url: server.url.replace("http", "ws"),
        webSocketImpl: WebSocket,
        retryAttempts: 0,
        connectionParams: { authorization: "Bearer nope" },
        on: { closed: (e: any) => resolve({ code: e.code, reason: e.reason }) },
      });
      client.subscribe({ query: "subscription { serverChanged { kind } }" }, { next: () => undefined, error: () => undefined, complete: () => undefined });
    });
    expect(closed.code).toBe(4401);
    expect(closed.reason).toMatch(/not valid/);
  });

  it("closes a WebSocket when its token expires with 4403 (which clients retry with a fresh token), with a clear reason", async () => {
    const short = await sign({ sub: USER_A, role: "authenticated" }, { exp: Math.floor(Date.now() / 1000) + 2 });
    const started = Date.now();
    const closed = await new Promise<{ code: number; reason: string }>((resolve) => {
      const client = createClient({
        url: server.url.replace("http", "ws"),
        webSocketImpl: WebSocket,
        retryAttempts: 0,
        connectionParams: { authorization: `Bearer ${short}` },
        on: { closed: (e: any) => resolve({ code: e.code, reason: e.reason }) },
      });
      client.subscribe({ query: "subscription { serverChanged { kind } }" }, { next: () => undefined, error: () => undefined, complete: () => undefined });
    });
    expect(closed).toEqual({ code: 4403, reason: "Token expired: reconnect with a fresh token" });
    expect(Date.now() - started).toBeLessThan(6000);
  });
});

describe("auth configuration", () => {
  it("refuses to start in production without a way to verify tokens", () => {
    expect(() => loadConfig({ NODE_ENV: "production" })).toThrow(/SUPABASE_JWT_SECRET.*SUPABASE_URL/s);
  });
  it("refuses AUTH_DISABLED in production", () => {
    expect(() => loadConfig({ NODE_ENV: "production", AUTH_DISABLED: "true", SUPABASE_JWT_SECRET: SECRET })).toThrow(ConfigError);
  });
  it("uses the project's JWKS and issuer when SUPABASE_URL is set", () => {
    expect(loadConfig({ SUPABASE_URL: "https://p.supabase.co", SUPABASE_ANON_KEY: "k" }).auth).toEqual({
      mode: "jwks",
      jwksUrl: "https://p.supabase.co/auth/v1/.well-known/jwks.json",
      audience: "authenticated",
      issuer: "https://p.supabase.co/auth/v1",
    });
  });
  it.each([
    ["the embedded database on loopback", {}, "hs256"],
    ["the embedded database on ::1", { HOST: "::1" }, "hs256"],
    ["DATABASE_URL", { DATABASE_URL: "postgres://127.0.0.1/x" }, "unconfigured"],
    ["DATABASE_URL with an empty NODE_ENV", { DATABASE_URL: "postgres://127.0.0.1/x", NODE_ENV: "" }, "unconfigured"],
    ["HOST=0.0.0.0", { HOST: "0.0.0.0" }, "unconfigured"],
    ["DATABASE_URL with DEV_AUTH=true", { DATABASE_URL: "postgres://127.0.0.1/x", DEV_AUTH: "true" }, "hs256"],
  ])("self-signs development tokens only where allowed: %s", async (_what, env, mode) => {
    const { auth } = loadConfig(env);
    expect(auth.mode).toBe(mode);
    if (auth.mode === "unconfigured") await expect(createVerifier(auth)("anything")).rejects.toThrow(/no way to verify/);
  });

  it("refuses DEV_AUTH in production", () => {
    expect(() => loadConfig({ NODE_ENV: "production", DEV_AUTH: "true", SUPABASE_JWT_SECRET: SECRET })).toThrow(/DEV_AUTH=true is refused/);
  });

  it("signs its own tokens in development when no key is set", async () => {
    const auth = loadConfig({}).auth;
    expect(auth).toMatchObject({ mode: "hs256", ephemeral: true });
    expect(await signDevToken((auth as { secret: string }).secret, { sub: USER_A, role: "authenticated" })).toMatch(/^ey/);
  });
});

describe("verified-token memory", () => {
  const config = { mode: "hs256", secret: SECRET, audience: "authenticated", issuer: ISSUER, ephemeral: false } as const;
  afterAll(() => vi.useRealTimers());

  it("honours a remembered token only until it expires", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const verify = createVerifier(config);
    const token = await sign({ sub: USER_A, role: "authenticated" }, { exp: Math.floor(Date.now() / 1000) + 30 });
    expect((await verify(token)).viewer.userId).toBe(USER_A);
    expect((await verify(token)).viewer.userId).toBe(USER_A); // from memory
    vi.setSystemTime(Date.now() + 40_000); // past exp and the 5 s tolerance
    await expect(verify(token)).rejects.toThrow(/expired/);
    vi.useRealTimers();
  });

  it("never lets a remembered token vouch for a different one", async () => {
    const verify = createVerifier(config);
    const token = await sign({ sub: USER_A, role: "authenticated" });
    await verify(token);
    const [h, p] = token.split(".");
    const forged = `${h}.${b64({ ...JSON.parse(Buffer.from(p, "base64url").toString()), role: "service_role" })}.${token.split(".")[2]}`;
    await expect(verify(forged)).rejects.toThrow(/not valid/);
  });
});

describe("production mode", () => {
  let server: TestServer;
  let token: string;
  beforeAll(async () => {
    const db = await pgliteDb(undefined);
    await migrate(db);
    server = await startTestServer(new SqlStore(db), {
      env: { NODE_ENV: "production", AUTH_DISABLED: "false", SUPABASE_JWT_SECRET: SECRET, JWT_ISSUER: ISSUER },
    });
    token = await sign({ sub: USER_A, role: "authenticated" });
  });
  afterAll(async () => server?.close());

  it("serves no GraphiQL page", async () => {
    const page = await fetch(server.url, { headers: { accept: "text/html" } });
    expect(await page.text()).not.toMatch(/graphiql/i);
  });

  it("refuses introspection and suggests no field names, even to a signed-in user", async () => {
    const ask = async (query: string) =>
      (await (
        await fetch(server.url, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
          body: JSON.stringify({ query }),
        })
      ).json()) as { data?: any; errors?: Array<{ message: string }> };
    const schema = await ask("{ __schema { types { name } } }");
    expect(schema.data).toBeUndefined();
    expect(schema.errors?.[0].message).toMatch(/introspection/i);
    expect((await ask("{ servrs { totalCount } }")).errors?.[0].message).not.toMatch(/Did you mean/);
    expect((await ask("{ servers(first: 1) { totalCount } }")).data).toEqual({ servers: { totalCount: 0 } });
  });
});

describe("development mode", () => {
  it("serves GraphiQL and introspection", async () => {
    const db = await pgliteDb(undefined);
    await migrate(db);
    const server = await startTestServer(new SqlStore(db));
    try {
      expect(await (await fetch(server.url, { headers: { accept: "text/html" } })).text()).toMatch(/graphiql/i);
      expect((await server.gql("{ __schema { queryType { name } } }")).body.data).toEqual({ __schema: { queryType: { name: "Query" } } });
    } finally {
      await server.close();
    }
  });
});
