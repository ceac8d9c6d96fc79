// `npm run demo` works: droplets awake from heartbeats, servers deployed and answering MCP.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { startDemo, type Demo } from "../../src/demo/index.ts";
import { createLogger } from "../../src/log.ts";
import { freePort } from "../../src/demo/sample-servers.ts";
import { signDevToken } from "../../src/auth/verify.ts";
import { DEMO_USER_ID } from "../../src/data/seed.ts";

describe("npm run demo", () => {
  let demo: Demo;
  let token: string;
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
    });
    // As `npm run demo` runs: development auth with this process's own secret, as the demo user.
    if (config.auth.mode !== "hs256") throw new Error("expected development auth");
    token = await signDevToken(
      config.auth.secret,
      { sub: DEMO_USER_ID, role: "authenticated" },
      { audience: config.auth.audience, issuer: config.auth.issuer },
    );
    demo = await startDemo(config, createLogger("silent"), 60_000);
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
});
