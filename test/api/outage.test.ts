// A database outage gives clients a clear error, never a crash; service resumes when it returns.
import { afterAll, beforeAll, expect, it } from "vitest";
import { postgresDb } from "../../src/data/db.ts";
import { migrate } from "../../src/data/migrate.ts";
import { SqlStore } from "../../src/data/sql-store.ts";
import { insertEnvironment, insertServer } from "../../fixtures/fleet.ts";
import { describePostgres, freshPostgres, type TestDatabase } from "../helpers/postgres.ts";
import { codes, startTestServer, type TestServer } from "../helpers/server.ts";
import { tcpProxy, type TcpProxy } from "../helpers/tcp-proxy.ts";

describePostgres("database outage", () => {
  let pgTest: TestDatabase;
  let proxy: TcpProxy;
  let server: TestServer;

  beforeAll(async () => {
    pgTest = await freshPostgres();
    await migrate(pgTest.db);
    const env = await insertEnvironment(pgTest.db, { name: "e", publicIp: "203.0.113.1" });
    await insertServer(pgTest.db, { env, name: "s", status: "running", heartbeatSecondsAgo: 1 });
    const target = new URL(pgTest.url);
    proxy = await tcpProxy(target.hostname, Number(target.port || 5432));
    target.host = `127.0.0.1:${proxy.port}`;
    const db = postgresDb({ connectionString: target.toString(), maxConnections: 2, connectTimeoutMs: 1000, statementTimeoutMs: 3000 });
    server = await startTestServer(new SqlStore(db));
  });
  afterAll(async () => {
    await server?.close();
    await proxy?.close();
    await pgTest?.drop();
  });

  it("answers UPSTREAM_UNAVAILABLE while the database is down, and serves again when it returns", async () => {
    const query = `{ servers(first: 5) { edges { node { name environment { name } } } } }`;
    expect((await server.gql(query)).body.data.servers.edges).toHaveLength(1);

    await proxy.cut();
    const down = await server.gql(query);
    expect(down.status).toBe(200);
    expect(codes(down.body)).toEqual(["UPSTREAM_UNAVAILABLE"]);
    expect(JSON.stringify(down.body)).not.toMatch(/ECONNREFUSED|at .*\.ts|stack/);
    const ready = await fetch(server.url.replace("/graphql", "/ready"));
    expect(ready.status).toBe(503);
    expect((await fetch(server.url.replace("/graphql", "/health"))).status).toBe(200);

    await proxy.restore();
    const back = await server.gql(query);
    expect(back.body.errors).toBeUndefined();
    expect(back.body.data.servers.edges[0].node).toEqual({ name: "s", environment: { name: "e" } });
    expect((await fetch(server.url.replace("/graphql", "/ready"))).status).toBe(200);
  });
});
