// A server's logs through its droplet's agent (the simulator serves the real lines of the MCP
// servers it runs): read once, and watched by several subscribers with one poll of the agent.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pgliteDb } from "../../src/data/db.ts";
import { migrate } from "../../src/data/migrate.ts";
import { SqlStore } from "../../src/data/sql-store.ts";
import { freePort } from "../../src/demo/sample-servers.ts";
import { DtmaSimulator } from "../../src/demo/simulator.ts";
import { insertEnvironment } from "../../fixtures/fleet.ts";
import { codes, startTestServer, type TestServer } from "../helpers/server.ts";
import { subscribeWs, wsClient } from "../helpers/subscriptions.ts";

const KEY = "logs-agent-key-0123456789abcdef";

describe("server logs", () => {
  let sim: DtmaSimulator;
  let server: TestServer;
  let id: string;
  const logReads = () => sim.requests.filter((r) => r.path.endsWith("/logs")).length;

  beforeAll(async () => {
    sim = await new DtmaSimulator({ shape: "B", apiKey: KEY, mcpServers: true }).start();
    const db = await pgliteDb(undefined);
    await migrate(db);
    const envId = await insertEnvironment(db, { name: "logs-droplet", publicIp: "127.0.0.1" });
    server = await startTestServer(new SqlStore(db), {
      live: { coalesceMs: 5 },
      env: { DTMA_PORT: String(sim.port), DTMA_API_KEY: KEY, RATE_LIMIT_PER_MINUTE: "0", LOG_POLL_MS: "250" },
    });
    const deployed = await server.gql(`mutation($input: DeployServerInput!) { deployServer(input: $input) { id } }`, {
      input: { environmentId: envId, image: "ghcr.io/example/loggy:1", name: "loggy", ports: [{ containerPort: 8080, hostPort: await freePort() }] },
    });
    id = deployed.body.data.deployServer.id;
  });
  afterAll(async () => {
    await server?.close();
    await sim?.stop();
  });

  it("reads the container's last lines through the agent, timestamped, bounded by tail", async () => {
    await server.gql(`mutation($id: ID!) { testServerConnection(id: $id) { success } }`, { id }); // the MCP server logs its requests
    const { body } = await server.gql(`query($id: ID!) { server(id: $id) { logs(tail: 3) { lines fetchedAt } } }`, { id });
    expect(body.errors).toBeUndefined();
    const { lines } = body.data.server.logs;
    expect(lines).toHaveLength(3);
    for (const line of lines) expect(line).toMatch(/^\d{4}-\d{2}-\d{2}T\S+Z (POST|GET) \/(mcp|health)/);
    const all = (await server.gql(`query($id: ID!) { server(id: $id) { logs(tail: 1000) { lines } } }`, { id })).body.data.server.logs.lines;
    expect(all[0]).toMatch(/pulled ghcr\.io\/example\/loggy:1; created container/);
    expect(codes((await server.gql(`query($id: ID!) { server(id: $id) { logs(tail: 5000) { lines } } }`, { id })).body)).toEqual(["BAD_USER_INPUT"]);
  });

  it("streams new lines to every watcher with one poll of the agent, and stops polling when the last leaves", async () => {
    const a = wsClient(server.url);
    const b = wsClient(server.url);
    const q = `subscription($id: ID!) { serverLogs(id: $id, tail: 2) { lines at } }`;
    const first = subscribeWs(a, q, { id });
    const second = subscribeWs(b, q, { id });
    expect((await first.next()).serverLogs.lines).toHaveLength(2);
    expect((await second.next()).serverLogs.lines).toHaveLength(2);
    // Something happens in the container: its MCP server answers a test.
    await server.gql(`mutation($id: ID!) { testServerConnection(id: $id) { success } }`, { id });
    const fresh = (await first.next(5000)).serverLogs.lines as string[];
    expect(fresh.some((l) => / POST \/mcp /.test(l))).toBe(true);
    expect((await second.next(5000)).serverLogs.lines).toEqual(fresh);
    // One poll per interval for both watchers.
    const before = logReads();
    await new Promise((r) => setTimeout(r, 1100));
    expect(logReads() - before).toBeLessThanOrEqual(6);
    await first.close();
    await second.close();
    await a.dispose();
    await b.dispose();
    await new Promise((r) => setTimeout(r, 400)); // a poll in flight may still finish
    const stopped = logReads();
    await new Promise((r) => setTimeout(r, 700));
    expect(logReads()).toBe(stopped);
  });
});
