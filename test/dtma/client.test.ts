// The DTMA client against the DTMA simulator on loopback.
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { capturingLogger } from "../helpers/logs.ts";
import { DtmaClient, DtmaError, parseStatus } from "../../src/dtma/client.ts";
import { DtmaSimulator } from "../../src/demo/simulator.ts";

const KEY = "backend-key-0123456789abcdef";
const ID = "5b0e6c1e-8f5a-4c59-9a43-0d0c2f5e8a11";

function client(apiKey: string | undefined, logger = pino({ level: "silent" }), timeoutMs = 1000) {
  return new DtmaClient({ apiKey, timeoutMs, retries: 2, maxBodyBytes: 256 * 1024, logger });
}

describe("DtmaClient against the simulator", () => {
  let a: DtmaSimulator;
  let b: DtmaSimulator;
  const target = (s: DtmaSimulator) => ({ host: s.host, port: s.port });

  beforeAll(async () => {
    a = await new DtmaSimulator({ shape: "A", apiKey: KEY }).start();
    b = await new DtmaSimulator({ shape: "B", apiKey: KEY }).start();
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
  });

  it("deploys, reads status in both shapes, stops, starts and deletes", async () => {
    for (const sim of [a, b]) {
      const c = client(KEY);
      const deployed = await c.deploy(target(sim), {
        dockerImageUrl: "ghcr.io/x/y:1",
        instanceNameOnToolbox: "weather",
        accountToolInstanceId: ID,
        baseConfigOverrideJson: { HostConfig: { PortBindings: { "8080/tcp": [{ HostPort: "49152" }] } } },
      });
      expect(deployed.state).toBe("running");
      expect(deployed.containerId).toMatch(/^[0-9a-f]{64}$/);
      let status = await c.status(target(sim));
      expect(status.instances).toEqual([expect.objectContaining({ name: "weather", state: "running", image: sim === b ? "ghcr.io/x/y:1" : null })]);
      // Shape B carries no database id (contract §2.4); shape A does.
      expect(status.instances[0].accountToolInstanceId).toBe(sim === a ? ID : null);
      expect(status.version).toBe("1.4.2-sim");
      await c.stop(target(sim), "weather");
      status = await c.status(target(sim));
      expect(status.instances[0].state).toBe("exited");
      await c.start(target(sim), "weather");
      await c.remove(target(sim), "weather");
      expect((await c.status(target(sim))).instances).toEqual([]);
    }
  });

  it("uses the MCP restart route where the agent has it, and stop+start where it does not", async () => {
    const c = client(KEY);
    await b.add({ name: "r", accountToolInstanceId: ID });
    await a.add({ name: "r", accountToolInstanceId: ID });
    expect(await c.restart(target(b), "r")).toBe("RESTART_ROUTE");
    expect(await c.restart(target(a), "r")).toBe("STOP_START");
    await c.remove(target(a), "r");
    await c.remove(target(b), "r");
  });

  it("maps the contract's refusals to typed errors", async () => {
    await expect(client(undefined).deploy(target(a), { dockerImageUrl: "i", instanceNameOnToolbox: "n", accountToolInstanceId: ID })).rejects.toMatchObject({
      kind: "HTTP",
      status: 401,
    });
    await expect(client("wrong").start(target(a), "n")).rejects.toMatchObject({ kind: "HTTP", status: 403 });
    await expect(client(KEY).start(target(a), "missing")).rejects.toMatchObject({
      kind: "HTTP",
      status: 404,
      message: expect.stringContaining("not managed by this DTMA"),
    });
    await client(KEY).deploy(target(a), { dockerImageUrl: "i", instanceNameOnToolbox: "dup", accountToolInstanceId: ID });
    await expect(client(KEY).deploy(target(a), { dockerImageUrl: "i", instanceNameOnToolbox: "dup", accountToolInstanceId: ID })).rejects.toMatchObject({
      kind: "HTTP",
      status: 409,
    });
    await client(KEY).remove(target(a), "dup");
  });

  it("answers 404 for start/stop/delete after the agent restarts and forgets its instances", async () => {
    await a.add({ name: "forgotten", accountToolInstanceId: ID });
    a.forgetManagedInstances();
    await expect(client(KEY).stop(target(a), "forgotten")).rejects.toMatchObject({ status: 404 });
    a.containers.clear();
  });

  it("sends the backend key as a Bearer token and never logs it", async () => {
    const { logger, lines } = capturingLogger();
    await client(KEY, logger).status(target(a));
    expect(a.requests.at(-1)).toMatchObject({ method: "GET", path: "/status", authorization: `Bearer ${KEY}` });
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.join("\n")).toContain('"route":"GET /status"');
    expect(lines.join("\n")).not.toContain(KEY);
  });

  describe("hostile or broken answers", () => {
    const cases: Array<[string, string, Parameters<DtmaSimulator["faults"]["set"]>[1]]> = [
      ["an agent that never answers", "TIMEOUT", "hang"],
      ["an answer that is not JSON", "PROTOCOL", "garbage"],
      ["an answer larger than the cap", "PROTOCOL", "huge"],
      ["a redirect to another host", "PROTOCOL", "redirect"],
      ["an answer that drips forever", "TIMEOUT", "slow-drip"],
    ];
    it.each(cases)("turns %s into a %s error within the timeout", async (_what, kind, fault) => {
      a.faults.set("GET /status", fault);
      const started = Date.now();
      const c = new DtmaClient({ apiKey: KEY, timeoutMs: 500, retries: 0, maxBodyBytes: 256 * 1024, logger: pino({ level: "silent" }) });
      await expect(c.status(target(a))).rejects.toMatchObject({ kind });
      expect(Date.now() - started).toBeLessThan(2500);
      a.faults.clear();
    });

    it("retries the idempotent status read on 503, and never retries a write", async () => {
      a.faults.set("*", 503);
      const before = a.requests.length;
      await expect(client(KEY).status(target(a))).rejects.toBeInstanceOf(DtmaError);
      expect(a.requests.length - before).toBe(3);
      const beforeWrite = a.requests.length;
      await expect(client(KEY).start(target(a), "x")).rejects.toMatchObject({ status: 503 });
      expect(a.requests.length - beforeWrite).toBe(1);
      a.faults.clear();
    });

    it("keeps at most 1,000 characters of an agent's error message", async () => {
      a.faults.set("*", "verbose-error");
      const error = (await client(KEY)
        .start(target(a), "x")
        .catch((e) => e)) as DtmaError;
      expect(error).toMatchObject({ kind: "HTTP", status: 500 });
      expect(error.message.length).toBeLessThan(1100);
      expect(error.message).toMatch(/^The droplet agent refused: docker: e+…$/);
      a.faults.clear();
    });

    it("reports an unreachable agent", async () => {
      await expect(client(KEY).start({ host: "127.0.0.1", port: 1 }, "x")).rejects.toMatchObject({ kind: "UNREACHABLE" });
    });
  });
});

