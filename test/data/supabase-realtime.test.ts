// The Supabase change feed at its boundary: supabase-js talks to a loopback peer that speaks the
// Realtime (Phoenix, serializer 2.0.0) and PostgREST shapes; we check what it sends and what the
// live fleet makes of what it receives.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocketServer, type WebSocket } from "ws";
import { SupabaseStore } from "../../src/data/supabase-store.ts";
import { DEFAULT_THRESHOLDS } from "../../src/domain/status.ts";
import { systemClock } from "../../src/live/clock.ts";
import type { ServerEvent } from "../../src/live/events.ts";
import { LiveFleet } from "../../src/live/fleet.ts";
import { until } from "../helpers/wait.ts";

const ENV = "0f7d8a5e-2f0b-4b7e-9b1a-3c4d5e6f7a8b";
const SERVER = "5b0e6c1e-8f5a-4c59-9a43-0d0c2f5e8a11";
const now = () => new Date().toISOString();
const envRow = {
  id: ENV,
  user_id: "11111111-1111-4111-8111-111111111111",
  do_droplet_id: 1,
  do_droplet_name: "d",
  public_ip_address: "203.0.113.10",
  private_ip_address: null,
  status: "active",
  region_slug: "nyc3",
  size_slug: "s",
  image_slug: "u",
  last_heartbeat_at: now(),
  name: "Primary",
  description: null,
  dtma_last_known_version: "1",
  dtma_health_details_json: null,
  provisioning_error_message: null,
  created_at: now(),
  updated_at: now(),
};
let status = "running";
const serverRow = () => ({
  id: SERVER,
  account_tool_environment_id: ENV,
  tool_catalog_id: "00000000-0000-0000-0000-000000000001",
  status_on_toolbox: status,
  instance_name_on_toolbox: "weather",
  port_mapping_json: null,
  last_heartbeat_from_dtma: now(),
  version: "1",
  base_config_override_json: null,
  instance_error_message: null,
  mcp_server_type: "mcp_server",
  mcp_endpoint_path: "/mcp",
  mcp_transport_type: "sse",
  mcp_server_capabilities: null,
  mcp_discovery_metadata: null,
  last_started_at: now(),
  created_at: now(),
  updated_at: now(),
});

describe("Supabase Realtime change feed", () => {
  let http: Server;
  let url: string;
  let socket: WebSocket | undefined;
  const received: unknown[] = [];
  let joinTopic = "";
  let upgradeUrl = "";
  let live: LiveFleet | undefined;

  beforeAll(async () => {
    http = createServer((req, res) => {
      // PostgREST: the live fleet's initial load and its reloads.
      const path = new URL(req.url ?? "/", "http://x").pathname;
      res.writeHead(200, { "content-type": "application/json" });
      if (path === "/rest/v1/account_tool_instances") return void res.end(JSON.stringify([{ ...serverRow(), environment: envRow }]));
      if (path === "/rest/v1/account_tool_environments") return void res.end(JSON.stringify([envRow]));
      res.end("[]");
    });
    const wss = new WebSocketServer({ server: http, path: "/realtime/v1/websocket" });
    wss.on("connection", (ws, req) => {
      socket = ws;
      upgradeUrl = req.url ?? "";
      ws.on("message", (data) => {
        const msg = JSON.parse(String(data));
        received.push(msg);
        const [joinRef, ref, topic, event, payload] = msg as [string, string, string, string, any];
        if (event === "phx_join") {
          joinTopic = topic;
          // The server echoes each postgres_changes binding with an id, in order.
          const bindings = payload.config.postgres_changes.map((b: any, i: number) => ({ ...b, id: 100 + i }));
          ws.send(JSON.stringify([joinRef, ref, topic, "phx_reply", { status: "ok", response: { postgres_changes: bindings } }]));
        } else if (event === "phx_leave") {
          ws.send(JSON.stringify([joinRef, ref, topic, "phx_reply", { status: "ok", response: {} }]));
        } else if (event === "heartbeat") {
          ws.send(JSON.stringify([null, ref, "phoenix", "phx_reply", { status: "ok", response: {} }]));
        }
      });
    });
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", () => r()));
    url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    const store = new SupabaseStore({ url, key: "anon-key", timeoutMs: 3000 });
    live = new LiveFleet({ store, feed: store, clock: systemClock, thresholds: DEFAULT_THRESHOLDS, logger: pino({ level: "silent" }), coalesceMs: 5 });
    await live.start();
  });
  afterAll(async () => {
    await live?.stop();
    http.closeAllConnections();
    await new Promise<void>((r) => http.close(() => r()));
  });

  it("joins one channel with postgres_changes on the fleet tables, with the project key", () => {
    const join = received.find((m: any) => m[3] === "phx_join") as any[];
    expect(join[2]).toBe(joinTopic);
    expect(join[4].config.postgres_changes).toEqual([
      { event: "*", schema: "public", table: "account_tool_instances" },
      { event: "*", schema: "public", table: "account_tool_environments" },
      { event: "*", schema: "public", table: "mcp_connection_tests" },
    ]);
    // Without a user session the project key travels in the socket URL.
    expect(new URL(upgradeUrl, url).searchParams.get("apikey")).toBe("anon-key");
    expect(new URL(upgradeUrl, url).searchParams.get("vsn")).toBe("2.0.0");
  });

  it("turns a postgres_changes UPDATE into a reload and a published status change", async () => {
    const events: ServerEvent[] = [];
    const it = live!.serverEvents.subscribe(() => true);
    const reading = (async () => {
      for await (const e of it) {
        events.push(e);
        break;
      }
    })();
    status = "error";
    socket!.send(
      JSON.stringify([
        null,
        null,
        joinTopic,
        "postgres_changes",
        {
          ids: [100],
          data: {
            schema: "public",
            table: "account_tool_instances",
            commit_timestamp: now(),
            type: "UPDATE",
            columns: [{ name: "id", type: "uuid" }],
            record: serverRow(),
            old_record: { id: SERVER },
            errors: null,
          },
        },
      ]),
    );
    await Promise.race([reading, new Promise((_, reject) => setTimeout(() => reject(new Error("no event")), 3000))]);
    expect(events[0]).toMatchObject({
      kind: "UPDATED",
      serverId: SERVER,
      statusChanged: true,
      previous: { state: "RUNNING" },
      current: { state: "ERROR" },
      source: "DATABASE",
    });
  });

  it("closes the Realtime socket when it stops, so nothing is left running", async () => {
    await live!.stop();
    live = undefined;
    await until(() => socket!.readyState === socket!.CLOSED, "the Realtime socket to close");
    expect(received.some((m: any) => m[3] === "phx_leave")).toBe(true);
  });
});
