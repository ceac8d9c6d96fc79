// The tool catalog through GraphQL: what a signed-in user may read, and deploying an entry at a
// version with its template merged and its required secrets checked before the droplet is touched.
import { encodeGlobalID } from "@pothos/plugin-relay";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signDevToken } from "../../src/auth/verify.ts";
import type { Db } from "../../src/data/db.ts";
import { migrate } from "../../src/data/migrate.ts";
import { SqlStore } from "../../src/data/sql-store.ts";
import { freePort } from "../../src/demo/sample-servers.ts";
import { DtmaSimulator } from "../../src/demo/simulator.ts";
import { insertEnvironment } from "../../fixtures/fleet.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { sqlTargets } from "../helpers/targets.ts";

const SECRET = "catalog-api-secret-0123456789abcdef01234";
const ALICE = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
const BOB = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";
const KEY = "catalog-api-agent-key-0123456789";

describe.each(sqlTargets)("the tool catalog on $name", (target) => {
  let db: Db;
  let close: () => Promise<void>;
  let sim: DtmaSimulator;
  let server: TestServer;
  let envId: string;
  let token: string;
  const entries: Record<string, string> = {};

  const as = async (query: string, variables?: Record<string, unknown>) => {
    const res = await fetch(server.url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    });
    return (await res.json()) as { data?: any; errors?: Array<{ message: string; extensions?: { code?: string } }> };
  };
  const entry = async (values: Record<string, unknown>) => {
    const columns = Object.keys(values);
    const [{ id }] = await db.query<{ id: string }>(
      `INSERT INTO tool_catalog (${columns.join(", ")}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(", ")}) RETURNING id`,
      // jsonb columns as JSON text; categories (text[]) as an array.
      Object.entries(values).map(([column, v]) => (column !== "categories" && v !== null && typeof v === "object" ? JSON.stringify(v) : v)),
    );
    return id;
  };
  const DEPLOY = `mutation($input: DeployServerInput!) { deployServer(input: $input) { id name endpoint catalogTool { name } } }`;

  beforeAll(async () => {
    ({ db, close } = await target.open());
    await migrate(db);
    sim = await new DtmaSimulator({ shape: "A", apiKey: KEY }).start();
    envId = await insertEnvironment(db, { name: "alice-droplet", publicIp: "127.0.0.1" });
    await db.query("UPDATE account_tool_environments SET user_id = $1 WHERE id = $2", [ALICE, envId]);
    entries.weather = await entry({
      tool_name: "weather",
      name: "weather",
      description: "Forecasts over MCP",
      categories: ["data", "weather"],
      package_identifier: "ghcr.io/curated/weather",
      docker_image_url: "ghcr.io/curated/weather",
      version_info: { default_version: "1.1", available_versions: ["1.0", "1.1"] },
      default_config_template: { env: { LOG_LEVEL: "info", REGION: "eu" }, containerPort: 9000, endpointPath: "/v1/mcp" },
      required_secrets_schema: [{ name: "API_KEY", description: "The forecast provider's key" }],
    });
    entries.archived = await entry({
      tool_name: "old",
      name: "old",
      categories: ["data"],
      package_identifier: "ghcr.io/curated/old",
      docker_image_url: "ghcr.io/curated/old",
      status: "archived",
    });
    entries.bobs = await entry({
      tool_name: `image:${BOB}:ghcr.io/bob/secret`,
      name: `image:${BOB}:ghcr.io/bob/secret`,
      package_identifier: "ghcr.io/bob/secret",
      docker_image_url: "ghcr.io/bob/secret",
      is_public: false,
      created_by: BOB,
    });
    token = await signDevToken(SECRET, { sub: ALICE, role: "authenticated" });
    const first = await freePort();
    server = await startTestServer(new SqlStore(db), {
      env: {
        AUTH_DISABLED: "false",
        SUPABASE_JWT_SECRET: SECRET,
        DTMA_PORT: String(sim.port),
        DTMA_API_KEY: KEY,
        RATE_LIMIT_PER_MINUTE: "0",
        DEPLOY_HOST_PORTS: `${first}-${first + 5}`,
      },
    });
  });
  afterAll(async () => {
    await server?.close();
    await sim?.stop();
    await close?.();
  });

  it("lists the public entries, not another user's private ones, with their versions, template and required secrets", async () => {
    const res = await as(`{ catalog(first: 10) { totalCount edges { node { name categories defaultVersion versions requiredSecrets status isPublic } } } }`);
    expect(res.errors).toBeUndefined();
    expect(res.data.catalog.totalCount).toBe(2);
    expect(res.data.catalog.edges.map((e: any) => e.node)).toEqual([
      { name: "old", categories: ["data"], defaultVersion: "latest", versions: ["latest"], requiredSecrets: [], status: "archived", isPublic: true },
      {
        name: "weather",
        categories: ["data", "weather"],
        defaultVersion: "1.1",
        versions: ["1.0", "1.1"],
        requiredSecrets: ["API_KEY"],
        status: "available",
        isPublic: true,
      },
    ]);
    const filtered = await as(`{ catalog(first: 10, filter: { categories: ["weather"], statuses: [available] }) { edges { node { name } } } }`);
    expect(filtered.data.catalog.edges).toEqual([{ node: { name: "weather" } }]);
    const searched = await as(`{ catalog(first: 10, filter: { search: "FORECAST" }) { totalCount } }`);
    expect(searched.data.catalog.totalCount).toBe(1);
    const bobs = await as(`query($id: ID!) { node(id: $id) { id } }`, { id: encodeGlobalID("CatalogTool", entries.bobs) });
    expect(bobs.data.node).toBeNull();
  });

  it("refuses a catalog deploy that lacks a required secret, naming it, before the droplet is touched", async () => {
    const before = sim.requests.length;
    const res = await as(DEPLOY, {
      input: { environmentId: envId, catalogToolId: encodeGlobalID("CatalogTool", entries.weather), name: "w1", env: ["API_KEY="] },
    });
    expect(res.errors?.[0]).toMatchObject({ message: expect.stringContaining("API_KEY"), extensions: { code: "BAD_USER_INPUT" } });
    expect(sim.requests.length).toBe(before);
    expect(await db.query("SELECT id FROM account_tool_instances WHERE instance_name_on_toolbox = 'w1'")).toEqual([]);
  });

  it.each([
    ["a version the entry does not have", { version: "9.9" }, "BAD_USER_INPUT", /no version 9\.9/],
    ["an archived entry", { catalogToolId: "archived" }, "BAD_USER_INPUT", /archived/],
    ["another user's private entry", { catalogToolId: "bobs" }, "NOT_FOUND", /No catalog tool/],
    ["both an image and an entry", { image: "ghcr.io/x/y:1" }, "BAD_USER_INPUT", /one of them/],
  ])("refuses %s", async (_what, change, code, message) => {
    const { catalogToolId, ...rest } = change as { catalogToolId?: string };
    const res = await as(DEPLOY, {
      input: {
        environmentId: envId,
        catalogToolId: encodeGlobalID("CatalogTool", entries[catalogToolId ?? "weather"]),
        name: "refused",
        env: ["API_KEY=k"],
        ...rest,
      },
    });
    expect(res.errors?.[0]).toMatchObject({ message: expect.stringMatching(message), extensions: { code } });
  });

  it("deploys an entry at its default version with its template merged under the caller's env, once per droplet", async () => {
    const res = await as(DEPLOY, {
      input: { environmentId: envId, catalogToolId: encodeGlobalID("CatalogTool", entries.weather), name: "w1", env: ["API_KEY=k", "REGION=us"] },
    });
    expect(res.errors).toBeUndefined();
    expect(res.data.deployServer).toMatchObject({
      name: "w1",
      catalogTool: { name: "weather" },
      endpoint: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/v1\/mcp$/),
    });
    expect(sim.containers.get("w1")).toMatchObject({ image: "ghcr.io/curated/weather:1.1", containerPort: 9000 });
    const [row] = await db.query<{ tool_catalog_id: string; base_config_override_json: { Env: string[] } }>(
      "SELECT tool_catalog_id, base_config_override_json FROM account_tool_instances WHERE instance_name_on_toolbox = 'w1'",
    );
    expect(row.tool_catalog_id).toBe(entries.weather);
    expect([...row.base_config_override_json.Env].sort()).toEqual(["API_KEY=k", "LOG_LEVEL=info", "REGION=us"]);
    const again = await as(DEPLOY, {
      input: { environmentId: envId, catalogToolId: encodeGlobalID("CatalogTool", entries.weather), name: "w2", env: ["API_KEY=k"], version: "1.0" },
    });
    expect(again.errors?.[0]).toMatchObject({ message: expect.stringMatching(/one instance per catalog tool per droplet/), extensions: { code: "CONFLICT" } });
  });
});
