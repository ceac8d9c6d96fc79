// The per-viewer query budget: one viewer's heavy queries wait their turn, in cost units as the
// cost limit counts them, on every transport and across replicas through Redis.
import { randomBytes } from "node:crypto";
import { parse } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RateLimiter } from "../../src/auth/rate-limit.ts";
import { signDevToken } from "../../src/auth/verify.ts";
import { pgliteDb, type Db } from "../../src/data/db.ts";
import { migrate } from "../../src/data/migrate.ts";
import { SqlStore } from "../../src/data/sql-store.ts";
import { documentCost } from "../../src/http/query-budget.ts";
import { buildSchema } from "../../src/schema/index.ts";
import { REDIS_URL, describeRedis } from "../helpers/redis.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { wsClient } from "../helpers/subscriptions.ts";

const SECRET = "query-budget-secret-0123456789abcdef0123";
const ALICE = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
const BOB = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";
const PAGE = "{ servers(first: 100) { edges { node { id name status { state health } environment { id name status } } } } }";
const COST = documentCost(buildSchema(), parse(PAGE));
// Room for three such pages a minute.
const BUDGET = Math.floor(COST * 3.5);

async function post(server: TestServer, token: string, query: string) {
  const res = await fetch(server.url, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query }),
  });
  return { status: res.status, retryAfter: res.headers.get("retry-after"), body: (await res.json()) as { data?: unknown; errors?: any[] } };
}

describe("bucket by cost", () => {
  it("takes a request's cost, refuses what is not there and says when it will be", () => {
    let now = 0;
    const bucket = new RateLimiter(600, () => now);
    expect(bucket.take("a", 500)).toEqual({ ok: true });
    expect(bucket.take("a", 200)).toEqual({ ok: false, retryAfterSeconds: 10 });
    now += 10_000;
    expect(bucket.take("a", 200)).toEqual({ ok: true });
    // Above a full bucket: it waits for a full bucket rather than never passing.
    now += 60_000;
    expect(bucket.take("a", 10_000)).toEqual({ ok: true });
  });
});

describe("query budget through the API", () => {
  let db: Db;
  let server: TestServer;
  let alice: string;
  let bob: string;
  let service: string;

  beforeAll(async () => {
    db = await pgliteDb(undefined);
    await migrate(db);
    [alice, bob, service] = await Promise.all([
      signDevToken(SECRET, { sub: ALICE, role: "authenticated" }),
      signDevToken(SECRET, { sub: BOB, role: "authenticated" }),
      signDevToken(SECRET, { sub: "00000000-0000-4000-8000-00000000ffff", role: "service_role" }),
    ]);
    server = await startTestServer(new SqlStore(db), { env: { AUTH_DISABLED: "false", SUPABASE_JWT_SECRET: SECRET, QUERY_COST_PER_MINUTE: String(BUDGET) } });
  });
  afterAll(() => server?.close());

  it("serves a viewer's queries until their budget is spent, then answers 429 RATE_LIMITED with when to retry; others keep theirs", async () => {
    for (let i = 0; i < 3; i++) expect((await post(server, alice, PAGE)).body.errors).toBeUndefined();
    const refused = await post(server, alice, PAGE);
    expect(refused.status).toBe(429);
    expect(refused.body.data).toBeUndefined();
    expect(refused.body.errors![0]).toMatchObject({ extensions: { code: "RATE_LIMITED", limit: "queryCost", cost: COST } });
    expect(refused.body.errors![0].message).toMatch(/query budget .* is used up; retry in \d+ s/);
    const wait = refused.body.errors![0].extensions.retryAfterSeconds;
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(60);
    expect(refused.retryAfter).toBe(String(wait));
    // A cheap query still fits in what is left.
    expect((await post(server, alice, "{ fleetSummary { servers } }")).body.errors).toBeUndefined();
    // Bob's budget is his own, and the service role (the trusted back end) is not counted.
    expect((await post(server, bob, PAGE)).body.errors).toBeUndefined();
    for (let i = 0; i < 5; i++) expect((await post(server, service, PAGE)).body.errors).toBeUndefined();
  });

  it("refuses over WebSocket with the same coded error, and the socket keeps serving", async () => {
    const client = wsClient(server.url, { authorization: `Bearer ${alice}` });
    try {
      const run = (query: string) =>
        new Promise<{ data?: unknown; errors?: any[] }>((resolve) => {
          let result: { data?: unknown; errors?: any[] } = {};
          client.subscribe(
            { query },
            { next: (v) => (result = v as typeof result), error: (e) => resolve({ errors: e as any[] }), complete: () => resolve(result) },
          );
        });
      const refused = await run(PAGE);
      expect(refused.errors![0].extensions).toMatchObject({ code: "RATE_LIMITED", limit: "queryCost" });
      const cheap = await run("{ fleetSummary { servers } }");
      expect(cheap.errors).toBeUndefined();
      expect(cheap.data).toBeDefined();
    } finally {
      await client.dispose();
    }
  });
});

describeRedis("query budget shared through Redis", () => {
  let servers: TestServer[] = [];
  let token: string;
  beforeAll(async () => {
    const db = await pgliteDb(undefined);
    await migrate(db);
    token = await signDevToken(SECRET, { sub: ALICE, role: "authenticated" });
    const env = {
      AUTH_DISABLED: "false",
      SUPABASE_JWT_SECRET: SECRET,
      REDIS_URL,
      REDIS_CHANNEL: `budget-${randomBytes(4).toString("hex")}`,
      QUERY_COST_PER_MINUTE: String(BUDGET),
    };
    const store = new SqlStore(db);
    servers = [await startTestServer(store, { env }), await startTestServer(store, { env })];
  });
  afterAll(async () => {
    for (const s of servers) await s.close().catch(() => undefined);
  });

  it("spends one budget per viewer on every replica", async () => {
    const statuses: number[] = [];
    for (const s of [servers[0], servers[1], servers[0], servers[1]]) statuses.push((await post(s, token, PAGE)).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
  });
});
