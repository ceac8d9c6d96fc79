// Outbound safety: connection tests and DTMA calls go only to a droplet's public address.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pgliteDb } from "../../src/data/db.ts";
import { migrate } from "../../src/data/migrate.ts";
import { SqlStore } from "../../src/data/sql-store.ts";
import { outboundRefusal } from "../../src/domain/endpoint.ts";
import { DtmaSimulator } from "../../src/demo/simulator.ts";
import { startStreamableServer, type Running } from "../../src/demo/sample-servers.ts";
import { insertEnvironment, insertServer } from "../../fixtures/fleet.ts";
import { codes, startTestServer, type TestServer } from "../helpers/server.ts";

describe("outbound safety", () => {
  let server: TestServer;
  let sim: DtmaSimulator;
  let mcp: Running;
  const ids: Record<string, { env: string; server: string }> = {};

  beforeAll(async () => {
    // Real listeners on loopback, so a refused call is refused by policy, not by a dead port.
    sim = await new DtmaSimulator({ apiKey: "k" }).start();
    mcp = await startStreamableServer();
    const db = await pgliteDb(undefined);
    await migrate(db);
    for (const [name, ip] of [
      ["loopback", "127.0.0.1"],
      ["metadata", "169.254.169.254"],
      ["private", "10.0.0.5"],
      ["multicast", "224.0.0.1"],
    ] as const) {
      const env = await insertEnvironment(db, { name, publicIp: ip });
      const s = await insertServer(db, { env, name: `${name}-server`, status: "running", portMapping: { container_port: 8080, host_port: mcp.port } });
      ids[name] = { env, server: s };
    }
    server = await startTestServer(new SqlStore(db), { env: { ALLOW_PRIVATE_TARGETS: "false", DTMA_PORT: String(sim.port), DTMA_API_KEY: "k" } });
  });
  afterAll(async () => {
    await server?.close();
    await sim?.stop();
    await mcp?.close();
  });

  it.each(["loopback", "metadata", "private", "multicast"])("refuses to connection-test a server whose droplet address is %s", async (name) => {
    const { body } = await server.gql(`mutation($id: ID!) { testServerConnection(id: $id) { success } }`, { id: ids[name].server });
    expect(codes(body)).toEqual(["FORBIDDEN"]);
    expect(body.errors![0].message).toMatch(/Refusing to connect/);
  });

  it.each(["loopback", "metadata", "private"])("refuses DTMA calls to a droplet whose address is %s", async (name) => {
    const before = sim.requests.length;
    const refresh = await server.gql(`mutation($id: ID!) { refreshEnvironmentStatus(id: $id) { status } }`, { id: ids[name].env });
    const stop = await server.gql(`mutation($id: ID!) { stopServer(id: $id) { rawStatus } }`, { id: ids[name].server });
    expect([...codes(refresh.body), ...codes(stop.body)]).toEqual(["FORBIDDEN", "FORBIDDEN"]);
    expect(sim.requests.length).toBe(before);
  });

  it("allows private droplet addresses only when configured, and never multicast", () => {
    expect(outboundRefusal("10.0.0.5", true)).toBeNull();
    expect(outboundRefusal("127.0.0.1", true)).toBeNull();
    expect(outboundRefusal("224.0.0.1", true)).toMatch(/multicast/);
    expect(outboundRefusal("45.55.1.9", false)).toBeNull();
  });

  // Ranges a hand-written pattern list missed: each reaches something that is not a droplet.
  it.each([
    ["NAT64 (64:ff9b::/96) to the metadata address", "64:ff9b::a9fe:a9fe", /reserved/],
    ["6to4 (2002::/16) around the metadata address", "2002:a9fe:a9fe::1", /reserved/],
    ["Teredo (2001::/32)", "2001::1", /reserved/],
    ["IPv4-compatible IPv6 of the metadata address", "::a9fe:a9fe", /link-local/],
    ["IPv4-compatible IPv6 of loopback", "::7f00:1", /loopback/],
    ["IPv4-mapped IPv6 of loopback", "::ffff:127.0.0.1", /loopback/],
    ["0.0.0.0/8 (this network)", "0.1.2.3", /unspecified/],
    ["192.0.0.0/24 (IETF protocol assignments)", "192.0.0.8", /reserved/],
    ["documentation (TEST-NET-3)", "203.0.113.9", /reserved/],
    ["benchmarking (198.18.0.0/15)", "198.18.0.2", /reserved/],
    ["limited broadcast", "255.255.255.255", /reserved/],
    ["IPv6 documentation (2001:db8::/32)", "2001:db8::1", /reserved/],
    ["IPv6 discard-only (100::/64)", "100::1", /reserved/],
  ])("refuses %s", (_what, ip, reason) => {
    expect(outboundRefusal(ip, false)).toMatch(reason);
  });

  it("never allows the reserved ranges, not even where private targets are allowed (tests, demo)", () => {
    for (const ip of ["64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::1", "192.0.0.8", "203.0.113.9"]) expect(outboundRefusal(ip, true), ip).toMatch(/reserved/);
  });
});
