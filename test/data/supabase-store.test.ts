// The Supabase store at its boundary: the PostgREST requests it makes and the responses it parses.
import { describe, expect, it } from "vitest";
import { DatabaseUnavailableError } from "../../src/data/db.ts";
import { quote } from "../../src/data/supabase-store.ts";
import { capture, json } from "../helpers/supabase-capture.ts";
import { DEFAULT_THRESHOLDS } from "../../src/domain/status.ts";

// A real PostgREST row of account_tool_instances (timestamps with offsets, jsonb as objects).
const SERVER_ROW = {
  id: "5b0e6c1e-8f5a-4c59-9a43-0d0c2f5e8a11",
  account_tool_environment_id: "0f7d8a5e-2f0b-4b7e-9b1a-3c4d5e6f7a8b",
  tool_catalog_id: "00000000-0000-0000-0000-000000000001",
  status_on_toolbox: "running",
  instance_name_on_toolbox: "weather",
  port_mapping_json: { container_port: 8080, host_port: 49152 },
  last_heartbeat_from_dtma: "2025-06-20T10:15:30.123456+00:00",
  version: "1.0.0",
  base_config_override_json: { Env: ["A=1"] },
  instance_error_message: null,
  mcp_server_type: "mcp_server",
  mcp_endpoint_path: "/mcp",
  mcp_transport_type: "sse",
  mcp_server_capabilities: { tools: true },
  mcp_discovery_metadata: null,
  last_started_at: "2025-06-20T09:00:00+00:00",
  created_at: "2025-06-07T12:00:00+00:00",
  updated_at: "2025-06-20T10:15:30.123456+00:00",
};
const ENV_ROW = {
  id: "0f7d8a5e-2f0b-4b7e-9b1a-3c4d5e6f7a8b",
  user_id: "11111111-1111-4111-8111-111111111111",
  do_droplet_id: 501234567,
  do_droplet_name: "toolbox-1",
  public_ip_address: "203.0.113.10",
  private_ip_address: "10.0.0.5/32",
  status: "active",
  region_slug: "nyc3",
  size_slug: "s-1vcpu-1gb",
  image_slug: "ubuntu-22-04-x64",
  last_heartbeat_at: "2025-06-20T10:15:30+00:00",
  name: "Primary",
  description: null,
  dtma_last_known_version: "1.4.2",
  dtma_health_details_json: { cpu_load_percent: 3 },
  provisioning_error_message: null,
  created_at: "2025-06-01T00:00:00+00:00",
  updated_at: "2025-06-20T10:15:30+00:00",
};

// A page row as PostgREST embeds the environment (select=...,environment:account_tool_environments!inner(...)).
const PAGE_ROW = { ...SERVER_ROW, environment: ENV_ROW };

const time = { now: new Date("2026-11-25T12:00:00Z"), thresholds: DEFAULT_THRESHOLDS };

