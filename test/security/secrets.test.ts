// Secrets never reach a response, an error or a log line.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signDevToken } from "../../src/auth/verify.ts";
import { pgliteDb } from "../../src/data/db.ts";
import { migrate } from "../../src/data/migrate.ts";
import { SqlStore } from "../../src/data/sql-store.ts";
import { DtmaSimulator } from "../../src/demo/simulator.ts";
import { insertEnvironment, insertServer } from "../../fixtures/fleet.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { capturingLogger } from "../helpers/logs.ts";

const DTMA_KEY = "backend-key-SECRET-7f3a9c";
const JWT_SECRET = "jwt-secret-SECRET-0123456789abcdef0123";
const BEARER = `${"f".repeat(40)}SECRET${"e".repeat(18)}`;

describe("secrets", () => {
  let lines: string[] = [];
  let server: TestServer;
  let sim: DtmaSimulator;
  let token: string;
  const responses: string[] = [];

  beforeAll(async () => {
    const captured = capturingLogger("trace");
    const logger = captured.logger;
    lines = captured.lines;
    sim = await new DtmaSimulator({ apiKey: DTMA_KEY }).start();
    const db = await pgliteDb(undefined);
    await migrate(db);
    const env = await insertEnvironment(db, { name: "e", publicIp: "127.0.0.1" });
    await db.query("UPDATE account_tool_environments SET dtma_bearer_token = $1 WHERE id = $2", [BEARER, env]);
    const s = await insertServer(db, { env, name: "s", status: "running" });
    server = await startTestServer(new SqlStore(db), {
      logger,
      env: { AUTH_DISABLED: "false", SUPABASE_JWT_SECRET: JWT_SECRET, DTMA_API_KEY: DTMA_KEY, DTMA_PORT: String(sim.port), LOG_LEVEL: "trace" },
    });
    token = await signDevToken(JWT_SECRET, { sub: "00000000-0000-4000-8000-00000000ffff", role: "service_role" });
    const call = async (body: unknown, auth = `Bearer ${token}`) => {
      const res = await fetch(server.url, { method: "POST", headers: { "content-type": "application/json", authorization: auth }, body: JSON.stringify(body) });
      responses.push(await res.text());
    };
    await call({ query: `{ environments { edges { node { id name systemMetrics { error } } } } }` });
    await call({ query: `mutation($id: ID!) { refreshEnvironmentStatus(id: $id) { status } }`, variables: { id: env } });
    sim.faults.set("*", 500);
    await call({ query: `mutation($id: ID!) { stopServer(id: $id) { rawStatus } }`, variables: { id: s } });
    sim.faults.clear();
    await call({ query: `{ servers { totalCount } }` }, "Bearer not-a-token");
    await call({ query: `{ nope }` });
    const hb = await fetch(server.url.replace("/graphql", "/dtma/heartbeat"), {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${BEARER}` },
      body: JSON.stringify({ tool_statuses: [{ account_tool_instance_id: s, status_on_toolbox: "bogus" }] }),
    });
    responses.push(await hb.text());
  });
  afterAll(async () => {
    await server?.close();
    await sim?.stop();
  });

  it("logs the calls it made (so the check below looked at something)", () => {
    expect(lines.join("")).toContain('"call":"dtma"');
  });

  it.each([
    ["the DTMA backend key", DTMA_KEY],
    ["the JWT secret", JWT_SECRET],
    ["a droplet's bearer token", BEARER],
  ])("never puts %s in a response or a log line", (_what, secret) => {
    expect(responses.join("\n")).not.toContain(secret);
    expect(lines.join("")).not.toContain(secret);
  });

  it("never logs the user's access token", () => {
    expect(lines.join("")).not.toContain(token);
  });
});
