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
