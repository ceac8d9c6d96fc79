// The bench:live baseline: the least a server can do to deliver the same events. It LISTENs on the
// same change feed, re-reads the changed row with one query, and sends one graphql-ws `next`
// message per subscriber over plain `ws` (the minimal graphql-ws protocol, so the very same client
// measures both). No GraphQL execution, no filters beyond the server id, no authentication.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import pg from "pg";
import { WebSocketServer, type WebSocket } from "ws";
import { answerStats } from "./processes.ts";

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 4 });
const listener = new pg.Client({ connectionString: process.env.DATABASE_URL });
await listener.connect();
await listener.query("LISTEN mcp_fleet_changes");

const subscriptions = new Map<string, Set<{ socket: WebSocket; id: string }>>(); // server id -> subscribers
listener.on("notification", async (n) => {
  const { table, id } = JSON.parse(n.payload ?? "{}");
  if (table !== "account_tool_instances" || !subscriptions.has(id)) return;
  const { rows } = await pool.query("SELECT version FROM account_tool_instances WHERE id = $1", [id]);
  for (const s of subscriptions.get(id) ?? []) {
    s.socket.send(JSON.stringify({ id: s.id, type: "next", payload: { data: { serverChanged: { server: { version: rows[0]?.version ?? null } } } } }));
  }
});

const server = createServer();
const wss = new WebSocketServer({ server, path: "/graphql" });
let count = 0;
wss.on("connection", (socket) => {
  socket.on("message", (raw) => {
    const m = JSON.parse(String(raw));
    if (m.type === "connection_init") socket.send('{"type":"connection_ack"}');
    else if (m.type === "subscribe") {
      const serverId = m.payload.variables.id as string;
      if (!subscriptions.has(serverId)) subscriptions.set(serverId, new Set());
      subscriptions.get(serverId)!.add({ socket, id: m.id });
      count++;
    }
  });
});
server.listen(0, "127.0.0.1", () => process.send?.({ port: (server.address() as AddressInfo).port }));
answerStats(() => count);
