// With the Supabase store, every request a viewer's query makes carries that viewer's own access
// token, so upstream's row-level security applies on top of our own scoping.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signDevToken } from "../../src/auth/verify.ts";
import { capture, json, type Captured } from "../helpers/supabase-capture.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const SECRET = "supabase-token-secret-0123456789abcdef";
const ALICE = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
const BOB = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";

describe("Supabase store through the API", () => {
  let server: TestServer;
  let requests: Captured[];
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    const captured = capture(() => json([], { "content-range": "*/0" }));
    requests = captured.requests;
    tokens.alice = await signDevToken(SECRET, { sub: ALICE, role: "authenticated" });
    tokens.bob = await signDevToken(SECRET, { sub: BOB, role: "authenticated" });
    server = await startTestServer(captured.store, { env: { AUTH_DISABLED: "false", SUPABASE_JWT_SECRET: SECRET } });
  });
  afterAll(async () => server?.close());

  it.each(["alice", "bob"])("sends %s's requests with that viewer's own token and the project key", async (who) => {
    requests.length = 0;
    const res = await fetch(server.url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${tokens[who]}` },
      body: JSON.stringify({ query: "{ servers(first: 5) { totalCount edges { node { name } } } environments(first: 5) { totalCount } }" }),
    });
    expect(await res.json()).toEqual({ data: { servers: { totalCount: 0, edges: [] }, environments: { totalCount: 0 } } });
    expect(requests.length).toBeGreaterThanOrEqual(3);
    for (const req of requests) {
      expect(req.headers.authorization, `${req.method} ${req.path}`).toBe(`Bearer ${tokens[who]}`);
      expect(req.headers.apikey).toBe("service-role-key");
    }
  });
});
