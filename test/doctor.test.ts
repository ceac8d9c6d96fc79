// The localhost doctor: finds what upstream got wrong, fixes only what is safe, deletes nothing.
import { describe, expect, it } from "vitest";
import { migrate } from "../src/data/migrate.ts";
import { SqlStore } from "../src/data/sql-store.ts";
import { addressKind, diagnoseEndpoint } from "../src/domain/endpoint.ts";
import { formatDoctor, runDoctor } from "../src/doctor.ts";
import { insertEnvironment, insertServer } from "../fixtures/fleet.ts";
import { sqlTargets } from "./helpers/targets.ts";

describe("addressKind", () => {
  it.each([
    ["45.55.1.7", "PUBLIC"],
    ["2606:4700::1111", "PUBLIC"],
    ["203.0.113.7", "RESERVED"],
    ["::a9fe:a9fe", "LINK_LOCAL"],
    ["8.8.8.8", "PUBLIC"],
    ["127.0.0.1", "LOOPBACK"],
    ["127.9.9.9", "LOOPBACK"],
    ["::1", "LOOPBACK"],
    ["10.1.2.3", "PRIVATE"],
    ["172.20.0.1", "PRIVATE"],
    ["192.168.1.1", "PRIVATE"],
    ["fd00::1", "PRIVATE"],
    ["100.64.0.1", "PRIVATE"],
    ["169.254.169.254", "LINK_LOCAL"],
    ["fe80::1", "LINK_LOCAL"],
    ["224.0.0.1", "MULTICAST"],
    ["0.0.0.0", "UNSPECIFIED"],
    ["localhost", "INVALID"],
  ])("classifies %s as %s", (ip, kind) => {
    expect(addressKind(ip)).toBe(kind);
  });
});

describe("diagnoseEndpoint", () => {
  const base = {
    publicIp: "45.55.1.7",
    transport: "sse",
    endpointPath: "/mcp",
    portMapping: { container_port: 8080, host_port: 49152 },
    baseConfigOverride: null,
  };
  it("finds nothing wrong with a good instance", () => {
    expect(diagnoseEndpoint(base, 30000)).toEqual([]);
  });
  it("reports the upstream admin default that publishes on the agent's own port", () => {
    expect(diagnoseEndpoint({ ...base, portMapping: { container_port: 8080, host_port: 30000 } }, 30000).map((f) => f.code)).toEqual(["DTMA_PORT_COLLISION"]);
  });
  it("reports a missing host port (endpoint on the agent's port), without a fix", () => {
    const [f] = diagnoseEndpoint({ ...base, portMapping: null }, 30000);
    expect(f).toMatchObject({ code: "NO_HOST_PORT" });
    expect(f.fix).toBeUndefined();
  });
});

describe.each(sqlTargets)("doctor on $name", (target) => {
  it("lists what cannot be built, fixes only the safe repairs with --fix, and deletes nothing", async () => {
    const { db, close } = await target.open();
    try {
      await migrate(db);
      const good = await insertEnvironment(db, { name: "good", publicIp: "45.55.1.9" });
      const local = await insertEnvironment(db, { name: "local", publicIp: "127.0.0.1" });
      await insertServer(db, { env: good, name: "fine", status: "running", portMapping: { container_port: 8080, host_port: 40001 } });
      const bindingsOnly = await insertServer(db, { env: good, name: "bindings-only", status: "running" });
      await db.query(
        `UPDATE account_tool_instances SET base_config_override_json = '{"HostConfig":{"PortBindings":{"8080/tcp":[{"HostPort":"40002"}]}}}', mcp_endpoint_path = NULL WHERE id = $1`,
        [bindingsOnly],
      );
      await insertServer(db, { env: local, name: "on-localhost", status: "running", portMapping: { container_port: 8080, host_port: 40003 } });
      const store = new SqlStore(db);

      const report = await runDoctor(store, 30000, false);
      expect(report.map((e) => [e.server, e.findings.map((f) => f.code)])).toEqual([
        ["bindings-only", ["NO_HOST_PORT", "NO_ENDPOINT_PATH"]],
        ["on-localhost", ["NOT_PUBLIC_ADDRESS"]],
      ]);
      expect(formatDoctor(report, false)).toContain("1 can be fixed safely with --fix");

      const fixed = await runDoctor(store, 30000, true);
      expect(fixed.filter((e) => e.fixed).map((e) => e.server)).toEqual(["bindings-only"]);
      const [row] = await store.serversByIds([bindingsOnly]);
      expect(row).toMatchObject({ portMapping: { container_port: 8080, host_port: 40002 }, endpointPath: "/mcp" });
      expect((await runDoctor(store, 30000, false)).map((e) => e.server)).toEqual(["on-localhost"]);
      expect(await store.countServers({}, { now: new Date(), thresholds: { degradedAfterMs: 1, unhealthyAfterMs: 2 } })).toBe(3);
    } finally {
      await close();
    }
  });
});
