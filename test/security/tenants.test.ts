// Tenant isolation through the started server: two users and the service role.
import { encodeGlobalID } from "@pothos/plugin-relay";
import { createClient } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { signDevToken } from "../../src/auth/verify.ts";
import type { Db } from "../../src/data/db.ts";
import { migrate } from "../../src/data/migrate.ts";
import { SqlStore } from "../../src/data/sql-store.ts";
import type { LiveFleet } from "../../src/live/fleet.ts";
import { insertEnvironment, insertServer } from "../../fixtures/fleet.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { sqlTargets } from "../helpers/targets.ts";
import { until } from "../helpers/wait.ts";
import { ENVIRONMENTS_BY_ID, pagesTogether } from "../helpers/pages-together.ts";

const SECRET = "tenant-secret-0123456789abcdef0123456789";
const ALICE = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
const BOB = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";

/** The store, recording whose rows each replay read (a replay must read only the viewer's own). */
class RecordingStore extends SqlStore {
  readonly replayedOwners: Array<string | null> = [];
  override async serversChangedSince(...args: Parameters<SqlStore["serversChangedSince"]>) {
    const page = await super.serversChangedSince(...args);
    const owners = new Map(page.environments.map((e) => [e.id, e.userId]));
    for (const row of page.rows) this.replayedOwners.push(owners.get(row.environmentId) ?? null);
    return page;
  }
}

