// The live path as front ends use it, with graphql-ws's own client, Apollo, urql, graphql-sse and a raw SSE stream: token
// refresh without losing a change, tokens of any lifetime, SSE ending at the token's expiry, and one
// operation's problem never closing the socket its neighbours share.
import { createClient, type Client } from "graphql-ws";
import { SignJWT } from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { pgliteDb, type Db } from "../../src/data/db.ts";
import { migrate } from "../../src/data/migrate.ts";
import { SqlStore } from "../../src/data/sql-store.ts";
import type { LiveFleet } from "../../src/live/fleet.ts";
import { insertEnvironment, insertServer, USER_A } from "../../fixtures/fleet.ts";
import { selectAll } from "../helpers/selection.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { disposeRetryingClient, subscribeWs } from "../helpers/subscriptions.ts";
import { until } from "../helpers/wait.ts";

const SECRET = "clients-secret-0123456789abcdef0123456789";
const ISSUER = "https://project.supabase.co/auth/v1";
const token = (lifetimeSeconds: number) =>
  new SignJWT({ sub: USER_A, role: "authenticated" })
    .setProtectedHeader({ alg: "HS256" })
    .setIssuedAt()
    .setAudience("authenticated")
    .setIssuer(ISSUER)
    .setExpirationTime(Math.floor(Date.now() / 1000) + lifetimeSeconds)
    .sign(new TextEncoder().encode(SECRET));

