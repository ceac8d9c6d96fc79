// Fleet operations end to end: the API on a real database, the DTMA simulator as the droplet's
// agent (its containers are real SDK MCP servers), subscribers watching.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "../../src/data/db.ts";
import { migrate } from "../../src/data/migrate.ts";
import { SqlStore } from "../../src/data/sql-store.ts";
import { DtmaSimulator } from "../../src/demo/simulator.ts";
import type { LiveFleet } from "../../src/live/fleet.ts";
import { freePort } from "../../src/demo/sample-servers.ts";
import { insertEnvironment } from "../../fixtures/fleet.ts";
import { codes, startTestServer, type TestServer } from "../helpers/server.ts";
import { subscribeWs, wsClient } from "../helpers/subscriptions.ts";
import { until } from "../helpers/wait.ts";
import { sqlTargets } from "../helpers/targets.ts";

const KEY = "backend-key-for-tests-0123456789";
const TOKEN = "a".repeat(64);
const SERVER = `id uuid name rawStatus status { state health lastError } endpoint`;

describe.each(sqlTargets)("fleet operations on $name", (target) => {
  let db: Db;
  let close: () => Promise<void>;
  let sim: DtmaSimulator;
  let server: TestServer & { live?: LiveFleet };
  let envId: string;
  let hostPort: number;
  /** The first port of the automatic range, free on this machine when the test started. */
  let autoPort: number;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    ({ db, close } = await target.open());
    await migrate(db);
    sim = await new DtmaSimulator({ shape: "A", apiKey: KEY, mcpServers: true }).start();
    envId = await insertEnvironment(db, { name: "sim-droplet", publicIp: "127.0.0.1", status: "awaiting_heartbeat" });
    await db.query("UPDATE account_tool_environments SET dtma_bearer_token = $1 WHERE id = $2", [TOKEN, envId]);
    hostPort = await freePort();
    autoPort = await freePort();
    server = await startTestServer(new SqlStore(db), {
      live: { coalesceMs: 5 },
      env: {
        DTMA_PORT: String(sim.port),
        DTMA_API_KEY: KEY,
        DTMA_TIMEOUT_MS: "700",
        DTMA_RETRIES: "0",
        MCP_PROBE_TIMEOUT_MS: "3000",
        DEPLOY_HOST_PORTS: `${autoPort}-${autoPort}`,
      },
    });
  });
  afterAll(async () => {
    await server?.close();
    await sim?.stop();
    await close?.();
  });

  const deploy = (input: Record<string, unknown>) =>
    server.gql(`mutation($input: DeployServerInput!) { deployServer(input: $input) { ${SERVER} } }`, { input: { environmentId: envId, ...input } });

  it("deploys a server through the droplet agent, and it answers MCP at its endpoint", async () => {
    const { body } = await deploy({ image: "ghcr.io/example/weather:1", name: "weather", env: ["API_KEY=x"], ports: [{ containerPort: 8080, hostPort }] });
    expect(body.errors).toBeUndefined();
    const s = body.data.deployServer;
    ids.weather = s.uuid;
    expect(s).toMatchObject({ name: "weather", rawStatus: "running", status: { state: "RUNNING" }, endpoint: `http://127.0.0.1:${hostPort}/mcp` });
    expect(sim.containers.get("weather")).toMatchObject({ accountToolInstanceId: s.uuid, image: "ghcr.io/example/weather:1", hostPort, state: "running" });
    expect(sim.requests.find((r) => r.path === "/tools")?.authorization).toBe(`Bearer ${KEY}`);

    const test = await server.gql(`mutation($id: ID!) { testServerConnection(id: $id) { success serverInfo { name } tools } }`, { id: s.id });
    expect(test.body.data.testServerConnection).toEqual({ success: true, serverInfo: { name: "weather" }, tools: ["echo", "add"] });
  });

  it("refuses a second instance of the same image on the droplet with CONFLICT, as upstream's unique key does", async () => {
    const { body } = await deploy({ image: "ghcr.io/example/weather:1", name: "weather-2" });
    expect(codes(body)).toEqual(["CONFLICT"]);
  });

  it("refuses a name another container has before anything is written or sent: no row is left behind", async () => {
    const posts = sim.requests.filter((r) => r.path === "/tools").length;
    const { body } = await deploy({ image: "ghcr.io/example/other:1", name: "weather" });
    expect(codes(body)).toEqual(["CONFLICT"]);
    expect(body.errors![0].message).toMatch(/named weather/);
    expect(await db.query("SELECT id FROM account_tool_instances WHERE instance_name_on_toolbox = 'weather'")).toHaveLength(1);
    expect(sim.requests.filter((r) => r.path === "/tools").length).toBe(posts);
  });

  it("never acts on another row's container: a row of the same name (upstream's failed deploy) is refused start/stop, and deleted alone", async () => {
    // The state upstream left behind: a second row, in error, under the name of a running container.
    const [{ id: stale }] = await db.query<{ id: string }>(
      `WITH tool AS (INSERT INTO tool_catalog (tool_name, name, package_identifier, docker_image_url) VALUES ('stale', 'stale', 'img:stale', 'img:stale') RETURNING id)
       INSERT INTO account_tool_instances (account_tool_environment_id, tool_catalog_id, status_on_toolbox, instance_name_on_toolbox, mcp_server_type, mcp_transport_type, instance_error_message)
       SELECT $1, id, 'error', 'weather', 'mcp_server', 'sse', 'Container with name weather already exists.' FROM tool RETURNING id`,
      [envId],
    );
    const sent = () => sim.requests.filter((r) => r.method !== "GET").length;
    const before = sent();
    for (const m of ["startServer", "stopServer", "restartServer"]) {
      const { body } = await server.gql(`mutation($id: ID!) { ${m}(id: $id) { id } }`, { id: stale });
      expect(codes(body), m).toEqual(["CONFLICT"]);
      expect(body.errors![0].message).toMatch(/not this server's/);
    }
    const deleted = await server.gql(`mutation($id: ID!) { deleteServer(id: $id) { deletedServerId container } }`, { id: stale });
    expect(deleted.body.data.deleteServer).toEqual({ deletedServerId: stale, container: "NONE" });
    expect(sent()).toBe(before); // no start, stop or DELETE reached the agent
    expect(sim.containers.get("weather")).toMatchObject({ accountToolInstanceId: ids.weather, state: "running" });
    expect(await db.query("SELECT id FROM account_tool_instances WHERE id = $1", [stale])).toEqual([]);
  });

  it("gives a deploy without ports a free published host port, never the agent's", async () => {
    const { body } = await deploy({ image: "ghcr.io/example/ports:1", name: "no-ports" });
    expect(body.errors).toBeUndefined();
    const s = body.data.deployServer;
    expect(s.endpoint).toBe(`http://127.0.0.1:${autoPort}/mcp`);
    expect(sim.containers.get("no-ports")?.hostPort).toBe(Number(new URL(s.endpoint).port));
    const read = await server.gql(`query($id: ID!) { server(id: $id) { endpointProblem } }`, { id: s.id });
    expect(read.body.data.server.endpointProblem).toBeNull();
    expect((await server.gql(`mutation($id: ID!) { deleteServer(id: $id) { container } }`, { id: s.id })).body.data.deleteServer.container).toBe("REMOVED");
  });

  it("leaves no row behind when the agent refuses a deploy (409: a port taken meanwhile)", async () => {
    // A container the agent runs that no row knows, on the first port of the automatic range
    // (shape A's status does not list ports, so only the agent can say).
    await sim.add({ name: "unknown", accountToolInstanceId: "00000000-0000-4000-8000-000000000099", hostPort: autoPort });
    const { body } = await deploy({ image: "ghcr.io/example/late:1", name: "late" });
    expect(codes(body)).toEqual(["CONFLICT"]);
    expect(body.errors![0].message).toMatch(new RegExp(`${autoPort}.*nothing was deployed`));
    expect(await db.query("SELECT id FROM account_tool_instances WHERE instance_name_on_toolbox = 'late'")).toEqual([]);
    await fetch(`http://127.0.0.1:${sim.port}/tools/unknown`, { method: "DELETE", headers: { authorization: `Bearer ${KEY}` } });
  });

  it("refuses an action that makes no sense in the server's state with CONFLICT, sending nothing", async () => {
    const sent = sim.requests.length;
    const { body } = await server.gql(`mutation($id: ID!) { startServer(id: $id) { id } }`, { id: ids.weather }); // it runs
    expect(codes(body)).toEqual(["CONFLICT"]);
    expect(body.errors![0].message).toMatch(/is running: it cannot be started now/);
    expect(sim.requests.length).toBe(sent);
    const [row] = await db.query<{ status_on_toolbox: string }>("SELECT status_on_toolbox FROM account_tool_instances WHERE id = $1", [ids.weather]);
    expect(row.status_on_toolbox).toBe("running");
  });

  describe("configureServer", () => {
    const CONFIGURE = `mutation($input: ConfigureServerInput!) { configureServer(input: $input) { id rawStatus endpoint environmentVariables status { lastError } } }`;

    it("replaces the container with the new configuration: variables set and unset, another port; values are never returned", async () => {
      const { body: made } = await deploy({
        image: "ghcr.io/example/conf:1",
        name: "conf",
        env: ["KEEP=1", "DROP=2"],
        ports: [{ containerPort: 8080, hostPort: await freePort() }],
      });
      const id = made.data.deployServer.id;
      const oldId = sim.containers.get("conf")!.id;
      const port = await freePort();
      const { body } = await server.gql(CONFIGURE, {
        input: { id, setEnv: [{ name: "API_TOKEN", value: "s3cr3t-value" }], unsetEnv: ["DROP"], ports: [{ containerPort: 8080, hostPort: port }] },
      });
      expect(body.errors).toBeUndefined();
      expect(body.data.configureServer).toMatchObject({ rawStatus: "running", endpoint: `http://127.0.0.1:${port}/mcp` });
      expect([...body.data.configureServer.environmentVariables].sort()).toEqual(["API_TOKEN", "KEEP"]);
      expect(JSON.stringify(body)).not.toContain("s3cr3t-value");
      expect(sim.containers.get("conf")).toMatchObject({ hostPort: port, state: "running" });
      expect(sim.containers.get("conf")!.id).not.toBe(oldId);
      const test = await server.gql(`mutation($id: ID!) { testServerConnection(id: $id) { success } }`, { id });
      expect(test.body.data.testServerConnection.success).toBe(true);
    });

    it("restores the previous configuration when the new container fails, and says so", async () => {
      const { body: made } = await deploy({ image: "ghcr.io/example/conf2:1", name: "conf2", ports: [{ containerPort: 8080, hostPort: await freePort() }] });
      const id = made.data.deployServer.id;
      const before = sim.containers.get("conf2")!.hostPort;
      // The new port is another container's: the agent refuses it (409).
      const taken = sim.containers.get("weather")!.hostPort;
      const { body } = await server.gql(CONFIGURE, { input: { id, ports: [{ containerPort: 8080, hostPort: taken }] } });
      expect(codes(body)).toEqual(["CONFLICT"]);
      expect(body.errors![0].message).toMatch(/previous configuration was restored/);
      expect(sim.containers.get("conf2")).toMatchObject({ hostPort: before, state: "running" });
      const read = await server.gql(`query($id: ID!) { server(id: $id) { rawStatus endpoint status { lastError } } }`, { id });
      expect(read.body.data.server).toMatchObject({ rawStatus: "running", endpoint: `http://127.0.0.1:${before}/mcp` });
      expect(read.body.data.server.status.lastError).toMatch(/previous configuration was restored/);
    });
  });

  it("acts on many servers in one bulkServerAction, one result per server, each error coded", async () => {
    const made: string[] = [];
    for (const name of ["bulk-a", "bulk-b"]) {
      const { body } = await deploy({ image: `ghcr.io/example/${name}:1`, name, ports: [{ containerPort: 8080, hostPort: await freePort() }] });
      made.push(body.data.deployServer.id as string);
    }
    const BULK = `mutation($action: BulkServerAction!, $ids: [ID!]!) { bulkServerAction(action: $action, ids: $ids) {
      serverId ok server { rawStatus } connectionTest { success } error { code message } } }`;
    const unknown = "00000000-0000-4000-8000-00000000beef";
    const stopped = (await server.gql(BULK, { action: "STOP", ids: [...made, "garbage", unknown] })).body.data.bulkServerAction;
    expect(stopped.map((r: any) => [r.serverId, r.ok, r.server?.rawStatus ?? null, r.error?.code ?? null])).toEqual([
      [made[0], true, "stopped", null],
      [made[1], true, "stopped", null],
      ["garbage", false, null, "BAD_USER_INPUT"],
      [unknown, false, null, "NOT_FOUND"],
    ]);
    expect(sim.containers.get("bulk-a")!.state).toBe("exited");
    const again = (await server.gql(BULK, { action: "STOP", ids: [made[0]] })).body.data.bulkServerAction;
    expect(again[0].error).toMatchObject({ code: "CONFLICT", message: expect.stringMatching(/stopped/) });
    const started = (await server.gql(BULK, { action: "START", ids: made })).body.data.bulkServerAction;
    expect(started.every((r: any) => r.ok && r.server.rawStatus === "running")).toBe(true);
    const tested = (await server.gql(BULK, { action: "TEST", ids: made })).body.data.bulkServerAction;
    expect(tested.map((r: any) => r.connectionTest?.success)).toEqual([true, true]);
    const tooMany = await server.gql(BULK, { action: "REFRESH", ids: Array.from({ length: 101 }, () => made[0]) });
    expect(codes(tooMany.body)).toEqual(["BAD_USER_INPUT"]);
  });

  it("refuses bad deploy input with BAD_USER_INPUT before touching the droplet", async () => {
    const before = sim.requests.length;
    expect(codes((await deploy({ image: "img", name: "bad name; rm -rf /" })).body)).toEqual(["BAD_USER_INPUT"]);
    expect(codes((await deploy({ image: "img", name: "ok", ports: [{ containerPort: 8080, hostPort: sim.port }] })).body)).toEqual(["BAD_USER_INPUT"]);
    expect(codes((await deploy({ image: "img", name: "ok", env: ["not an assignment"] })).body)).toEqual(["BAD_USER_INPUT"]);
    const ws = (await deploy({ image: "img", name: "ok", transport: "WEBSOCKET" })).body;
    expect(codes(ws)).toEqual(["BAD_USER_INPUT"]);
    expect(ws.errors![0].message).toMatch(/WebSocket is not an MCP transport/);
    expect(sim.requests.length).toBe(before);
  });

  it("stops, starts and restarts through the agent, and subscribers see each state in order", async () => {
    const client = wsClient(server.url);
    const sub = subscribeWs(client, `subscription($ids: [ID!]) { serverStatusChanged(filter: { serverIds: $ids }) { previous { state } current { state } } }`, {
      ids: [ids.weather],
    });
    await until(() => server.live!.serverEvents.size === 1, "the subscription");
    /** The states a subscriber saw until `target`, each event continuing from the one before. */
    const statesUntil = async (from: string, target: string) => {
      const seen = [from];
      while (seen.at(-1) !== target) {
        const { previous, current } = (await sub.next()).serverStatusChanged;
        expect(previous?.state, `after ${seen.join(" -> ")}`).toBe(seen.at(-1));
        seen.push(current.state);
      }
      return seen;
    };

    const stopped = await server.gql(`mutation($id: ID!) { stopServer(id: $id) { rawStatus status { state } } }`, { id: ids.weather });
    expect(stopped.body.data.stopServer).toEqual({ rawStatus: "stopped", status: { state: "STOPPED" } });
    expect(sim.containers.get("weather")!.state).toBe("exited");
    // Changes closer together than the feed's coalescing window arrive as one event.
    expect([
      ["RUNNING", "STOPPING", "STOPPED"],
      ["RUNNING", "STOPPED"],
    ]).toContainEqual(await statesUntil("RUNNING", "STOPPED"));

    expect((await server.gql(`mutation($id: ID!) { startServer(id: $id) { rawStatus } }`, { id: ids.weather })).body.data.startServer.rawStatus).toBe(
      "running",
    );
    expect([
      ["STOPPED", "STARTING", "RUNNING"],
      ["STOPPED", "RUNNING"],
    ]).toContainEqual(await statesUntil("STOPPED", "RUNNING"));
    expect((await server.gql(`mutation($id: ID!) { restartServer(id: $id) { rawStatus } }`, { id: ids.weather })).body.data.restartServer.rawStatus).toBe(
      "running",
    );
    expect(sim.requests.slice(-2).map((r) => `${r.method} ${r.path}`)).toEqual(["POST /tools/weather/stop", "POST /tools/weather/start"]); // shape A has no restart route
    await sub.close();
    await client.dispose();
  });

  it("refreshes a droplet with one /status call and one statement for all its servers", async () => {
    sim.containers.get("weather")!.state = "exited";
    let statements = 0;
    const off = db.onStatement((text) => /mcp_fleet_apply_dtma_report/.test(text) && statements++);
    const before = sim.requests.filter((r) => r.path === "/status").length;
    const { body } = await server.gql(
      `mutation($id: ID!) { refreshEnvironmentStatus(id: $id) { status dtmaVersion lastHeartbeatAt systemMetrics { cpuLoadPercent } } }`,
      { id: envId },
    );
    off();
    expect(body.errors).toBeUndefined();
    expect(body.data.refreshEnvironmentStatus).toMatchObject({ status: "active", dtmaVersion: "1.4.2-sim" });
    expect(sim.requests.filter((r) => r.path === "/status").length - before).toBe(1);
    expect(statements).toBe(1);
    const s = await server.gql(`query($id: ID!) { server(id: $id) { rawStatus } }`, { id: ids.weather });
    expect(s.body.data.server.rawStatus).toBe("stopped");
  });

  it("marks a server whose container vanished from the droplet as error", async () => {
    sim.containers.get("weather")!.state = "running";
    const vanished = sim.containers.get("weather")!;
    sim.containers.delete("weather");
    await db.query("UPDATE account_tool_instances SET status_on_toolbox = 'running' WHERE id = $1", [ids.weather]);
    const { body } = await server.gql(`mutation($id: ID!) { refreshServerStatus(id: $id) { rawStatus status { lastError } } }`, { id: ids.weather });
    expect(body.data.refreshServerStatus).toEqual({ rawStatus: "error", status: { lastError: "The droplet agent no longer reports this container" } });
    sim.containers.set("weather", vanished);
  });

  it("answers TIMEOUT for an agent that hangs, marks the droplet unresponsive, and recovers on the next refresh", async () => {
    sim.faults.set("*", "hang");
    const started = Date.now();
    const { body } = await server.gql(`mutation($id: ID!) { refreshEnvironmentStatus(id: $id) { status } }`, { id: envId });
    expect(codes(body)).toEqual(["TIMEOUT"]);
    expect(Date.now() - started).toBeLessThan(3000);
    const env = await server.gql(`query($id: ID!) { environment(id: $id) { status systemMetrics { error } } }`, { id: envId });
    expect(env.body.data.environment).toEqual({ status: "unresponsive", systemMetrics: { error: expect.stringContaining("did not answer") } });
    sim.faults.clear();
    expect(
      (await server.gql(`mutation($id: ID!) { refreshEnvironmentStatus(id: $id) { status } }`, { id: envId })).body.data.refreshEnvironmentStatus.status,
    ).toBe("active");
  });

  it("maps a hostile agent answer (redirect, garbage) to UPSTREAM_UNAVAILABLE and keeps serving", async () => {
    for (const fault of ["redirect", "garbage"] as const) {
      sim.faults.set("GET /status", fault);
      expect(codes((await server.gql(`mutation($id: ID!) { refreshEnvironmentStatus(id: $id) { status } }`, { id: envId })).body)).toEqual([
        "UPSTREAM_UNAVAILABLE",
      ]);
    }
    sim.faults.clear();
    expect((await server.gql(`{ servers(first: 1) { totalCount } }`)).body.data.servers.totalCount).toBeGreaterThan(0);
  });

  it("answers NOT_FOUND for unknown servers and environments", async () => {
    const unknown = "00000000-0000-4000-8000-00000000beef";
    for (const m of ["startServer", "stopServer", "restartServer", "refreshServerStatus"]) {
      expect(codes((await server.gql(`mutation($id: ID!) { ${m}(id: $id) { id } }`, { id: unknown })).body)).toEqual(["NOT_FOUND"]);
    }
    expect(codes((await server.gql(`mutation($id: ID!) { refreshEnvironmentStatus(id: $id) { id } }`, { id: unknown })).body)).toEqual(["NOT_FOUND"]);
  });

  describe("heartbeat ingestion", () => {
    const post = (body: unknown, token = TOKEN) =>
      fetch(server.url.replace("/graphql", "/dtma/heartbeat"), {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: typeof body === "string" ? body : JSON.stringify(body),
      });

    it("updates the droplet and its servers from an upstream heartbeat, answering 204", async () => {
      const res = await post({
        dtma_version: "2.0.0",
        system_status: { cpu_load_percent: 12 },
        tool_statuses: [{ account_tool_instance_id: ids.weather, status_on_toolbox: "exited", runtime_details: { x: 1 } }],
      });
      expect(res.status).toBe(204);
      const s = await server.gql(
        `query($id: ID!) { server(id: $id) { rawStatus lastHeartbeat environment { dtmaVersion systemMetrics { cpuLoadPercent } lastHeartbeatAt } } }`,
        { id: ids.weather },
      );
      expect(s.body.data.server).toMatchObject({ rawStatus: "stopped", environment: { dtmaVersion: "2.0.0", systemMetrics: { cpuLoadPercent: 12 } } });
      expect(s.body.data.server.lastHeartbeat).toBeTruthy();
    });

    it("accepts the simulator's own heartbeats", async () => {
      const beating = new DtmaSimulator({
        apiKey: KEY,
        heartbeat: { url: server.url.replace("/graphql", "/dtma/heartbeat"), token: TOKEN, intervalMs: 60_000 },
      });
      await beating.add({ name: "weather", accountToolInstanceId: ids.weather, state: "running" });
      expect(await beating.sendHeartbeat()).toBe(204);
      expect((await server.gql(`query($id: ID!) { server(id: $id) { rawStatus } }`, { id: ids.weather })).body.data.server.rawStatus).toBe("running");
    });

    it("refuses a body the database could not store, or should not (NUL, nesting past 16 levels, a system report over 16 KB) with 400, writing nothing", async () => {
      const before = await db.query("SELECT status, dtma_health_details_json FROM account_tool_environments WHERE id = $1", [envId]);
      let deep: unknown = { cpu_load_percent: 1 };
      for (let i = 0; i < 40; i++) deep = { nested: deep };
      for (const system_status of [{ note: "a\u0000b" }, deep, { note: "n".repeat(20_000) }]) {
        const res = await post({ system_status });
        expect(res.status, JSON.stringify(system_status).slice(0, 40)).toBe(400);
      }
      expect(await db.query("SELECT status, dtma_health_details_json FROM account_tool_environments WHERE id = $1", [envId])).toEqual(before);
    });

    it("refuses an unknown token with 401 and a malformed body with 400, writing nothing", async () => {
      const before = await db.query("SELECT status_on_toolbox, last_heartbeat_from_dtma FROM account_tool_instances WHERE id = $1", [ids.weather]);
      expect((await post({}, "b".repeat(64))).status).toBe(401);
      expect((await post({}, "")).status).toBe(401);
      const bad = await post({ tool_statuses: [{ account_tool_instance_id: ids.weather, status_on_toolbox: "on_fire" }] });
      expect(bad.status).toBe(400);
      expect(await bad.json()).toMatchObject({ issues: [expect.stringContaining("on_fire")] });
      expect((await post("{nope")).status).toBe(400);
      expect((await post({ tool_statuses: [{ account_tool_instance_id: "not-a-uuid", status_on_toolbox: "running" }] })).status).toBe(400);
      expect(await db.query("SELECT status_on_toolbox, last_heartbeat_from_dtma FROM account_tool_instances WHERE id = $1", [ids.weather])).toEqual(before);
    });
  });

  describe("lifecycle failures", () => {
    let n = 0;
    /** A fresh running server on the simulator, deployed through the API. */
    const fresh = async () => {
      const name = `life-${++n}`;
      const { body } = await deploy({ image: `ghcr.io/example/life-${n}:1`, name, ports: [{ containerPort: 8080, hostPort: await freePort() }] });
      expect(body.errors).toBeUndefined();
      return { id: body.data.deployServer.uuid as string, name };
    };
    const row = async (id: string) =>
      (
        await db.query<{ status_on_toolbox: string; instance_error_message: string | null }>(
          "SELECT status_on_toolbox, instance_error_message FROM account_tool_instances WHERE id = $1",
          [id],
        )
      )[0];
    const remove = (id: string) => server.gql(`mutation($id: ID!) { deleteServer(id: $id) { deletedServerId } }`, { id });

    it.each([
      ["startServer", "POST /tools/:name/start"],
      ["stopServer", "POST /tools/:name/stop"],
      ["restartServer", "POST /tools/:name/stop"],
      ["deleteServer", "DELETE /tools/:name"],
    ])("%s: when the agent fails (%s answers 500) the server is kept as error with the agent's message", async (mutation, route) => {
      const { id } = await fresh();
      // A running server cannot be started: stop it first (as the agent would report it).
      if (mutation === "startServer") await db.query("UPDATE account_tool_instances SET status_on_toolbox = 'stopped' WHERE id = $1", [id]);
      sim.faults.set(route, 500);
      const { body } = await server.gql(`mutation($id: ID!) { ${mutation}(id: $id) { __typename } }`, { id });
      sim.faults.clear();
      expect(codes(body)).toEqual(["UPSTREAM_UNAVAILABLE"]);
      expect(body.errors![0].message).toMatch(/simulated 500/);
      expect(await row(id)).toEqual({ status_on_toolbox: "error", instance_error_message: expect.stringMatching(/simulated 500/) });
    });

    it("keeps a server whose container the agent forgot but still runs (CONFLICT, with the reason), and deletes it once the container is gone", async () => {
      const { id, name } = await fresh();
      const container = sim.containers.get(name)!;
      container.accountToolInstanceId = ""; // the agent restarted: DELETE answers 404, /status still lists it
      const refused = await remove(id);
      expect(codes(refused.body)).toEqual(["CONFLICT"]);
      expect(refused.body.errors![0].message).toMatch(/still on the droplet/);
      expect(sim.containers.has(name)).toBe(true);
      expect(await row(id)).toEqual({ status_on_toolbox: "error", instance_error_message: expect.stringMatching(/still on the droplet/) });
      await container.mcp?.close(); // someone removed it on the droplet
      sim.containers.delete(name);
      expect((await remove(id)).body.data.deleteServer.deletedServerId).toBe(id);
      expect(await row(id)).toBeUndefined();
    });
  });

  it("deletes the container, then the row", async () => {
    const { body } = await server.gql(`mutation($id: ID!) { deleteServer(id: $id) { deletedServerId } }`, { id: ids.weather });
    expect(body.data.deleteServer.deletedServerId).toBe(ids.weather);
    expect(sim.containers.has("weather")).toBe(false);
    expect((await server.gql(`query($id: ID!) { server(id: $id) { id } }`, { id: ids.weather })).body.data.server).toBeNull();
  });
});
