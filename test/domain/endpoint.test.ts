import { describe, expect, it } from "vitest";
import { buildEndpoint, publishedHostPort } from "../../src/domain/endpoint.ts";

const base = { publicIp: "203.0.113.7", transport: "sse", endpointPath: "/mcp", portMapping: null, baseConfigOverride: null };

describe("buildEndpoint", () => {
  it("uses the droplet's public address and the published host port", () => {
    expect(buildEndpoint({ ...base, portMapping: { container_port: 8080, host_port: 49152 } }, 30000)).toMatchObject({
      url: "http://203.0.113.7:49152/mcp",
      portSource: "PORT_MAPPING",
    });
  });
  it("reads the host port from Docker PortBindings when there is no port mapping", () => {
    const override = { HostConfig: { PortBindings: { "8080/tcp": [{ HostPort: "49200" }] } } };
    expect(buildEndpoint({ ...base, baseConfigOverride: override }, 30000)).toMatchObject({ url: "http://203.0.113.7:49200/mcp", portSource: "PORT_BINDINGS" });
  });
  it("never falls back to the droplet agent's port: no published host port is a problem", () => {
    expect(buildEndpoint(base, 31000)).toMatchObject({ url: null, problem: "NO_HOST_PORT", reason: expect.stringContaining("31000") });
  });
  it("flags a published host port that is the droplet agent's own", () => {
    expect(buildEndpoint({ ...base, portMapping: { host_port: 31000 } }, 31000)).toMatchObject({ url: null, problem: "DTMA_PORT_COLLISION" });
  });
  const published = { ...base, portMapping: { container_port: 8080, host_port: 40001 } };
  it("uses the stored MCP path, adding the leading slash", () => {
    expect(buildEndpoint({ ...published, endpointPath: "v1/mcp" }, 30000).url).toBe("http://203.0.113.7:40001/v1/mcp");
  });
  it("defaults the path to /mcp", () => {
    expect(buildEndpoint({ ...published, endpointPath: null }, 30000).url).toBe("http://203.0.113.7:40001/mcp");
  });
  it("brackets IPv6 addresses", () => {
    expect(buildEndpoint({ ...published, publicIp: "2001:db8::1" }, 30000).url).toBe("http://[2001:db8::1]:40001/mcp");
  });
  it("uses ws:// for websocket servers", () => {
    expect(buildEndpoint({ ...published, transport: "websocket" }, 30000).url).toBe("ws://203.0.113.7:40001/mcp");
  });
  it("gives no endpoint and a reason when the droplet has no public address", () => {
    expect(buildEndpoint({ ...base, publicIp: null }, 30000)).toMatchObject({ url: null, problem: "NO_PUBLIC_ADDRESS" });
  });
  it("gives no endpoint for stdio servers, which the network cannot reach", () => {
    expect(buildEndpoint({ ...base, transport: "stdio" }, 30000)).toMatchObject({ url: null, problem: "NOT_NETWORK_REACHABLE" });
  });
  it.each([[{ host_port: 0 }], [{ host_port: 70000 }], [{ host_port: "abc" }], [{ host_port: 1.5 }]])("refuses an invalid host port %j", (mapping) => {
    expect(buildEndpoint({ ...base, portMapping: mapping }, 30000)).toMatchObject({ url: null, problem: "INVALID_PORT_MAPPING" });
  });
  it("never produces a localhost URL", () => {
    for (const ip of ["203.0.113.7", "2001:db8::1"]) {
      const url = buildEndpoint({ ...published, publicIp: ip }, 30000).url;
      expect(url).toBeTruthy();
      expect(url).not.toMatch(/localhost|127\.0\.0\.1/);
    }
  });
});

describe("publishedHostPort", () => {
  it("accepts a list of mappings and takes the first", () => {
    expect(publishedHostPort([{ host_port: 40001 }, { host_port: 40002 }], null)).toEqual({ port: 40001, source: "PORT_MAPPING" });
  });
  it("accepts a numeric string", () => {
    expect(publishedHostPort({ host_port: "40001" }, null)).toEqual({ port: 40001, source: "PORT_MAPPING" });
  });
  it("returns null when nothing is published", () => {
    expect(publishedHostPort({ container_port: 8080 }, { Env: [] })).toBeNull();
  });
});