describe("live clients", () => {
  let db: Db;
  let server: TestServer & { live?: LiveFleet };
  let env: string;
  const servers: string[] = [];

  beforeAll(async () => {
    db = await pgliteDb(undefined);
    await migrate(db);
    env = await insertEnvironment(db, { name: "live", publicIp: "203.0.113.44" });
    for (let i = 0; i < 40; i++)
      servers.push(await insertServer(db, { env, name: `s-${String(i).padStart(2, "0")}`, status: "running", heartbeatSecondsAgo: 1 }));
    server = await startTestServer(new SqlStore(db), {
      live: { coalesceMs: 5 },
      env: { AUTH_DISABLED: "false", SUPABASE_JWT_SECRET: SECRET, JWT_ISSUER: ISSUER, MAX_SUBSCRIPTIONS_PER_SOCKET: "5" },
    });
  });
  afterAll(async () => server?.close());
  // Each test starts with no subscription left open by the one before.
  afterEach(async () => until(() => server.live!.serverEvents.size + server.live!.environmentEvents.size === 0, "the previous test's subscriptions to close"));

  const wsUrl = () => server.url.replace("http", "ws");

  /** graphql-ws's client as an app sets it up: connectionParams returns a fresh 2-second token each time. */
  const refreshingClient = () => {
    const counted = { connections: 0 };
    const client = createClient({
      url: wsUrl(),
      webSocketImpl: WebSocket,
      connectionParams: async () => ({ authorization: `Bearer ${await token(2)}` }),
      retryAttempts: Number.POSITIVE_INFINITY,
      retryWait: () => new Promise((r) => setTimeout(r, 50)),
      on: { connected: () => counted.connections++ },
    });
    return { client, counted };
  };

  /**
   * Writes `versions` to one server each, one every `spacingMs` (for longer than three 2-second
   * tokens live, so some land while the client reconnects), then expects `seen` to hold each exactly once.
   */
  const expectEveryChangeOnce = async (seen: string[], prefix: string, count: number, spacingMs: number) => {
    const written: string[] = [];
    for (const [i, id] of servers.slice(0, count).entries()) {
      await db.query("UPDATE account_tool_instances SET version = $1 WHERE id = $2", [`${prefix}${i}`, id]);
      written.push(`s-${String(i).padStart(2, "0")}=${prefix}${i}`);
      await new Promise((r) => setTimeout(r, spacingMs));
    }
    await until(() => seen.length >= written.length, "every change", 10_000).catch((error) => {
      throw new Error(`${error.message}; missing: ${written.filter((w) => !seen.includes(w)).join(", ")}; seen: ${seen.join(", ")}`);
    });
    expect([...seen].sort()).toEqual([...written].sort());
  };

  it("holds a subscription across three expiries of 2-second tokens with graphql-ws's client, receiving every change once", async () => {
    // What an app does: connectionParams is a function returning its current token, and the last
    // event's cursor is kept in the subscription's variables (the client sends them again on reconnect).
    const { client, counted } = refreshingClient();
    const payload = {
      query: "subscription($after: String) { serverChanged(after: $after) { server { name version } cursor } }",
      variables: { after: null as string | null },
    };
    const seen: string[] = [];
    client.subscribe<{ serverChanged: { server: { name: string; version: string | null }; cursor: string } }>(payload, {
      next: ({ data }) => {
        const e = data!.serverChanged;
        if (e.server.version?.startsWith("v")) seen.push(`${e.server.name}=${e.server.version}`);
        payload.variables.after = e.cursor;
      },
      error: (e) => seen.push(`error ${JSON.stringify(e)}`),
      complete: () => undefined,
    });
    try {
      await until(() => server.live!.serverEvents.size === 1, "the subscription");
      await expectEveryChangeOnce(seen, "v", servers.length, 175);
      expect(counted.connections).toBeGreaterThanOrEqual(4);
    } finally {
      await disposeRetryingClient(client);
    }
  });

  it("holds a subscription across three expiries of 2-second tokens with urql's subscriptionExchange, receiving every change once", async () => {
    const { Client, fetchExchange, subscriptionExchange } = await import("@urql/core");
    const { client: wsClient, counted } = refreshingClient();
    // The variables the app keeps current: graphql-ws sends this object again on reconnect.
    const variables = { after: null as string | null };
    const urql = new Client({
      url: server.url,
      exchanges: [
        fetchExchange,
        subscriptionExchange({
          forwardSubscription: (request) => {
            const payload = { ...request, query: request.query ?? "", variables };
            return { subscribe: (sink) => ({ unsubscribe: wsClient.subscribe(payload, sink) }) };
          },
        }),
      ],
    });
    const seen: string[] = [];
    const { unsubscribe } = urql
      .subscription<{ serverChanged: { server: { name: string; version: string | null }; cursor: string } }>(
        "subscription ($after: String) { serverChanged(after: $after) { server { name version } cursor } }",
        variables,
      )
      .subscribe((result) => {
        if (result.error) return void seen.push(`error ${result.error.message}`);
        const e = result.data!.serverChanged;
        if (e.server.version?.startsWith("urql-")) seen.push(`${e.server.name}=${e.server.version}`);
        variables.after = e.cursor;
      });
    try {
      await until(() => server.live!.serverEvents.size === 1, "the subscription");
      await expectEveryChangeOnce(seen, "urql-", 30, 230);
      expect(counted.connections).toBeGreaterThanOrEqual(4);
    } finally {
      unsubscribe();
      await disposeRetryingClient(wsClient);
    }
  });

  it("holds a subscription across three expiries of 2-second tokens with Apollo Client's GraphQLWsLink, receiving every change once", async () => {
    const { ApolloClient, ApolloLink, InMemoryCache, gql } = await import("@apollo/client");
    const { GraphQLWsLink } = await import("@apollo/client/link/subscriptions");
    const { client: wsClient, counted } = refreshingClient();
    // The variables the app keeps current. Apollo copies an operation's variables, so a one-line
    // link hands the WebSocket link this object instead; graphql-ws sends it again on reconnect.
    const variables = { after: null as string | null };
    const keepCursor = new ApolloLink((operation, forward) => {
      operation.variables = variables;
      return forward(operation);
    });
    const apollo = new ApolloClient({ link: ApolloLink.from([keepCursor, new GraphQLWsLink(wsClient)]), cache: new InMemoryCache() });
    const seen: string[] = [];
    const subscription = apollo
      .subscribe<{ serverChanged: { server: { id: string; name: string; version: string | null }; cursor: string } }>({
        query: gql`
          subscription Watch($after: String) {
            serverChanged(after: $after) {
              server {
                id
                name
                version
              }
              cursor
            }
          }
        `,
        variables,
      })
      .subscribe({
        next: (result) => {
          if (result.error) return void seen.push(`error ${result.error.message}`);
          const e = result.data!.serverChanged;
          if (e.server.version?.startsWith("apollo-")) seen.push(`${e.server.name}=${e.server.version}`);
          variables.after = e.cursor;
        },
        error: (error) => seen.push(`error ${String(error)}`),
      });
    try {
      await until(() => server.live!.serverEvents.size === 1, "the subscription");
      await expectEveryChangeOnce(seen, "apollo-", 30, 230);
      expect(counted.connections).toBeGreaterThanOrEqual(4);
    } finally {
      subscription.unsubscribe();
      await disposeRetryingClient(wsClient);
    }
  });

  it.each([
    ["30 days", 30 * 86_400],
    ["10 years", 10 * 365 * 86_400],
  ])("keeps a WebSocket whose token lives %s open, and serves it", async (_what, lifetime) => {
    const client = createClient({
      url: wsUrl(),
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      connectionParams: { authorization: `Bearer ${await token(lifetime)}` },
    });
    let closed: number | undefined;
    client.on("closed", (e) => (closed = (e as { code: number }).code));
    try {
      const sub = subscribeWs(client, `subscription($id: [ID!]) { serverChanged(filter: { serverIds: $id }) { server { version } } }`, { id: [servers[0]] });
      await until(() => server.live!.serverEvents.size === 1, "the subscription");
      await db.query("UPDATE account_tool_instances SET version = $1 WHERE id = $2", [`lives ${lifetime}`, servers[0]]);
      expect((await sub.next()).serverChanged.server.version).toBe(`lives ${lifetime}`);
      expect(closed).toBeUndefined();
      await sub.close();
    } finally {
      await client.dispose();
    }
  });

  it("ends an SSE subscription when its token expires, with a coded UNAUTHENTICATED error", async () => {
    const started = Date.now();
    const res = await fetch(server.url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream", authorization: `Bearer ${await token(2)}` },
      body: JSON.stringify({ query: "subscription { serverChanged { server { name } } }" }),
    });
    expect(res.status).toBe(200);
    const text = await res.text(); // the stream ends by itself
    const messages = text
      .split("\n\n")
      .map((block) => block.split("\n").find((l) => l.startsWith("data:")))
      .filter((l): l is string => !!l && l.length > 6)
      .map((l) => JSON.parse(l.slice(5)));
    expect(messages.at(-1)).toMatchObject({ errors: [{ message: expect.stringMatching(/expired/i), extensions: { code: "UNAUTHENTICATED" } }] });
    expect(Date.now() - started).toBeGreaterThan(1000);
    expect(Date.now() - started).toBeLessThan(6000);
  });

  it("with graphql-sse's client: a stream ends at its token's expiry with UNAUTHENTICATED, and resubscribing with a fresh token and the cursor loses no change", async () => {
    const { createClient: createSseClient } = await import("graphql-sse");
    // What an app does over SSE: headers() returns its current token; on UNAUTHENTICATED it
    // subscribes again with the last event's cursor.
    const sse = createSseClient({
      url: server.url,
      singleConnection: false,
      headers: async () => ({ authorization: `Bearer ${await token(2)}` }),
    });
    const variables = { after: null as string | null };
    const seen: string[] = [];
    const codes: string[] = [];
    let subscriptions = 0;
    let stop = () => {};
    let stopped = false;
    const subscribe = () => {
      if (stopped) return;
      subscriptions++;
      stop = sse.subscribe<{ serverChanged: { server: { name: string; version: string | null }; cursor: string } }>(
        { query: "subscription($after: String) { serverChanged(after: $after) { server { name version } cursor } }", variables: { ...variables } },
        {
          next: ({ data, errors }) => {
            if (errors) return void codes.push(...errors.map((e) => String(e.extensions?.code)));
            const e = data!.serverChanged;
            if (e.server.version?.startsWith("sse-")) seen.push(`${e.server.name}=${e.server.version}`);
            variables.after = e.cursor;
          },
          error: (error) => seen.push(`error ${String(error)}`),
          // Ended by the server (token expired): come back; not after the test stopped it.
          complete: () => void (stopped || setTimeout(subscribe, 50)),
        },
      );
    };
    subscribe();
    try {
      await until(() => server.live!.serverEvents.size === 1, "the subscription");
      await expectEveryChangeOnce(seen, "sse-", 20, 250);
      expect(subscriptions).toBeGreaterThanOrEqual(3);
      expect(new Set(codes)).toEqual(new Set(["UNAUTHENTICATED"]));
    } finally {
      stopped = true;
      stop();
      sse.dispose();
    }
  });

  it("answers each over-limit or malformed operation with its own coded error while the socket's other subscription keeps receiving", async () => {
    const client = createClient({
      url: wsUrl(),
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      connectionParams: { authorization: `Bearer ${await token(600)}` },
    });
    let closed: number | undefined;
    client.on("closed", (e) => (closed = (e as { code: number }).code));
    try {
      const watching = subscribeWs(client, `subscription($id: [ID!]) { serverChanged(filter: { serverIds: $id }) { server { version } } }`, {
        id: [servers[1]],
      });
      await until(() => server.live!.serverEvents.size === 1, "the watching subscription");
      const deep = `{ servers { edges { node { environment { servers { edges { node { environment { servers { edges { node { environment { name } } } } } } } } } } } } }`;
      const cases: Array<[string, string, string, RegExp]> = [
        ["depth", deep, "BAD_USER_INPUT", /^Query depth limit/],
        ["aliases", `{ ${Array.from({ length: 20 }, (_, i) => `a${i}: servers(first: 1) { totalCount }`).join(" ")} }`, "BAD_USER_INPUT", /alias/i],
        ["cost", `{ environments(first: 100) { edges { node { ${selectAll("Environment", 4)} } } } }`, "BAD_USER_INPUT", /cost/i],
        [
          "directives",
          `{ servers(first: 1) { ${Array.from({ length: 21 }, () => "totalCount @include(if: true)").join(" ")} } }`,
          "BAD_USER_INPUT",
          /directive/i,
        ],
        ["tokens", `{ servers(first: 1) { ${"totalCount ".repeat(4000)} } }`, "BAD_USER_INPUT", /^Token limit/],
        ["syntax", "subscription { serverChanged {", "GRAPHQL_PARSE_FAILED", /Syntax Error/],
        ["unknown field", "subscription { serverChanged { nope } }", "GRAPHQL_VALIDATION_FAILED", /nope/],
      ];
      for (const [what, query, code, message] of cases) {
        const errors = await new Promise<Array<{ message: string; extensions?: { code?: string } }>>((resolve) => {
          client.subscribe({ query }, { next: () => undefined, error: (e) => resolve(e as never), complete: () => resolve([]) });
        });
        expect(errors, what).toEqual([expect.objectContaining({ message: expect.stringMatching(message), extensions: expect.objectContaining({ code }) })]);
      }
      await db.query("UPDATE account_tool_instances SET version = 'still-here' WHERE id = $1", [servers[1]]);
      expect((await watching.next()).serverChanged.server.version).toBe("still-here");
      expect(closed).toBeUndefined();
      await watching.close();
    } finally {
      await client.dispose();
    }
  });

  it("gives events the ids a client caches by, and embedded objects as they are now", async () => {
    const client = createClient({
      url: wsUrl(),
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      connectionParams: { authorization: `Bearer ${await token(600)}` },
    });
    const gql = async (query: string, variables?: Record<string, unknown>) =>
      (await (
        await fetch(server.url, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${await token(600)}` },
          body: JSON.stringify({ query, variables }),
        })
      ).json()) as { data: any };
    try {
      const id = servers[3];
      const { data } = await gql(`query($id: ID!) { server(id: $id) { id environment { id } } }`, { id });
      const changes = subscribeWs(
        client,
        `subscription($id: [ID!]) { serverChanged(filter: { serverIds: $id }) { serverId server { id lastConnectionTest { id success } } } }`,
        { id: [id] },
      );
      const droplets = subscribeWs(client, "subscription { environmentChanged { environmentId environment { id } } }");
      await until(() => server.live!.serverEvents.size === 1 && server.live!.environmentEvents.size === 1, "the subscriptions");
      const test = (success: boolean) =>
        db.query<{ id: string }>("INSERT INTO mcp_connection_tests (account_tool_instance_id, success, latency_ms) VALUES ($1, $2, 5) RETURNING id", [
          id,
          success,
        ]);
      await test(false);
      await db.query("UPDATE account_tool_instances SET version = 'first' WHERE id = $1", [id]);
      const first = (await changes.next()).serverChanged;
      expect(first).toMatchObject({ serverId: data.server.id, server: { id: data.server.id, lastConnectionTest: { success: false } } });
      await test(true);
      await db.query("UPDATE account_tool_instances SET version = 'second' WHERE id = $1", [id]);
      const second = (await changes.next()).serverChanged;
      // The newest test, not the one the subscription's first event read.
      expect(second.server.lastConnectionTest.success).toBe(true);
      expect(second.server.lastConnectionTest.id).not.toBe(first.server.lastConnectionTest.id);
      const { data: again } = await gql(`query($id: ID!) { server(id: $id) { lastConnectionTest { id } } }`, { id });
      expect(again.server.lastConnectionTest.id).toBe(second.server.lastConnectionTest.id);
      await db.query("UPDATE account_tool_environments SET description = 'cached' WHERE id = $1", [env]);
      expect((await droplets.next()).environmentChanged).toEqual({
        environmentId: data.server.environment.id,
        environment: { id: data.server.environment.id },
      });
      await changes.close();
      await droplets.close();
    } finally {
      await client.dispose();
    }
  });

  it("refuses subscriptions past the per-socket cap with a coded error, and serves the others", async () => {
    const client: Client = createClient({
      url: wsUrl(),
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      connectionParams: { authorization: `Bearer ${await token(600)}` },
    });
    try {
      const subs = Array.from({ length: 5 }, () =>
        subscribeWs(client, `subscription($id: [ID!]) { serverChanged(filter: { serverIds: $id }) { server { version } } }`, { id: [servers[2]] }),
      );
      await until(() => server.live!.serverEvents.size === 5, "five subscriptions");
      const refused = await new Promise<Array<{ message: string; extensions?: { code?: string } }>>((resolve) => {
        client.subscribe(
          { query: "subscription { serverChanged { server { name } } }" },
          { next: () => undefined, error: (e) => resolve(e as never), complete: () => resolve([]) },
        );
      });
      expect(refused).toEqual([
        expect.objectContaining({ message: expect.stringMatching(/at most 5/), extensions: expect.objectContaining({ code: "BAD_USER_INPUT" }) }),
      ]);
      await db.query("UPDATE account_tool_instances SET version = 'capped' WHERE id = $1", [servers[2]]);
      for (const sub of subs) expect((await sub.next()).serverChanged.server.version).toBe("capped");
      await Promise.all(subs.map((s) => s.close()));
    } finally {
      await client.dispose();
    }
  });
});
