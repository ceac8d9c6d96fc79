// `npm run demo` works: droplets awake from heartbeats, servers deployed and answering MCP.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { DEMO_FAULTS, startDemo, type Demo } from "../../src/demo/index.ts";
import { until } from "../helpers/wait.ts";
import { createLogger } from "../../src/log.ts";
import { freePort } from "../../src/demo/sample-servers.ts";
import { signDevToken } from "../../src/auth/verify.ts";
import { DEMO_USER_ID } from "../../src/data/seed.ts";

describe("npm run demo", () => {
  let demo: Demo;
  let token: string;
  let dtmaPort: number;
  const gql = async (query: string) =>
    (await (
      await fetch(demo.app.url, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify({ query }),
      })
    ).json()) as any;

  beforeAll(async () => {
    const config = loadConfig({
      PORT: "0",
      PGLITE_MEMORY: "true",
      SEED: "never",
      DTMA_API_KEY: "demo-test-key",
      ALLOW_PRIVATE_TARGETS: "true",
      DTMA_PORT: String(await freePort()),
      LOG_LEVEL: "silent",
      // As the demo's own defaults, faster.
      PROBE_INTERVAL_MS: "1000",
      PROBE_SLOW_MS: "300",
      RECOVERY_INTERVAL_MS: "300",
      RECOVERY_BACKOFF_MS: "1000",
    });
    // As `npm run demo` runs: development auth with this process's own secret, as the demo user.
    if (config.auth.mode !== "hs256") throw new Error("expected development auth");
    token = await signDevToken(
      config.auth.secret,
      { sub: DEMO_USER_ID, role: "authenticated" },
      { audience: config.auth.audience, issuer: config.auth.issuer },
    );
    dtmaPort = config.dtmaPort;
    // The crash is injected by the test below, through the simulator's control route.
    demo = await startDemo(config, createLogger("silent"), { heartbeatMs: 300, crashAfterSeconds: 0, slowMs: 800 });
  });
  afterAll(async () => demo?.close());

  it("serves running, healthy servers on active droplets, each a real MCP server", async () => {
    const { data } = await gql(`{ servers(first: 20) { totalCount edges { node { id rawStatus status { health } endpoint environment { status } } } } }`);
    const nodes = data.servers.edges.map((e: any) => e.node);
    expect(nodes.length).toBeGreaterThanOrEqual(3);
    expect(nodes.every((n: any) => n.rawStatus === "running" && n.status.health === "HEALTHY" && n.environment.status === "active" && n.endpoint)).toBe(true);
    const test = await gql(`mutation { testServerConnection(id: "${nodes[0].id}") { success tools } }`);
    expect(test.data.testServerConnection).toEqual({ success: true, tools: ["echo", "add"] });
    const stopped = await gql(`mutation { stopServer(id: "${nodes[0].id}") { rawStatus } }`);
    expect(stopped.data.stopServer.rawStatus).toBe("stopped");
  });

  it("seeds a small catalog of its sample servers, and deploys them from it", async () => {
    const { data } = await gql(
      `{ catalog(first: 20) { totalCount edges { node { name categories versions } } } servers(first: 1) { edges { node { catalogTool { name } } } } }`,
    );
    expect(data.catalog.totalCount).toBeGreaterThanOrEqual(3);
    expect(data.catalog.edges[0].node).toMatchObject({ categories: ["demo", "sample"], versions: ["1.0.0", "latest"] });
    expect(data.catalog.edges.map((e: any) => e.node.name)).toContain(data.servers.edges[0].node.catalogTool.name);
  });

  it("looks after itself: a crashed server is recovered (AUTO_RECOVERY), a slow one flagged SLOW", async () => {
    const serverNamed = async (name: string) => {
      const { data } = await gql(
        `{ servers(first: 1, filter: { search: "${name}" }) { edges { node { status { state reachability recovery } statusHistory(first: 20) { source detail } } } } }`,
      );
      return data.servers.edges[0].node;
    };
    const sim = demo.simulators.find((s) => s.containers.has(DEMO_FAULTS.crashes))!;
    const control = (body: unknown) =>
      fetch(`http://${sim.host}:${dtmaPort}/_sim/faults/${DEMO_FAULTS.crashes}`, { method: "POST", body: JSON.stringify(body) });
    expect((await control({ kind: "melt" })).status).toBe(400);
    expect((await control({ kind: "crash" })).status).toBe(200);
    await until(
      async () => {
        const s = await serverNamed(DEMO_FAULTS.crashes);
        return s.status.state === "RUNNING" && s.statusHistory.some((h: any) => h.detail === "Recovered after 1 automatic attempt");
      },
      "the crashed server's recovery",
      15_000,
    );
    const recovered = await serverNamed(DEMO_FAULTS.crashes);
    expect(recovered.statusHistory.filter((h: any) => h.source === "AUTO_RECOVERY").map((h: any) => h.detail)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^Automatic start, attempt 1 of 5/), "Attempt 1: the agent started the container"]),
    );
    await until(async () => (await serverNamed(DEMO_FAULTS.slow)).status.reachability === "SLOW", "the slow server flagged", 15_000);
  });
});