describe("SupabaseStore requests", () => {
  it("lists servers with one GET carrying the filters, order and page size", async () => {
    const { store, requests } = capture(() => json([PAGE_ROW]));
    await store.listServers({ states: ["RUNNING"], serverTypes: ["mcp_server"], environmentIds: [ENV_ROW.id], search: "wea_" }, { first: 50 }, time);
    expect(requests).toHaveLength(1);
    const [req] = requests;
    expect(req.method).toBe("GET");
    expect(req.path).toBe("/rest/v1/account_tool_instances");
    expect(req.headers.apikey).toBe("service-role-key");
    expect(req.headers.authorization).toBe("Bearer service-role-key");
    expect(req.params).toEqual([
      [
        "select",
        expect.stringMatching(
          /^id,account_tool_environment_id,.*,last_started_at,mcp_fleet_container_id,mcp_fleet_write_source,mcp_fleet_desired_state,mcp_fleet_auto_recovery,mcp_fleet_probe_budget_ms,mcp_fleet_recovery,mcp_fleet_reachability,mcp_fleet_risk,created_at,updated_at,environment:account_tool_environments!inner\(id,user_id,.*,updated_at\)$/,
        ),
      ],
      ["mcp_server_type", "not.is.null"],
      ["account_tool_environment_id", `in.(${ENV_ROW.id})`],
      ["mcp_server_type", "in.(mcp_server)"],
      ["status_on_toolbox", "in.(active,running)"],
      ["instance_name_on_toolbox", "ilike.%wea\\_%"],
      ["order", "instance_name_on_toolbox.asc.nullslast,id.asc"],
      ["limit", "51"],
    ]);
    expect(req.params.find(([k]) => k === "select")![1]).not.toContain("dtma_bearer_token");
  });

  it("embeds only the chosen environment columns (and the keys)", async () => {
    const { store, requests } = capture(() => json([PAGE_ROW]));
    await store.listServers({}, { first: 10 }, time, { server: ["status_on_toolbox"], environment: ["name", "public_ip_address"] });
    expect(requests[0].params.find(([k]) => k === "select")![1]).toBe(
      "id,account_tool_environment_id,status_on_toolbox,instance_name_on_toolbox,environment:account_tool_environments!inner(id,user_id,public_ip_address,name)",
    );
  });

  it("expresses health at the request's time and the cursor as one PostgREST logic tree", async () => {
    const { store, requests } = capture(() => json([]));
    await store.listServers({ healths: ["DEGRADED"] }, { first: 10, after: { key: 'a,b"c', id: SERVER_ROW.id } }, time);
    const or = requests[0].params.find(([k]) => k === "or")![1];
    expect(or).toBe(
      `(and(or(and(status_on_toolbox.in.("active","running"),last_heartbeat_from_dtma.gt."2026-11-25T11:45:00.000Z",last_heartbeat_from_dtma.lte."2026-11-25T11:55:00.000Z",` +
        `or(mcp_fleet_reachability.in.("REACHABLE","SLOW"),mcp_fleet_reachability.is.null)),` +
        `and(status_on_toolbox.in.("active","running"),last_heartbeat_from_dtma.gt."2026-11-25T11:55:00.000Z",mcp_fleet_reachability.in.("SLOW"))),` +
        `or(instance_name_on_toolbox.gt."a,b\\"c",and(instance_name_on_toolbox.eq."a,b\\"c",id.gt.${SERVER_ROW.id}),instance_name_on_toolbox.is.null)))`,
    );
  });

  it("expresses the desired, reachability and recovery axes as trees of the same `or`", async () => {
    const { store, requests } = capture(() => json([]));
    await store.listServers({ desiredStates: ["STOPPED"], reachabilities: ["UNREACHABLE", "UNKNOWN"], recoveries: ["GAVE_UP", "IDLE"] }, { first: 10 }, time);
    const or = requests[0].params.find(([k]) => k === "or")![1];
    expect(or).toContain(
      `or(mcp_fleet_desired_state.eq.STOPPED,and(mcp_fleet_desired_state.is.null,status_on_toolbox.in.("uninstalled","pending_config","stopped","disabled")))`,
    );
    expect(or).toContain(`or(mcp_fleet_reachability.in.("UNREACHABLE"),mcp_fleet_reachability.is.null)`);
    expect(or).toContain(
      "or(and(mcp_fleet_auto_recovery.is.true,mcp_fleet_recovery->>state.eq.GAVE_UP),and(mcp_fleet_auto_recovery.is.true,mcp_fleet_recovery.is.null))",
    );
  });

  it("sends a risk level only where it changed, one request each, as EARLY_WARNING; and filters by it", async () => {
    const { store, requests } = capture(() => json([]));
    await store.setRiskLevels({ servers: [{ id: SERVER_ROW.id, level: "HIGH" }], environments: [{ id: ENV_ROW.id, level: "NONE" }] });
    expect(requests.map((r) => [r.method, r.path, r.headers["x-mcp-fleet-source"]])).toEqual([
      ["PATCH", "/rest/v1/account_tool_instances", "EARLY_WARNING"],
      ["PATCH", "/rest/v1/account_tool_environments", "EARLY_WARNING"],
    ]);
    expect(requests[0].params).toContainEqual(["or", "(mcp_fleet_risk.is.null,mcp_fleet_risk.neq.HIGH)"]);
    await store.listServers({ risks: ["NONE", "LOW"] }, { first: 10 }, time);
    expect(requests[2].params.find(([k]) => k === "or")?.[1]).toBe(`(and(or(mcp_fleet_risk.in.("NONE","LOW"),mcp_fleet_risk.is.null)))`);
  });

  // PostgREST orders by columns, not by a rank: a rank order is read a rank per request, worst
  // first, only as far as the page needs.
  it("sorts by health with one request per rank, stopping once the page (and one more row) is read", async () => {
    const row = (n: number) => ({ ...PAGE_ROW, id: `5b0e6c1e-8f5a-4c59-9a43-0d0c2f5e8a1${n}` });
    let served = 0;
    const { store, requests } = capture(() => json([row(served++), row(served++)]));
    const page = await store.listServers({}, { first: 3, order: { field: "HEALTH", descending: false } }, time);
    expect(requests).toHaveLength(2);
    const param = (i: number, key: string) => requests[i].params.find(([k]) => k === key)?.[1];
    // UNHEALTHY first (error statuses, or running with an old or no heartbeat), then DEGRADED.
    expect(param(0, "or")).toMatch(/^\(and\(or\(and\(status_on_toolbox\.in\.\("error_install".*last_heartbeat_from_dtma\.is\.null/);
    expect(param(1, "or")).toContain("last_heartbeat_from_dtma.gt.");
    expect([param(0, "order"), param(0, "limit"), param(1, "limit")]).toEqual(["id.asc", "4", "2"]);
    expect(page.rows).toHaveLength(3);
    expect(page.keys).toEqual(["0", "0", "1"]);
    expect(page.hasNextPage).toBe(true);
    // The next page starts in the cursor's rank, after its id.
    requests.length = 0;
    await store.listServers({}, { first: 3, order: { field: "HEALTH", descending: false }, after: { key: "1", id: SERVER_ROW.id } }, time);
    expect(param(0, "or")).toContain(`id.gt.${SERVER_ROW.id}`);
    expect(param(0, "or")).toContain("last_heartbeat_from_dtma.gt.");
  });

  it("sorts by a column in one request; backward, the order turns and the page comes back in list order", async () => {
    const older = { ...PAGE_ROW, id: "5b0e6c1e-8f5a-4c59-9a43-0d0c2f5e8a12", last_started_at: "2025-06-19T09:00:00.5+00:00" };
    const oldest = { ...PAGE_ROW, id: "5b0e6c1e-8f5a-4c59-9a43-0d0c2f5e8a13" };
    const { store, requests } = capture(() => json([PAGE_ROW, older, oldest]));
    const page = await store.listServers({}, { first: 2, backward: true, order: { field: "UPTIME", descending: false } }, time);
    // Backward from the end: servers without an uptime first (ids descending), then the running
    // ones, here none needed: the page is full.
    expect(requests).toHaveLength(1);
    expect(requests[0].params.find(([k]) => k === "order")![1]).toBe("id.desc");
    expect(page.rows.map((r) => r.id)).toEqual([older.id, PAGE_ROW.id]);
    expect(page.keys).toEqual([null, null]);
    expect(page.hasNextPage).toBe(true);
    requests.length = 0;
    await store.listServers({}, { first: 2, order: { field: "UPTIME", descending: false } }, time);
    // Forward, uptime ascending is the latest start first; the cursor is the exact value PostgREST printed.
    expect(requests[0].params.find(([k]) => k === "order")![1]).toBe("last_started_at.desc.nullslast,id.asc");
    requests.length = 0;
    await store.listServers({}, { first: 2, order: { field: "LAST_HEARTBEAT", descending: true } }, time);
    expect(requests[0].params.find(([k]) => k === "order")![1]).toBe("last_heartbeat_from_dtma.desc.nullslast,id.desc");
  });

  it("pages every environment's servers in one request, embedded, ordered and limited per environment", async () => {
    const other = "22222222-2222-4222-8222-222222222222";
    const { store, requests } = capture(() =>
      json([
        { id: ENV_ROW.id, servers: [SERVER_ROW] },
        { id: other, servers: [] },
      ]),
    );
    const pages = await store.listServersByEnvironment([ENV_ROW.id, other], { states: ["RUNNING"], ownerId: ENV_ROW.user_id }, { first: 10 }, time);
    expect(requests).toHaveLength(1);
    const params = Object.fromEntries(requests[0].params);
    expect(requests[0].path).toBe("/rest/v1/account_tool_environments");
    expect(params.select).toMatch(/^id,servers:account_tool_instances\(id,/);
    expect(params).toMatchObject({
      id: `in.(${ENV_ROW.id},${other})`,
      user_id: `eq.${ENV_ROW.user_id}`,
      "servers.status_on_toolbox": "in.(active,running)",
      "servers.order": "instance_name_on_toolbox.asc.nullslast,id.asc",
      "servers.limit": "11",
    });
    expect(pages.get(ENV_ROW.id)!.rows.map((r) => r.name)).toEqual(["weather"]);
    expect(pages.get(other)!.rows).toEqual([]);
  });

  it("names the writer of each write in a header the trigger reads (migration 014), and of no read", async () => {
    const { store, requests } = capture((req) => json(req.method === "POST" ? 1 : [PAGE_ROW]));
    await store.setServerStatus(SERVER_ROW.id, "stopped");
    await store.applyDtmaReport(ENV_ROW.id, { at: new Date(), version: "1", systemMetrics: null, instances: [] });
    await store.markEnvironmentUnresponsive(ENV_ROW.id, "no answer");
    await store.listServers({}, { first: 1 }, time);
    expect(requests.map((r) => [r.method, r.headers["x-mcp-fleet-source"] ?? null])).toEqual([
      ["PATCH", "LIFECYCLE"],
      ["POST", "AGENT_REPORT"],
      ["PATCH", "MONITOR"],
      ["GET", null],
    ]);
  });

  it("counts with a HEAD request and reads the total from Content-Range", async () => {
    const { store, requests } = capture(() => new Response(null, { status: 200, headers: { "content-range": "*/42" } }));
    expect(await store.countServers({}, time)).toBe(42);
    expect(requests[0].method).toBe("HEAD");
    expect(requests[0].headers.prefer).toContain("count=exact");
  });

  it("summarises the fleet with a head count per state and health, the droplets read once, and a count per droplet", async () => {
    const envs = [
      { id: "11111111-1111-4111-8111-111111111111", status: "active", region_slug: "nyc3" },
      { id: "22222222-2222-4222-8222-222222222222", status: "active", region_slug: "ams3" },
    ];
    const { store, requests } = capture((req) => {
      if (req.method !== "HEAD") {
        // The count per droplet: each droplet with its servers' count embedded.
        if (req.params.some(([k, v]) => k === "select" && v.includes("(count)"))) return json(envs.map((e) => ({ id: e.id, servers: [{ count: 2 }] })));
        return json(envs);
      }
      const running = req.params.some(([k, v]) => k === "status_on_toolbox" && v.includes("running"));
      return new Response(null, { status: 200, headers: { "content-range": `*/${running ? 3 : 1}` } });
    });
    const summary = await store.fleetSummary({}, time);
    expect(summary.byState.RUNNING).toBe(3);
    expect(summary.environments).toBe(2);
    expect(summary.byEnvironmentStatus).toEqual([{ status: "active", count: 2 }]);
    expect(summary.byRegion).toEqual([
      { region: "ams3", servers: 2, environments: 1 },
      { region: "nyc3", servers: 2, environments: 1 },
    ]);
    expect(requests.filter((r) => r.method === "GET")).toHaveLength(2);
    expect(requests.filter((r) => r.method === "HEAD")).toHaveLength(1 + 6 + 4);
  });

  it("loads by ids with one in.() filter and returns rows in key order", async () => {
    const other = { ...SERVER_ROW, id: "6c1f7d2f-9a6b-4d6a-8b54-1e1d3a6f9b22", instance_name_on_toolbox: "other" };
    const { store, requests } = capture(() => json([other, SERVER_ROW]));
    const missing = "00000000-0000-4000-8000-000000000000";
    const rows = await store.serversByIds([SERVER_ROW.id, missing, other.id]);
    expect(rows.map((r) => r?.name ?? null)).toEqual(["weather", null, "other"]);
    expect(requests[0].params).toContainEqual(["id", `in.(${SERVER_ROW.id},${missing},${other.id})`]);
  });
});

describe("SupabaseStore removed servers (replay)", () => {
  it("reads deletions after `since` for one owner, in deletion order, paged on the exact timestamp PostgREST returns", async () => {
    // PostgREST's shape for the aliased select: microsecond timestamps with an offset.
    const rows = [
      { id: SERVER_ROW.id, environment_id: ENV_ROW.id, user_id: ENV_ROW.user_id, at: "2026-11-25T11:59:00.123456+00:00" },
      { id: "6c1f7d2f-9a6b-4d6a-8b54-1e1d3a6f9b22", environment_id: ENV_ROW.id, user_id: ENV_ROW.user_id, at: "2026-11-25T11:59:00.123456+00:00" },
    ];
    const { store, requests } = capture(() => json(rows));
    const page = await store.serversRemovedSince(
      { position: null, at: new Date("2026-11-25T11:00:00Z") },
      { first: 1, after: { at: "2026-11-25T11:30:00.000001+00:00", id: SERVER_ROW.id } },
      ENV_ROW.user_id,
    );
    expect(requests[0].path).toBe("/rest/v1/mcp_fleet_removed_servers");
    expect(requests[0].params).toEqual([
      ["select", "id:account_tool_instance_id,environment_id:account_tool_environment_id,user_id,at:removed_at"],
      ["removed_at", "gt.2026-11-25T11:00:00.000Z"],
      ["user_id", `eq.${ENV_ROW.user_id}`],
      [
        "or",
        `(removed_at.gt."2026-11-25T11:30:00.000001+00:00",and(removed_at.eq."2026-11-25T11:30:00.000001+00:00",account_tool_instance_id.gt.${SERVER_ROW.id}))`,
      ],
      ["order", "removed_at.asc,account_tool_instance_id.asc"],
      ["limit", "2"],
    ]);
    expect(page.hasNextPage).toBe(true);
    expect(page.rows).toEqual([
      {
        id: SERVER_ROW.id,
        environmentId: ENV_ROW.id,
        userId: ENV_ROW.user_id,
        removedAt: new Date("2026-11-25T11:59:00.123Z"),
        cursor: { at: rows[0].at, id: SERVER_ROW.id },
      },
    ]);
  });
});

describe("SupabaseStore tenant scoping", () => {
  const OWNER = "11111111-1111-4111-8111-111111111111";
  it("filters servers on their environment's owner, through the !inner embed", async () => {
    const { store, requests } = capture(() => json([PAGE_ROW]));
    await store.listServers({ ownerId: OWNER }, { first: 10 }, time);
    expect(requests[0].params).toContainEqual(["environment.user_id", `eq.${OWNER}`]);
    expect(requests[0].params.find(([k]) => k === "select")![1]).toContain("environment:account_tool_environments!inner(");
  });
  it("scopes counts and loads by id the same way, and environments on user_id", async () => {
    const { store, requests } = capture((req) => (req.method === "HEAD" ? new Response(null, { status: 200, headers: { "content-range": "*/0" } }) : json([])));
    await store.countServers({ ownerId: OWNER }, time);
    await store.serversByIds([SERVER_ROW.id], OWNER);
    await store.environmentsByIds([ENV_ROW.id], OWNER);
    expect(requests[0].params).toContainEqual(["select", "id,environment:account_tool_environments!inner(user_id)"]);
    expect(requests[0].params).toContainEqual(["environment.user_id", `eq.${OWNER}`]);
    expect(requests[1].params).toContainEqual(["environment.user_id", `eq.${OWNER}`]);
    expect(requests[2].params).toContainEqual(["user_id", `eq.${OWNER}`]);
  });
});

describe("SupabaseStore as a user", () => {
  it("sends the user's access token, so Postgres row-level security applies", async () => {
    const { store, requests } = capture(() => json([]));
    await store.asUser("user-access-token").environmentsByIds([ENV_ROW.id]);
    expect(requests[0].headers.authorization).toBe("Bearer user-access-token");
    expect(requests[0].headers.apikey).toBe("service-role-key");
  });

  it("keeps one client per access token across requests, each sending its own token", async () => {
    const { store, requests } = capture(() => json([]));
    expect(store.asUser("token-a")).toBe(store.asUser("token-a"));
    await store.asUser("token-a").environmentsByIds([ENV_ROW.id]);
    await store.asUser("token-b").environmentsByIds([ENV_ROW.id]);
    expect(requests.map((r) => r.headers.authorization)).toEqual(["Bearer token-a", "Bearer token-b"]);
  });
});

describe("SupabaseStore parsing", () => {
  it("parses a real PostgREST server row and its embedded environment", async () => {
    const { store } = capture(() => json([PAGE_ROW]));
    const page = await store.listServers({}, { first: 1 }, time);
    const [row] = page.rows;
    expect(page.environments).toHaveLength(1);
    expect(page.environments[0]).toMatchObject({ id: ENV_ROW.id, publicIp: "203.0.113.10", privateIp: "10.0.0.5" });
    expect(row).toMatchObject({
      id: SERVER_ROW.id,
      name: "weather",
      status: "running",
      transport: "sse",
      portMapping: { container_port: 8080, host_port: 49152 },
      capabilities: { tools: true },
    });
    expect(new Date(row.lastHeartbeatMs!).toISOString()).toBe("2025-06-20T10:15:30.123Z");
    expect(new Date(row.lastStartedAtMs!).toISOString()).toBe("2025-06-20T09:00:00.000Z");
  });

  it("parses environments: addresses without masks, bigint ids as text", async () => {
    const { store } = capture(() => json([ENV_ROW]));
    const [env] = await store.environmentsByIds([ENV_ROW.id]);
    expect(env).toMatchObject({
      publicIp: "203.0.113.10",
      privateIp: "10.0.0.5",
      doDropletId: "501234567",
      dtmaVersion: "1.4.2",
      healthDetails: { cpu_load_percent: 3 },
    });
    expect(env!.lastHeartbeatAt!.toISOString()).toBe("2025-06-20T10:15:30.000Z");
  });

  it("reports hasNextPage from the extra row it asked for", async () => {
    const rows = [PAGE_ROW, { ...PAGE_ROW, id: "6c1f7d2f-9a6b-4d6a-8b54-1e1d3a6f9b22" }];
    const { store } = capture(() => json(rows));
    const page = await store.listServers({}, { first: 1 }, time);
    expect(page.rows).toHaveLength(1);
    expect(page.hasNextPage).toBe(true);
  });
});

describe("SupabaseStore failures", () => {
  it("turns a gateway error into DatabaseUnavailableError", async () => {
    const { store } = capture(() => new Response('{"message":"upstream"}', { status: 503, headers: { "content-type": "application/json" } }));
    await expect(store.listServers({}, { first: 1 }, time)).rejects.toBeInstanceOf(DatabaseUnavailableError);
  });

  it("turns a network failure into DatabaseUnavailableError", async () => {
    const { store } = capture(() => {
      throw new TypeError("fetch failed");
    });
    await expect(store.ping()).rejects.toBeInstanceOf(DatabaseUnavailableError);
  });

  it("gives up on a request that hangs, within its timeout", async () => {
    const { store } = capture(() => new Promise<Response>(() => undefined));
    const started = Date.now();
    await expect(store.ping()).rejects.toBeInstanceOf(DatabaseUnavailableError);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it("reports a PostgREST error with its code", async () => {
    const body = { code: "42703", details: null, hint: null, message: "column account_tool_instances.mcp_server_type does not exist" };
    const { store } = capture(() => new Response(JSON.stringify(body), { status: 400, headers: { "content-type": "application/json" } }));
    await expect(store.listServers({}, { first: 1 }, time)).rejects.toThrow(/42703.*mcp_server_type does not exist/);
  });
});

describe("quote", () => {
  it("quotes PostgREST reserved characters and escapes quotes and backslashes", () => {
    expect(quote('a,b.c:d(e)"f\\g')).toBe('"a,b.c:d(e)\\"f\\\\g"');
  });
});
