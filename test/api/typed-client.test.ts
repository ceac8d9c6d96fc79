// A real urql client runs the codegen-typed documents from schema/operations against the server.
import { Client, fetchExchange } from "@urql/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pgliteDb } from "../../src/data/db.ts";
import { migrate } from "../../src/data/migrate.ts";
import { seedDemoFleet } from "../../src/data/seed.ts";
import { SqlStore } from "../../src/data/sql-store.ts";
import {
  CatalogDocument,
  FleetEnvironmentsDocument,
  FleetServersDocument,
  ServerDetailDocument,
  TestServerConnectionDocument,
} from "../../schema/operations/generated/graphql.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

describe("typed operations through urql", () => {
  let server: TestServer;
  let client: Client;

  beforeAll(async () => {
    const db = await pgliteDb(undefined);
    await migrate(db);
    await seedDemoFleet(db);
    server = await startTestServer(new SqlStore(db));
    // urql sends queries as GET: a script-only header marks them as not cross-site (see README, Clients).
    client = new Client({
      url: server.url,
      exchanges: [fetchExchange],
      requestPolicy: "network-only",
      fetchOptions: { headers: { "x-graphql-yoga-csrf": "1" } },
    });
  });
  afterAll(async () => server?.close());

  it("pages the demo fleet with FleetServers and reads one with ServerDetail", async () => {
    const names: string[] = [];
    let after: string | null | undefined;
    do {
      const result = await client.query(FleetServersDocument, { first: 5, after }).toPromise();
      expect(result.error).toBeUndefined();
      const servers = result.data!.servers;
      expect(servers.totalCount).toBe(22);
      names.push(...servers.edges.map((e) => e.node.name));
      after = servers.pageInfo.hasNextPage ? servers.pageInfo.endCursor : null;
    } while (after);
    expect(names).toHaveLength(22);
    expect(new Set(names).size).toBe(22);

    const first = (await client.query(FleetServersDocument, { first: 1, filter: { states: ["RUNNING"], healths: ["HEALTHY"] } }).toPromise()).data!.servers
      .edges[0].node;
    const detail = await client.query(ServerDetailDocument, { id: first.id }).toPromise();
    // Typed fields: state is the ServerState union, endpoint a nullable string.
    const state: "RUNNING" | "STOPPED" | "STARTING" | "STOPPING" | "ERROR" | "UNKNOWN" = detail.data!.server!.status.state;
    expect(state).toBe("RUNNING");
    expect(detail.data!.server!.endpoint).toMatch(/^(http|ws):\/\/(203\.0\.113|198\.51\.100|192\.0\.2)\.\d+:\d+\/mcp$/);
  });

  it("shows every state of the demo fleet across its droplets", async () => {
    const result = await client.query(FleetEnvironmentsDocument, { first: 10 }).toPromise();
    expect(result.error).toBeUndefined();
    const envs = result.data!.environments.edges.map((e) => e.node);
    expect(envs.map((e) => e.name)).toEqual(["EU Toolbox", "New Toolbox", "Primary Toolbox", "Staging Toolbox"]);
    const states = new Set(envs.flatMap((e) => e.servers.edges.map((s) => s.node.status.state)));
    expect([...states].sort()).toEqual(["ERROR", "RUNNING", "STARTING", "STOPPED", "STOPPING"]);
    expect(envs.find((e) => e.name === "New Toolbox")!.publicIP).toBeNull();
  });
  it("runs the typed catalog query and a typed mutation", async () => {
    const catalog = await client.query(CatalogDocument, { first: 50 }).toPromise();
    expect(catalog.error).toBeUndefined();
    expect(catalog.data!.catalog.totalCount).toBeGreaterThan(0);
    const status: "available" | "beta" | "experimental" | "deprecated" | "archived" = catalog.data!.catalog.edges[0].node.status;
    expect(status).toBe("available");
    const stopped = (await client.query(FleetServersDocument, { first: 1, filter: { states: ["STOPPED"] } }).toPromise()).data!.servers.edges[0].node;
    const tested = await client.mutation(TestServerConnectionDocument, { id: stopped.id }).toPromise();
    expect(tested.error).toBeUndefined();
    expect(tested.data!.testServerConnection.errorKind).toBe("NOT_RUNNING");
  });
});
