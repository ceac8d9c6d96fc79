// The change feed knows it is alive. Every connection to Postgres goes through a TCP proxy the test
// freezes (stops forwarding, sockets kept open: nothing errors) or resets: the frozen listener is
// found by its round-trip check, /ready says 503 meanwhile, the listener is replaced, and open
// subscriptions get what changed while it was gone (RESYNC). A pool query on a frozen connection
// answers UPSTREAM_UNAVAILABLE within the statement timeout.
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { postgresDb } from "../../src/data/db.ts";
import { migrate } from "../../src/data/migrate.ts";
import { SqlStore } from "../../src/data/sql-store.ts";
import type { LiveFleet } from "../../src/live/fleet.ts";
import { insertEnvironment, insertServer } from "../../fixtures/fleet.ts";
import { describePostgres, freshPostgres, POSTGRES_URL, type TestDatabase } from "../helpers/postgres.ts";
import { codes, startTestServer, type TestServer } from "../helpers/server.ts";
import { subscribeWs, wsClient } from "../helpers/subscriptions.ts";
import { type TcpProxy, tcpProxy } from "../helpers/tcp-proxy.ts";
import { until } from "../helpers/wait.ts";

const CHECK_MS = 500;
const STATEMENT_TIMEOUT_MS = 1000;
const CHANGED = `subscription($id: [ID!]) { serverChanged(filter: { serverIds: $id }) { server { version } source } }`;

describePostgres("change feed liveness", () => {
  let pgTest: TestDatabase;
  let proxy: TcpProxy;
  let server: TestServer & { live?: LiveFleet };
  let id: string;
  let n = 0;

  beforeAll(async () => {
    pgTest = await freshPostgres();
    await migrate(pgTest.db);
    const env = await insertEnvironment(pgTest.db, { name: "e", publicIp: "203.0.113.61" });
    id = await insertServer(pgTest.db, { env, name: "s", status: "running", heartbeatSecondsAgo: 1 });
    proxy = await tcpProxy("127.0.0.1", Number(new URL(POSTGRES_URL).port || 5432));
    const viaProxy = new URL(pgTest.url);
    viaProxy.port = String(proxy.port);
    const db = postgresDb({
      connectionString: viaProxy.toString(),
      maxConnections: 2,
      connectTimeoutMs: 1000,
      statementTimeoutMs: STATEMENT_TIMEOUT_MS,
      listenerCheckMs: CHECK_MS,
      listenerName: `liveness-${pgTest.schema}`,
    });
    server = await startTestServer(new SqlStore(db), { live: { coalesceMs: 5 } });
  });
  afterAll(async () => {
    await server?.close();
    await proxy?.close();
    await pgTest?.drop();
  });
  afterEach(async () => until(() => server.live!.serverEvents.size === 0, "the subscriptions to close"));

  const ready = async () => (await fetch(server.url.replace("/graphql", "/ready"))).status;

  it.each(["freeze", "reset"] as const)("finds a listener connection that was %s, says so on /ready, replaces it and re-syncs what changed", async (fault) => {
    const client = wsClient(server.url);
    try {
      const sub = subscribeWs(client, CHANGED, { id: [id] });
      await until(() => server.live!.serverEvents.size === 1, "the subscription");
      expect(await ready()).toBe(200);
      const started = Date.now();
      proxy[fault]();
      const version = `${fault}-${++n}`;
      // Written directly, not through the proxy: the listener's notice for it is lost.
      await pgTest.db.query("UPDATE account_tool_instances SET version = $1 WHERE id = $2", [version, id]);
      if (fault === "freeze") await until(async () => (await ready()) === 503, "/ready to say 503", 5 * CHECK_MS);
      const event = (await sub.next(10_000)).serverChanged;
      expect(event).toEqual({ server: { version }, source: "RESYNC" });
      expect(Date.now() - started).toBeLessThan(4 * CHECK_MS + 3000);
      await until(async () => (await ready()) === 200, "/ready to say 200 again");
      // Live again.
      await pgTest.db.query("UPDATE account_tool_instances SET version = $1 WHERE id = $2", [`${version}-after`, id]);
      expect((await sub.next()).serverChanged).toEqual({ server: { version: `${version}-after` }, source: "DATABASE" });
      await sub.close();
    } finally {
      await client.dispose();
    }
  });

  it("answers a query on a frozen pool connection with UPSTREAM_UNAVAILABLE within the statement timeout, then serves again", async () => {
    expect((await server.gql("{ servers { totalCount } }")).body.data.servers.totalCount).toBe(1); // a pooled connection exists
    proxy.freeze();
    const started = Date.now();
    const frozen = await server.gql("{ servers { totalCount } }");
    expect(codes(frozen.body)).toEqual(["UPSTREAM_UNAVAILABLE"]);
    expect(Date.now() - started).toBeLessThan(STATEMENT_TIMEOUT_MS + 2500);
    await until(async () => (await server.gql("{ servers { totalCount } }")).body.data?.servers.totalCount === 1, "queries to work again");
  });
});