describe.each(sqlTargets)("tenant isolation on $name", (target) => {
  let db: Db;
  let close: () => Promise<void>;
  let server: TestServer & { live?: LiveFleet };
  let store: RecordingStore;
  const tokens: Record<string, string> = {};
  // Waits for exactly `n` live server subscriptions: a count of "at least n" could be met by a
  // previous test's subscriptions that the server has not finished closing.
  const subscribers = async (n: number) => {
    await until(() => server.live!.serverEvents.size === n, `exactly ${n} subscriptions`);
  };
  const ids: Record<string, string> = {};

  const as = async (who: string, query: string, variables?: Record<string, unknown>, url = server.url) => {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${tokens[who]}` },
      body: JSON.stringify({ query, variables }),
    });
    return (await res.json()) as { data?: any; errors?: Array<{ message: string; extensions?: { code?: string } }> };
  };

  beforeAll(async () => {
    ({ db, close } = await target.open());
    await migrate(db);
    for (const [who, user] of [
      ["alice", ALICE],
      ["bob", BOB],
    ] as const) {
      const env = await insertEnvironment(db, { name: `${who}-droplet`, publicIp: "203.0.113.1" });
      await db.query("UPDATE account_tool_environments SET user_id = $1 WHERE id = $2", [user, env]);
      ids[`${who}Env`] = env;
      for (let i = 0; i < 3; i++) ids[`${who}${i}`] = await insertServer(db, { env, name: `${who}-${i}`, status: "running", heartbeatSecondsAgo: 1 });
    }
    tokens.alice = await signDevToken(SECRET, { sub: ALICE, role: "authenticated" });
    tokens.bob = await signDevToken(SECRET, { sub: BOB, role: "authenticated" });
    tokens.service = await signDevToken(SECRET, { sub: "00000000-0000-4000-8000-00000000ffff", role: "service_role" });
    server = await startTestServer((store = new RecordingStore(db)), {
      live: { coalesceMs: 5 },
      env: { AUTH_DISABLED: "false", SUPABASE_JWT_SECRET: SECRET, DTMA_API_KEY: "k" },
    });
  });
  afterAll(async () => {
    await server?.close();
    await close?.();
  });

  it("lists and counts only the viewer's own servers and environments; the service role sees all", async () => {
    const q = `{ servers(first: 50) { totalCount edges { node { name } } } environments(first: 50) { totalCount edges { node { name servers(first: 10) { totalCount } } } } }`;
    const alice = (await as("alice", q)).data;
    expect(alice.servers.totalCount).toBe(3);
    expect(alice.servers.edges.map((e: any) => e.node.name)).toEqual(["alice-0", "alice-1", "alice-2"]);
    expect(alice.environments).toEqual({ totalCount: 1, edges: [{ node: { name: "alice-droplet", servers: { totalCount: 3 } } }] });
    const service = (await as("service", q)).data;
    expect(service.servers.totalCount).toBe(6);
    expect(service.environments.totalCount).toBe(2);
  });

  it("returns null for another tenant's server and environment, by UUID, global id or node(id)", async () => {
    const g = encodeGlobalID("MCPServer", ids.bob0);
    const r = await as(
      "alice",
      `query($u: ID!, $g: ID!, $e: ID!) { a: server(id: $u) { name } b: server(id: $g) { name } n: node(id: $g) { id } e: environment(id: $e) { name } }`,
      { u: ids.bob0, g, e: ids.bobEnv },
    );
    expect(r).toEqual({ data: { a: null, b: null, n: null, e: null } });
  });

  it("reveals nothing through filters or cursors", async () => {
    const byEnv = await as("alice", `query($e: ID!) { servers(filter: { environmentIds: [$e] }) { totalCount edges { node { name } } } }`, { e: ids.bobEnv });
    expect(byEnv.data.servers).toEqual({ totalCount: 0, edges: [] });
    const bobPage = await as("bob", `{ servers(first: 1) { pageInfo { endCursor } } }`);
    const after = await as("alice", `query($c: String) { servers(first: 10, after: $c) { edges { node { name } } } }`, {
      c: bobPage.data.servers.pageInfo.endCursor,
    });
    expect(after.data.servers.edges.every((e: any) => e.node.name.startsWith("alice-"))).toBe(true);
  });

  it("gives two tenants whose pages share one droplets statement only their own droplets", async () => {
    const shared = await startTestServer(new SqlStore(pagesTogether(db, 2).db), {
      env: { AUTH_DISABLED: "false", SUPABASE_JWT_SECRET: SECRET, DTMA_API_KEY: "k" },
    });
    const texts: string[] = [];
    const off = db.onStatement((t) => texts.push(t));
    try {
      const q = `{ servers(first: 10) { edges { node { name environment { name publicIP } } } } }`;
      const answers = await Promise.all(["alice", "bob"].map(async (who) => ({ who, body: await as(who, q, undefined, shared.url) })));
      // One statement read both tenants' droplets (no per-request fallback read either).
      expect(texts.filter((t) => t.includes(ENVIRONMENTS_BY_ID))).toHaveLength(1);
      for (const { who, body } of answers) {
        expect(body.data.servers.edges.map((e: any) => e.node.environment.name)).toEqual([`${who}-droplet`, `${who}-droplet`, `${who}-droplet`]);
      }
    } finally {
      off();
      await shared.close();
    }
  });

  it("refuses every mutation on another tenant's server or droplet, and changes nothing", async () => {
    const before = await db.query("SELECT id, status_on_toolbox FROM account_tool_instances ORDER BY id");
    for (const m of ["startServer", "stopServer", "restartServer", "refreshServerStatus", "testServerConnection"]) {
      const r = await as("alice", `mutation($id: ID!) { ${m}(id: $id) { __typename } }`, { id: ids.bob1 });
      expect(
        r.errors?.map((e) => e.extensions?.code),
        m,
      ).toEqual(["NOT_FOUND"]);
    }
    expect((await as("alice", `mutation($id: ID!) { deleteServer(id: $id) { deletedServerId } }`, { id: ids.bob1 })).errors![0].extensions!.code).toBe(
      "NOT_FOUND",
    );
    expect((await as("alice", `mutation($id: ID!) { refreshEnvironmentStatus(id: $id) { status } }`, { id: ids.bobEnv })).errors![0].extensions!.code).toBe(
      "NOT_FOUND",
    );
    const deploy = await as("alice", `mutation($e: ID!) { deployServer(input: { environmentId: $e, image: "img:1", name: "intruder" }) { id } }`, {
      e: ids.bobEnv,
    });
    expect(deploy.errors![0].extensions!.code).toBe("NOT_FOUND");
    expect(await db.query("SELECT id, status_on_toolbox FROM account_tool_instances ORDER BY id")).toEqual(before);
  });

  // Each subscription: a change to bob's row, then alice's, then bob's again, each once the one
  // before was delivered. Events on a socket arrive in publication order, so a leak shows before
  // the event each viewer waits for: alice's first event would be bob's, bob's second alice's.
  const testRow = (server: string) =>
    db.query("INSERT INTO mcp_connection_tests (account_tool_instance_id, success, latency_ms, server_info) VALUES ($1, true, 5, $2::jsonb)", [
      server,
      JSON.stringify({ name: server === ids.alice0 ? "alice" : "bob" }),
    ]);
  it.each([
    {
      name: "serverChanged",
      hub: "serverEvents",
      query: "subscription { serverChanged { server { name } } }",
      pick: (d: any) => d.serverChanged.server.name,
      change: (who: string, n: number) => db.query("UPDATE account_tool_instances SET version = $1 WHERE id = $2", [`v${n}`, ids[`${who}2`]]),
      expected: { alice: ["alice-2"], bob: ["bob-2", "bob-2"] },
    },
    {
      name: "environmentChanged",
      hub: "environmentEvents",
      query: "subscription { environmentChanged { environment { name } } }",
      pick: (d: any) => d.environmentChanged.environment.name,
      change: (who: string, n: number) => db.query("UPDATE account_tool_environments SET description = $1 WHERE id = $2", [`d${n}`, ids[`${who}Env`]]),
      expected: { alice: ["alice-droplet"], bob: ["bob-droplet", "bob-droplet"] },
    },
    {
      name: "connectionTested",
      hub: "connectionTests",
      query: "subscription { connectionTested { serverInfo { name } } }",
      pick: (d: any) => d.connectionTested.serverInfo.name,
      change: (who: string) => testRow(ids[`${who}0`]),
      expected: { alice: ["alice"], bob: ["bob", "bob"] },
    },
  ] as const)("delivers $name events only to the tenant that owns the row", async ({ hub, query, pick, change, expected }) => {
    const events: Record<string, string[]> = { alice: [], bob: [] };
    const clients = (["alice", "bob"] as const).map((who) => {
      const client = createClient({
        url: server.url.replace("http", "ws"),
        webSocketImpl: WebSocket,
        retryAttempts: 0,
        connectionParams: { authorization: `Bearer ${tokens[who]}` },
      });
      client.subscribe({ query }, { next: (v) => events[who].push(pick(v.data)), error: () => undefined, complete: () => undefined });
      return client;
    });
    await until(() => server.live![hub].size === 2, "both subscriptions");
    await change("bob", 1);
    await until(() => events.bob.length >= 1, "bob's first event");
    await change("alice", 2);
    await until(() => events.alice.length >= 1, "alice's event");
    await change("bob", 3);
    await until(() => events.bob.length >= 2, "bob's second event");
    expect(events).toEqual(expected);
    await Promise.all(clients.map((c) => c.dispose()));
    await until(() => server.live![hub].size === 0, "the subscriptions to close");
  });

  it("reads only the viewer's own rows when replaying (the query is scoped, not its results filtered)", async () => {
    const [{ since }] = await db.query<{ since: Date }>("SELECT now() - interval '1 minute' AS since");
    await db.query("UPDATE account_tool_instances SET version = 'replayed' WHERE id = ANY($1::uuid[])", [[ids.alice1, ids.bob1]]);
    store.replayedOwners.length = 0;
    const seen: string[] = [];
    const client = createClient({
      url: server.url.replace("http", "ws"),
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      connectionParams: { authorization: `Bearer ${tokens.alice}` },
    });
    client.subscribe<{ serverChanged: { server: { name: string } } }>(
      { query: "subscription($since: DateTime) { serverChanged(since: $since) { server { name } } }", variables: { since: since.toISOString() } },
      { next: (v) => seen.push(v.data!.serverChanged.server.name), error: () => undefined, complete: () => undefined },
    );
    await until(() => seen.includes("alice-1"), "alice's replay");
    expect(store.replayedOwners.length).toBeGreaterThan(0);
    expect(new Set(store.replayedOwners)).toEqual(new Set([ALICE]));
    await client.dispose();
    await subscribers(0);
  });

  it("tells only the owner when a droplet is deleted with its servers, live and on replay", async () => {
    const spareEnv = await insertEnvironment(db, { name: "alice-spare", publicIp: "203.0.113.2" });
    await db.query("UPDATE account_tool_environments SET user_id = $1 WHERE id = $2", [ALICE, spareEnv]);
    const [{ now: since }] = await db.query<{ now: Date }>("SELECT now() AS now");
    const query = `subscription($since: DateTime) { serverChanged(since: $since) { kind serverId } }`;
    const watch = (who: string, variables: Record<string, unknown> = {}) => {
      const seen: string[] = [];
      const client = createClient({
        url: server.url.replace("http", "ws"),
        webSocketImpl: WebSocket,
        retryAttempts: 0,
        connectionParams: { authorization: `Bearer ${tokens[who]}` },
      });
      client.subscribe<{ serverChanged: { kind: string; serverId: string } }>(
        { query, variables },
        {
          next: (v) => seen.push(`${v.data!.serverChanged.kind} ${v.data!.serverChanged.serverId}`),
          error: () => undefined,
          complete: () => undefined,
        },
      );
      return { seen, client };
    };
    const live = [watch("alice"), watch("bob")];
    await subscribers(2);
    // The server is created while alice watches, so the live fleet knows it before it is deleted.
    const spare = encodeGlobalID("MCPServer", await insertServer(db, { env: spareEnv, name: "alice-spare-0", status: "running", heartbeatSecondsAgo: 1 }));
    await until(() => live[0].seen.includes(`ADDED ${spare}`));
    await db.query("DELETE FROM account_tool_environments WHERE id = $1", [spareEnv]);
    await until(() => live[0].seen.includes(`REMOVED ${spare}`));
    const replay = [watch("alice", { since: since.toISOString() }), watch("bob", { since: since.toISOString() })];
    await until(() => replay[0].seen.length > 0);
    // Bob's replay must stay empty: there is no event to wait for, so give a leak time to show.
    await new Promise((r) => setTimeout(r, 100));
    expect([live[0].seen, live[1].seen, replay[0].seen, replay[1].seen]).toEqual([[`ADDED ${spare}`, `REMOVED ${spare}`], [], [`REMOVED ${spare}`], []]);
    await Promise.all([...live, ...replay].map((w) => w.client.dispose()));
  });
});
