// The shared tool catalog: a tenant's raw-image deploy may not write public entries into it, nor
// link to a curated entry by naming its image after it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signDevToken } from "../../src/auth/verify.ts";
import type { Db } from "../../src/data/db.ts";
import { migrate } from "../../src/data/migrate.ts";
import { SqlStore } from "../../src/data/sql-store.ts";
import { DtmaSimulator } from "../../src/demo/simulator.ts";
import { insertEnvironment } from "../../fixtures/fleet.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { sqlTargets } from "../helpers/targets.ts";

const SECRET = "catalog-secret-0123456789abcdef0123456789";
const ALICE = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
const KEY = "catalog-agent-key-0123456789";

describe.each(sqlTargets)("the shared catalog on $name", (target) => {
  let db: Db;
  let close: () => Promise<void>;
  let sim: DtmaSimulator;
  let server: TestServer;
  let envId: string;
  let curatedId: string;
  let token: string;

  const deploy = async (image: string, name: string) => {
    const res = await fetch(server.url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({
        query: `mutation($input: DeployServerInput!) { deployServer(input: $input) { id name } }`,
        variables: { input: { environmentId: envId, image, name, ports: [{ containerPort: 8080, hostPort: 41000 + name.length }] } },
      }),
    });
    return (await res.json()) as { data?: any; errors?: unknown[] };
  };
  const catalogOf = async (image: string) =>
    db.query<{ id: string; tool_name: string; is_public: boolean; created_by: string | null }>(
      `SELECT c.id, c.tool_name, c.is_public, c.created_by FROM account_tool_instances i JOIN tool_catalog c ON c.id = i.tool_catalog_id
       WHERE c.package_identifier = $1`,
      [image],
    );

  beforeAll(async () => {
    ({ db, close } = await target.open());
    await migrate(db);
    sim = await new DtmaSimulator({ shape: "A", apiKey: KEY }).start();
    envId = await insertEnvironment(db, { name: "alice-droplet", publicIp: "127.0.0.1" });
    await db.query("UPDATE account_tool_environments SET user_id = $1 WHERE id = $2", [ALICE, envId]);
    [{ id: curatedId }] = await db.query<{ id: string }>(
      `INSERT INTO tool_catalog (tool_name, name, package_identifier, docker_image_url, description)
       VALUES ('weather', 'weather', 'ghcr.io/curated/weather:1', 'ghcr.io/curated/weather:1', 'Curated') RETURNING id`,
    );
    token = await signDevToken(SECRET, { sub: ALICE, role: "authenticated" });
    server = await startTestServer(new SqlStore(db), {
      env: { AUTH_DISABLED: "false", SUPABASE_JWT_SECRET: SECRET, DTMA_PORT: String(sim.port), DTMA_API_KEY: KEY, RATE_LIMIT_PER_MINUTE: "0" },
    });
  });
  afterAll(async () => {
    await server?.close();
    await sim?.stop();
    await close?.();
  });

  it("adds no public entry: a raw-image deploy's entry is private to the droplet's owner", async () => {
    const publicBefore = await db.query("SELECT id FROM tool_catalog WHERE is_public ORDER BY id");
    const res = await deploy("ghcr.io/alice/tool:2", "alice-tool");
    expect(res.errors).toBeUndefined();
    expect(res.data.deployServer.name).toBe("alice-tool");
    expect(await catalogOf("ghcr.io/alice/tool:2")).toEqual([
      { id: expect.any(String), tool_name: `image:${ALICE}:ghcr.io/alice/tool:2`, is_public: false, created_by: ALICE },
    ]);
    expect(await db.query("SELECT id FROM tool_catalog WHERE is_public ORDER BY id")).toEqual(publicBefore);
  });

  it("cannot link to a curated entry by using its name as the image", async () => {
    const res = await deploy("weather", "squatter");
    expect(res.errors).toBeUndefined();
    const [entry] = await catalogOf("weather");
    expect(entry.id).not.toBe(curatedId);
    expect(entry).toMatchObject({ is_public: false, created_by: ALICE });
    const [curated] = await db.query("SELECT tool_name, package_identifier, is_public FROM tool_catalog WHERE id = $1", [curatedId]);
    expect(curated).toEqual({ tool_name: "weather", package_identifier: "ghcr.io/curated/weather:1", is_public: true });
  });
});
