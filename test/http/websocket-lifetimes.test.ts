// The timers every socket used to hold, now shared: one keep-alive sweep for all sockets, and one
// clock for every token expiry.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { pgliteDb } from "../../src/data/db.ts";
import { migrate } from "../../src/data/migrate.ts";
import { SqlStore } from "../../src/data/sql-store.ts";
import { atExpiry } from "../../src/http/expiry.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

describe("shared expiry clock", () => {
  it("runs each function at its deadline, in deadline order, and not once cancelled", async () => {
    const fired: string[] = [];
    const now = Date.now();
    atExpiry(new Date(now + 120), () => fired.push("c"));
    atExpiry(new Date(now + 40), () => fired.push("a"));
    const cancel = atExpiry(new Date(now + 60), () => fired.push("cancelled"));
    atExpiry(new Date(now + 80), () => fired.push("b"));
    atExpiry(new Date(now - 1), () => fired.push("past"));
    cancel();
    await new Promise((r) => setTimeout(r, 200));
    expect(fired).toEqual(["past", "a", "b", "c"]);
  });

  it("holds a deadline beyond Node's 24.8-day timer limit without firing early", async () => {
    let fired = false;
    const cancel = atExpiry(new Date(Date.now() + 40 * 86_400_000), () => (fired = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(fired).toBe(false);
    cancel();
  });
});

describe("WebSocket keep-alive sweep", () => {
  let server: TestServer;
  beforeAll(async () => {
    const db = await pgliteDb(undefined);
    await migrate(db);
    server = await startTestServer(new SqlStore(db), { env: { WS_KEEP_ALIVE_MS: "150" } });
  });
  afterAll(async () => server?.close());

  const open = (autoPong: boolean) =>
    new Promise<WebSocket>((resolve, reject) => {
      const socket = new WebSocket(server.url.replace(/^http/, "ws"), "graphql-transport-ws", { autoPong });
      socket.once("open", () => resolve(socket));
      socket.once("error", reject);
    });

  it("drops a socket that stops answering pings, and keeps one that answers", async () => {
    const silent = await open(false);
    const alive = await open(true);
    for (const socket of [silent, alive]) socket.send(JSON.stringify({ type: "connection_init" }));
    const closed = new Promise<number>((resolve) => silent.once("close", (code) => resolve(code)));
    expect(await closed).toBe(1006); // terminated: no close frame
    await new Promise((r) => setTimeout(r, 400));
    expect(alive.readyState).toBe(WebSocket.OPEN);
    alive.close();
  });

  it("closes a socket that never sends connection_init with 4408, and keeps one that did", async () => {
    const idle = await open(true);
    const initialised = await open(true);
    initialised.send(JSON.stringify({ type: "connection_init" }));
    const closed = await new Promise<number>((resolve) => idle.once("close", (code) => resolve(code)));
    expect(closed).toBe(4408);
    await new Promise((r) => setTimeout(r, 400));
    expect(initialised.readyState).toBe(WebSocket.OPEN);
    initialised.close();
  });
});

describe("a client that stops reading its WebSocket", () => {
  it("has the subscription that overfills its socket ended with SUBSCRIBER_TOO_SLOW; the socket, and other clients, go on", async () => {
    const { insertEnvironment, insertServer } = await import("../../fixtures/fleet.ts");
    const { subscribeWs, wsClient } = await import("../helpers/subscriptions.ts");
    const { until } = await import("../helpers/wait.ts");
    const db = await pgliteDb(undefined);
    await migrate(db);
    const env = await insertEnvironment(db, { name: "e", publicIp: "203.0.113.10" });
    const id = await insertServer(db, { env, name: "s", status: "running", heartbeatSecondsAgo: 1 });
    const server = await startTestServer(new SqlStore(db), { live: { coalesceMs: 5 }, env: { WS_MAX_BUFFERED_BYTES: "65536" } });
    const query = `subscription($ids: [ID!]) { serverChanged(filter: { serverIds: $ids }) { server { version capabilities } } }`;
    const reader = wsClient(server.url);
    try {
      const slow = new WebSocket(server.url.replace(/^http/, "ws"), "graphql-transport-ws");
      const frames: Array<{ id?: string; type: string; payload?: { data?: unknown; errors?: Array<{ extensions?: { code?: string } }> } }> = [];
      slow.on("message", (data) => frames.push(JSON.parse(String(data))));
      await new Promise((resolve) => slow.once("open", resolve));
      slow.send(JSON.stringify({ type: "connection_init", payload: {} }));
      await until(() => frames.some((f) => f.type === "connection_ack"), "the ack");
      slow.send(JSON.stringify({ id: "watch", type: "subscribe", payload: { query, variables: { ids: [id] } } }));
      const fast = subscribeWs<{ serverChanged: { server: { version: string } } }>(reader, query, { ids: [id] });
      await until(() => server.live!.serverEvents.size === 2, "both subscriptions");
      // The slow client stops reading: the kernel's buffers fill, then the server's.
      (slow as unknown as { _socket: { pause(): void } })._socket.pause();
      const capabilities = JSON.stringify({ tools: Array.from({ length: 3000 }, (_, i) => ({ name: `tool-${i}`, description: "x".repeat(80) })) });
      const updates = 40; // about 12 MB of events
      for (let u = 1; u <= updates; u++) {
        await db.query("UPDATE account_tool_instances SET version = $1, mcp_server_capabilities = $2::jsonb WHERE id = $3", [`v${u}`, capabilities, id]);
        expect((await fast.next(10_000)).serverChanged.server.version).toBe(`v${u}`);
      }
      await until(() => server.live!.serverEvents.size === 1, "the slow subscription ended");
      (slow as unknown as { _socket: { resume(): void } })._socket.resume();
      await until(() => frames.some((f) => f.type === "complete" && f.id === "watch"), "the slow subscription's end", 20_000);
      const mine = frames.filter((f) => f.id === "watch");
      const failed = mine.filter((f) => f.payload?.errors);
      expect(failed.map((f) => f.payload?.errors?.[0]?.extensions?.code)).toEqual(["SUBSCRIBER_TOO_SLOW"]);
      expect(mine.filter((f) => f.payload?.data).length).toBeLessThan(updates);
      // The socket still serves: a new subscription on it gets the next change.
      slow.send(
        JSON.stringify({
          id: "again",
          type: "subscribe",
          payload: { query: "subscription($ids: [ID!]) { serverChanged(filter: { serverIds: $ids }) { server { version } } }", variables: { ids: [id] } },
        }),
      );
      await until(() => server.live!.serverEvents.size === 2, "the new subscription");
      await db.query("UPDATE account_tool_instances SET version = 'after' WHERE id = $1", [id]);
      await until(() => frames.some((f) => f.id === "again" && JSON.stringify(f.payload).includes('"after"')), "the next change on the same socket");
      slow.close();
      await fast.close();
    } finally {
      await reader.dispose();
      await server.close();
    }
  }, 60_000);
});