describe("parseStatus", () => {
  it("refuses an answer without tool_instances", () => {
    expect(() => parseStatus({ status: "healthy" })).toThrow(/tool_instances/);
    expect(() => parseStatus("OK")).toThrow(DtmaError);
  });
  it("reads the DTMA's own states from shape A", () => {
    expect(parseStatus({ tool_instances: [{ instance_name_on_toolbox: "n", status: "not_found" }] }).instances[0]).toMatchObject({
      name: "n",
      state: "not_found",
    });
  });
});

// Fixed samples of the two real /status shapes (shared/reference/dtma-contract.md §2.4), written
// from the contract rather than from our simulator: a second oracle for the parser.
describe("parseStatus on the contract's samples", () => {
  it("reads shape (A), agentopia dtma: our ids, names and Docker states", () => {
    const sample = {
      dtma_version: "0.3.1",
      system_metrics: {
        cpu_load_percent: 12.5,
        memory: { total_bytes: 2048, active_bytes: 512, free_bytes: 1024, used_bytes: 1024 },
        disk: { mount: "/", total_bytes: 100, used_bytes: 40, free_bytes: 60 },
      },
      tool_instances: [
        { account_tool_instance_id: "5b0e6c1e-8f5a-4c59-9a43-0d0c2f5e8a11", instance_name_on_toolbox: "weather", status: "running", container_id: "c0ffee" },
        { account_tool_instance_id: "6c1f7d2f-9a6b-4d6a-8b54-1e1d3a6f9b22", instance_name_on_toolbox: "search", status: "exited", container_id: "beef" },
        { account_tool_instance_id: "7d2a8e3a-ab7c-4e7b-9c65-2f2e4b7aac33", instance_name_on_toolbox: "gone", status: "not_found", container_id: null },
        { account_tool_instance_id: "8e3b9f4b-bc8d-4f8c-ad76-3a3f5c8bbd44", instance_name_on_toolbox: "odd", status: "error_inspecting" },
      ],
    };
    const parsed = parseStatus(sample);
    expect(parsed.version).toBe("0.3.1");
    expect(parsed.systemMetrics).toEqual(sample.system_metrics);
    expect(parsed.instances).toEqual([
      { accountToolInstanceId: "5b0e6c1e-8f5a-4c59-9a43-0d0c2f5e8a11", name: "weather", containerId: "c0ffee", state: "running", image: null, hostPorts: [] },
      { accountToolInstanceId: "6c1f7d2f-9a6b-4d6a-8b54-1e1d3a6f9b22", name: "search", containerId: "beef", state: "exited", image: null, hostPorts: [] },
      { accountToolInstanceId: "7d2a8e3a-ab7c-4e7b-9c65-2f2e4b7aac33", name: "gone", containerId: null, state: "not_found", image: null, hostPorts: [] },
      { accountToolInstanceId: "8e3b9f4b-bc8d-4f8c-ad76-3a3f5c8bbd44", name: "odd", containerId: null, state: "error_inspecting", image: null, hostPorts: [] },
    ]);
  });

  it("reads shape (B), dtma-agent@HEAD: Docker objects with no ids, the state in `state` and 'Up 2 hours' in `status`", () => {
    const sample = {
      status: "healthy",
      timestamp: "2025-06-20T10:15:30.000Z",
      version: "1.0.0",
      service: "DTMA",
      environment: { hasAuthToken: true, hasApiKey: true, hasApiBaseUrl: true, port: "30000" },
      tool_instances: [
        {
          id: "a1b2c3",
          names: ["/weather"],
          image: "ghcr.io/example/weather:1",
          image_id: "sha256:abc",
          command: "node server.js",
          created: 1750400000,
          state: "running",
          status: "Up 2 hours",
          ports: [{ ip: "0.0.0.0", private_port: 8080, public_port: 49152, type: "tcp" }],
        },
        {
          id: "d4e5f6",
          names: ["/search"],
          image: "ghcr.io/example/search:2",
          image_id: "sha256:def",
          command: "python -m server",
          created: 1750300000,
          state: "exited",
          status: "Exited (137) 5 minutes ago",
          ports: [],
        },
        {
          id: "0a0b0c",
          names: ["/dtma"],
          image: "ghcr.io/agentopia/dtma:latest",
          image_id: "sha256:012",
          command: "node dist/index.js",
          created: 1750000000,
          state: "running",
          status: "Up 3 days",
          ports: [{ ip: "0.0.0.0", private_port: 30000, public_port: 30000, type: "tcp" }],
        },
      ],
      system_metrics: {
        cpu_load_percent: 3,
        memory: { total_bytes: 4096, active_bytes: 1024, free_bytes: 2048, used_bytes: 2048 },
        disk: { mount: "/", total_bytes: 80, used_bytes: 20, free_bytes: 60 },
      },
    };
    const parsed = parseStatus(sample);
    expect(parsed.version).toBe("1.0.0");
    expect(parsed.systemMetrics).toEqual(sample.system_metrics);
    expect(parsed.instances).toEqual([
      { accountToolInstanceId: null, name: "weather", containerId: "a1b2c3", state: "running", image: "ghcr.io/example/weather:1", hostPorts: [49152] },
      { accountToolInstanceId: null, name: "search", containerId: "d4e5f6", state: "exited", image: "ghcr.io/example/search:2", hostPorts: [] },
      { accountToolInstanceId: null, name: "dtma", containerId: "0a0b0c", state: "running", image: "ghcr.io/agentopia/dtma:latest", hostPorts: [30000] },
    ]);
  });
});
