// The Supabase store keeps the SQL store's promise in requests: no field costs a request per row.
// The real API runs over a SupabaseStore whose requests are answered at its boundary with a fleet
// of any size; every list and connection field, walked from the schema, is read at page size 100
// and at 2, and must cost the same few requests.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { capture, type Captured, json } from "../helpers/supabase-capture.ts";
import { selectAll } from "../helpers/selection.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const uuid = (kind: number, n: number) => `${kind.toString(16).padStart(8, "0")}-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;
const ENVIRONMENTS = 150;
const SERVERS = 300;

const environment = (n: number) => ({
  id: uuid(1, n),
  user_id: "11111111-1111-4111-8111-111111111111",
  do_droplet_id: 500000 + n,
  do_droplet_name: `droplet-${n}`,
  public_ip_address: "203.0.113.10",
  private_ip_address: null,
  status: "active",
  region_slug: "nyc3",
  size_slug: "s-1vcpu-1gb",
  image_slug: "ubuntu-22-04-x64",
  last_heartbeat_at: new Date().toISOString(),
  name: `env-${String(n).padStart(4, "0")}`,
  description: null,
  dtma_last_known_version: "1.4.2",
  dtma_health_details_json: { cpu_load_percent: 3 },
  provisioning_error_message: null,
  created_at: "2026-06-01T00:00:00+00:00",
  updated_at: "2026-06-01T00:00:00+00:00",
});

const server = (n: number) => ({
  id: uuid(2, n),
  account_tool_environment_id: uuid(1, n % ENVIRONMENTS),
  tool_catalog_id: uuid(3, n % 20),
  status_on_toolbox: "running",
  instance_name_on_toolbox: `server-${String(n).padStart(4, "0")}`,
  port_mapping_json: { container_port: 8080, host_port: 49152 },
  last_heartbeat_from_dtma: new Date().toISOString(),
  version: "1.0.0",
  base_config_override_json: null,
  instance_error_message: null,
  mcp_server_type: "mcp_server",
  mcp_endpoint_path: "/mcp",
  mcp_transport_type: "http",
  mcp_server_capabilities: { tools: true },
  mcp_discovery_metadata: null,
  container_id: null,
  last_started_at: "2026-11-01T00:00:00+00:00",
  created_at: "2026-06-01T00:00:00+00:00",
  updated_at: "2026-06-01T00:00:00+00:00",
});

const catalogEntry = (n: number) => ({
  id: uuid(3, n),
  tool_name: `tool-${String(n).padStart(3, "0")}`,
  name: `tool-${n}`,
  description: "A tool",
  package_identifier: `ghcr.io/example/tool-${n}`,
  docker_image_url: `ghcr.io/example/tool-${n}:1`,
  status: "available",
  is_public: true,
  created_by: null,
  categories: ["demo"],
  default_config_template: null,
  created_at: "2026-06-01T00:00:00+00:00",
  updated_at: "2026-06-01T00:00:00+00:00",
});

const param = (req: Captured, key: string) => req.params.find(([k]) => k === key)?.[1];
const limitOf = (req: Captured, key = "limit") => Number(param(req, key) ?? 1000);
const idsOf = (req: Captured) =>
  param(req, "id")
    ?.match(/^in\.\((.*)\)$/)?.[1]
    .split(",");

/** Answers like PostgREST over a fleet of ENVIRONMENTS droplets and SERVERS servers. */
function respond(req: Captured): Response {
  const table = req.path.split("/").at(-1);
  const select = param(req, "select") ?? "";
  if (req.method === "HEAD") return new Response(null, { status: 200, headers: { "content-range": `*/${SERVERS}` } });
  if (table === "account_tool_instances") {
    const ids = idsOf(req);
    // Connection tests, embedded per server: none yet.
    if (select.startsWith("id,tests:")) return json((ids ?? []).map((id) => ({ id, tests: [] })));
    const rows = ids
      ? ids.map((id) => server(Number.parseInt(id.slice(-12), 16)))
      : Array.from({ length: Math.min(limitOf(req), SERVERS) }, (_, n) => server(n));
    return json(rows.map((r) => ({ ...r, environment: environment(Number.parseInt(r.account_tool_environment_id.slice(-12), 16)) })));
  }
  if (table === "account_tool_environments") {
    const ids = idsOf(req);
    const rows = ids
      ? ids.map((id) => environment(Number.parseInt(id.slice(-12), 16)))
      : Array.from({ length: Math.min(limitOf(req), ENVIRONMENTS) }, (_, n) => environment(n));
    if (select.includes("(count)")) return json(rows.map((e) => ({ ...e, servers: [{ count: 2 }] })));
    if (select.includes("servers:")) {
      const perEnvironment = Math.min(limitOf(req, "servers.limit"), 2);
      return json(rows.map((e, i) => ({ ...e, servers: Array.from({ length: perEnvironment }, (_, k) => server(i + k * ENVIRONMENTS)) })));
    }
    return json(rows);
  }
  if (table === "tool_catalog") {
    const ids = idsOf(req);
    return json(
      ids ? ids.map((id) => catalogEntry(Number.parseInt(id.slice(-12), 16))) : Array.from({ length: Math.min(limitOf(req), 20) }, (_, n) => catalogEntry(n)),
    );
  }
  // History (an RPC per kind): none yet.
  return json([]);
}

describe("requests to Supabase per query", () => {
  let api: TestServer;
  let requests: Captured[];

  beforeAll(async () => {
    const captured = capture(respond);
    requests = captured.requests;
    api = await startTestServer(captured.store, { env: { GRAPHQL_MAX_COST: "10000000", GRAPHQL_MAX_DEPTH: "20" } });
  });
  afterAll(() => api?.close());

  async function counted(query: string) {
    requests.length = 0;
    const result = await api.gql(query);
    return { result, count: requests.length, paths: requests.map((r) => `${r.method} ${r.path}?${r.params.map(([k]) => k).join("&")}`) };
  }

  it.each(["servers", "environments", "catalog"])("reads %s(first: 100) with every field nested in a few requests, not one per row", async (root) => {
    const type = { servers: "MCPServer", environments: "Environment", catalog: "CatalogTool" }[root] as string;
    const query = (first: number) => `{ ${root}(first: ${first}) { totalCount edges { node { ${selectAll(type, 4)} } } } }`;
    const many = await counted(query(100));
    expect(many.result.body.errors).toBeUndefined();
    expect((many.result.body.data as Record<string, { edges: unknown[] }>)[root].edges.length).toBeGreaterThan(root === "catalog" ? 10 : 99);
    const few = await counted(query(2));
    expect(many.count, many.paths.join("\n")).toBe(few.count);
    expect(many.count).toBeLessThanOrEqual(12);
  });

  it("sorts a page by health in at most one request per health", async () => {
    const { result, count } = await counted(`{ servers(first: 100, orderBy: { field: HEALTH }) { edges { node { name } } } }`);
    expect(result.body.errors).toBeUndefined();
    expect(count).toBeLessThanOrEqual(4);
  });
});
