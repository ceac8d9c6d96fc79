// One execution per event for subscribers that would get the same result.
import { GraphQLError, GraphQLInt, GraphQLObjectType, GraphQLSchema, GraphQLString, parse, type DocumentNode, type ExecutionResult } from "graphql";
import { describe, expect, it } from "vitest";
import type { Viewer } from "../../src/auth/visibility.ts";
import { Hub } from "../../src/live/hub.ts";
import { until } from "../helpers/wait.ts";
import { type DirectSink, subscribeShared } from "../../src/http/shared-execution.ts";

interface Tick {
  n: number;
  /** How long the field `late` takes to resolve (ms); at once (synchronously) without. */
  delay?: number;
}

const iterator = (r: unknown) => r as AsyncIterableIterator<ExecutionResult>;

function fixture() {
  const hub = new Hub<Tick>();
  let executions = 0;
  const Tick = new GraphQLObjectType<Tick, { viewer: Viewer }>({
    name: "Tick",
    fields: {
      n: {
        type: GraphQLInt,
        resolve: (t) => {
          executions++;
          return t.n;
        },
      },
      viewer: { type: GraphQLString, resolve: (_t, _a, ctx) => ctx.viewer.userId },
      late: { type: GraphQLInt, resolve: (t) => (t.delay === undefined ? t.n : new Promise((resolve) => setTimeout(() => resolve(t.n), t.delay))) },
      boom: {
        type: GraphQLString,
        resolve: () => {
          throw new Error("secret detail");
        },
      },
    },
  });
  const schema = new GraphQLSchema({
    query: new GraphQLObjectType({ name: "Query", fields: { ok: { type: GraphQLInt, resolve: () => 1 } } }),
    subscription: new GraphQLObjectType({
      name: "Subscription",
      fields: {
        ticks: {
          type: Tick,
          args: { odd: { type: GraphQLInt } },
          subscribe: (_root, args: { odd?: number }) => {
            if (args.odd === -1) throw new GraphQLError("bad odd", { extensions: { code: "BAD_USER_INPUT" } });
            return hub.subscribe((t) => args.odd == null || t.n % 2 === args.odd);
          },
          resolve: (t: Tick) => t,
        },
      },
    }),
  });
  const masked: string[] = [];
  const mask = (result: ExecutionResult) => ({
    ...result,
    errors: result.errors?.map((e) => {
      masked.push(e.message);
      return new GraphQLError("Unexpected error");
    }),
  });
  // As yoga's parser cache does: one document per text.
  const documents = new Map<string, DocumentNode>();
  const documentOf = (query: string) => documents.get(query) ?? documents.set(query, parse(query)).get(query)!;
  const subscribe = async (query: string, userId: string, variables?: Record<string, unknown>, sink?: DirectSink) => {
    const viewer: Viewer = { role: "authenticated", userId };
    const result = await subscribeShared({ schema, document: documentOf(query), contextValue: { viewer }, variableValues: variables }, mask, sink);
    if (!(Symbol.asyncIterator in result)) return result as ExecutionResult;
    return result as AsyncIterableIterator<ExecutionResult>;
  };
  /** A subscription whose results are pushed to a sink that keeps their payloads (and takes at most `room`). */
  const pushed = async (query: string, userId: string, room = Number.POSITIVE_INFINITY) => {
    const payloads: unknown[] = [];
    const sink: DirectSink = { next: (json) => payloads.length < room && payloads.push(JSON.parse(json)) > 0 };
    const it = iterator(await subscribe(query, userId, undefined, sink));
    // The first next() starts the pushing; it settles when the subscription ends.
    const ended = it.next();
    return { it, payloads, ended };
  };
  return { hub, subscribe, pushed, masked, executions: () => executions };
}

describe("subscribeShared", () => {
  it("executes each event once per document, variables and viewer, each subscriber still getting the events its own filter accepts", async () => {
    const f = fixture();
    const doc = "subscription { ticks { n viewer } }";
    const a1 = iterator(await f.subscribe(doc, "alice"));
    const a2 = iterator(await f.subscribe(doc, "alice"));
    const b = iterator(await f.subscribe(doc, "bob"));
    const odd = iterator(await f.subscribe("subscription($odd: Int) { ticks(odd: $odd) { n viewer } }", "alice", { odd: 1 }));
    f.hub.publish({ n: 1 });
    f.hub.publish({ n: 2 });
    const two = async (it: AsyncIterableIterator<ExecutionResult>) => [(await it.next()).value, (await it.next()).value];
    expect(await two(a1)).toEqual([{ data: { ticks: { n: 1, viewer: "alice" } } }, { data: { ticks: { n: 2, viewer: "alice" } } }]);
    expect(await two(a2)).toEqual([{ data: { ticks: { n: 1, viewer: "alice" } } }, { data: { ticks: { n: 2, viewer: "alice" } } }]);
    expect(await two(b)).toEqual([{ data: { ticks: { n: 1, viewer: "bob" } } }, { data: { ticks: { n: 2, viewer: "bob" } } }]);
    expect((await odd.next()).value).toEqual({ data: { ticks: { n: 1, viewer: "alice" } } });
    // alice's and bob's plain subscriptions for two events, the odd one for one: five executions for seven deliveries.
    expect(f.executions()).toBe(5);
    for (const it of [a1, a2, b, odd]) await it.return!();
    expect(f.hub.size).toBe(0);
  });

  it("ends the source at once when closed, even with a read pending", async () => {
    const f = fixture();
    const it = iterator(await f.subscribe("subscription { ticks { n } }", "alice"));
    const pending = it.next();
    expect(f.hub.size).toBe(1);
    await it.return!();
    expect(f.hub.size).toBe(0);
    expect(await pending).toEqual({ done: true, value: undefined });
  });

  it("masks errors, whether they refuse the subscription or come with an event", async () => {
    const f = fixture();
    const refused = (await f.subscribe("subscription { ticks(odd: -1) { n } }", "alice")) as ExecutionResult;
    expect(refused.errors?.map((e) => e.message)).toEqual(["Unexpected error"]);
    const it = iterator(await f.subscribe("subscription { ticks { n boom } }", "alice"));
    f.hub.publish({ n: 3 });
    const { value } = await it.next();
    expect(value.data).toEqual({ ticks: { n: 3, boom: null } });
    expect(value.errors?.map((e: GraphQLError) => e.message)).toEqual(["Unexpected error"]);
    expect(f.masked).toEqual(["bad odd", "secret detail"]);
    await it.return!();
  });
});

describe("subscribeShared, pushing to a sink (WebSocket)", () => {
  it("sends each event's result to every sink within the publish, executing it once per document, variables and viewer", async () => {
    const f = fixture();
    const doc = "subscription { ticks { n viewer } }";
    const subs = [await f.pushed(doc, "alice"), await f.pushed(doc, "alice"), await f.pushed(doc, "bob")];
    f.hub.publish({ n: 1 });
    // Synchronously: no promise per subscriber between the publish and its socket.
    expect(subs.map((s) => s.payloads)).toEqual([
      [{ data: { ticks: { n: 1, viewer: "alice" } } }],
      [{ data: { ticks: { n: 1, viewer: "alice" } } }],
      [{ data: { ticks: { n: 1, viewer: "bob" } } }],
    ]);
    expect(f.executions()).toBe(2);
    for (const s of subs) await s.it.return!();
    expect(await Promise.all(subs.map((s) => s.ended))).toEqual(subs.map(() => ({ done: true, value: undefined })));
    expect(f.hub.size).toBe(0);
  });

  it("keeps each subscriber's order when an earlier event executes slower than a later one", async () => {
    const f = fixture();
    const a = await f.pushed("subscription { ticks { n late } }", "alice");
    const b = await f.pushed("subscription { ticks { n late } }", "alice");
    f.hub.publish({ n: 1, delay: 40 });
    f.hub.publish({ n: 2 }); // executed synchronously: ready before the first
    f.hub.publish({ n: 3, delay: 20 });
    await until(() => a.payloads.length === 3 && b.payloads.length === 3, "three results each");
    for (const s of [a, b]) expect(s.payloads.map((p) => (p as { data: { ticks: { late: number } } }).data.ticks.late)).toEqual([1, 2, 3]);
    await a.it.return!();
    await b.it.return!();
  });

  it("ends a subscriber whose client is too far behind with a coded error, and lets go of its source", async () => {
    const f = fixture();
    const slow = await f.pushed("subscription { ticks { n } }", "alice", 2);
    const other = await f.pushed("subscription { ticks { n } }", "alice");
    for (let n = 1; n <= 3; n++) f.hub.publish({ n });
    const { value } = (await slow.ended) as IteratorResult<ExecutionResult>;
    expect(value.errors?.map((e: GraphQLError) => e.message)).toEqual(["Unexpected error"]);
    expect(f.masked).toEqual([expect.stringMatching(/fell too far behind.*resubscribe/)]);
    expect(await slow.it.next()).toEqual({ done: true, value: undefined });
    expect(slow.payloads).toHaveLength(2);
    // The other subscriber goes on.
    expect(f.hub.size).toBe(1);
    f.hub.publish({ n: 4 });
    expect(other.payloads).toHaveLength(4);
    await other.it.return!();
  });
});

describe("shared execution at the server", () => {
  it("executes each event once per distinct document, variables and viewer, over WebSocket and SSE", async () => {
    const { pgliteDb } = await import("../../src/data/db.ts");
    const { migrate } = await import("../../src/data/migrate.ts");
    const { SqlStore } = await import("../../src/data/sql-store.ts");
    const { buildSchema } = await import("../../src/schema/index.ts");
    const { insertEnvironment, insertServer } = await import("../../fixtures/fleet.ts");
    const { startTestServer } = await import("../helpers/server.ts");
    const { subscribeSse, subscribeWs, wsClient } = await import("../helpers/subscriptions.ts");
    const { until } = await import("../helpers/wait.ts");
    // Count executions of the real schema's field (before anything compiles it).
    const field = buildSchema().getSubscriptionType()!.getFields().serverChanged;
    const resolve = field.resolve!;
    let executions = 0;
    field.resolve = (...args) => {
      executions++;
      return resolve(...args);
    };

    const db = await pgliteDb(undefined);
    await migrate(db);
    const env = await insertEnvironment(db, { name: "e", publicIp: "203.0.113.8" });
    const id = await insertServer(db, { env, name: "s", status: "running", heartbeatSecondsAgo: 1 });
    const server = await startTestServer(new SqlStore(db), { live: { coalesceMs: 5 } });
    const query = `subscription($f: ServerEventFilter) { serverChanged(filter: $f) { server { name rawStatus } } }`;
    const client = wsClient(server.url);
    const other = wsClient(server.url);
    try {
      const subs = [
        subscribeWs(client, query, { f: { serverIds: [id] } }),
        subscribeWs(client, query, { f: { serverIds: [id] } }),
        subscribeWs(other, query, { f: { serverIds: [id] } }), // another socket, same viewer
        subscribeWs(client, query, { f: { environmentIds: [env] } }), // other variables
        subscribeSse(server.url, query, { f: { serverIds: [id] } }),
        subscribeSse(server.url, query, { f: { serverIds: [id] } }),
      ];
      await until(() => server.live!.serverEvents.size === subs.length, "every subscription");
      await db.query("UPDATE account_tool_instances SET status_on_toolbox = 'stopped' WHERE id = $1", [id]);
      for (const sub of subs) expect(await sub.next()).toEqual({ serverChanged: { server: { name: "s", rawStatus: "stopped" } } });
      // WebSocket: one for the three alike, one for the other variables; SSE: one for its two.
      expect(executions).toBe(3);
      await Promise.all(subs.map((s) => s.close()));
    } finally {
      await client.dispose();
      await other.dispose();
      await server.close();
    }
  });

  it("serialises a shared result once for all its WebSocket subscribers; each frame still carries its own id", async () => {
    const { pgliteDb } = await import("../../src/data/db.ts");
    const { migrate } = await import("../../src/data/migrate.ts");
    const { SqlStore } = await import("../../src/data/sql-store.ts");
    const { insertEnvironment, insertServer } = await import("../../fixtures/fleet.ts");
    const { startTestServer } = await import("../helpers/server.ts");
    const { until } = await import("../helpers/wait.ts");
    const { default: WebSocket } = await import("ws");
    const db = await pgliteDb(undefined);
    await migrate(db);
    const env = await insertEnvironment(db, { name: "e", publicIp: "203.0.113.9" });
    const id = await insertServer(db, { env, name: "s", status: "running", heartbeatSecondsAgo: 1 });
    const server = await startTestServer(new SqlStore(db), { live: { coalesceMs: 5 } });
    const stringify = JSON.stringify;
    let payloadSerialisations = 0;
    try {
      // A raw graphql-transport-ws client, with ids of its own choosing: ones that need escaping in
      // JSON must come back as sent, around the one shared payload.
      const ws = new WebSocket(server.url.replace(/^http/, "ws"), "graphql-transport-ws");
      const frames: Array<{ id?: string; type: string; payload?: unknown }> = [];
      ws.on("message", (data) => frames.push(JSON.parse(String(data))));
      await new Promise((resolve) => ws.once("open", resolve));
      ws.send(JSON.stringify({ type: "connection_init", payload: {} }));
      await until(() => frames.some((f) => f.type === "connection_ack"), "the ack");
      const query = `subscription($ids: [ID!]) { serverChanged(filter: { serverIds: $ids }) { server { name rawStatus } } }`;
      const ids = ["a", '\u0000"payload":{}\\', "c"];
      for (const sid of ids) ws.send(JSON.stringify({ id: sid, type: "subscribe", payload: { query, variables: { ids: [id] } } }));
      await until(() => server.live!.serverEvents.size === 3, "the subscriptions");
      JSON.stringify = function (this: unknown, ...args: Parameters<typeof stringify>) {
        const value = args[0] as { data?: { serverChanged?: unknown } } | null;
        if (value && typeof value === "object" && value.data?.serverChanged) payloadSerialisations++;
        return stringify.apply(this, args);
      } as typeof JSON.stringify;
      await db.query("UPDATE account_tool_instances SET status_on_toolbox = 'stopped' WHERE id = $1", [id]);
      await until(() => frames.filter((f) => f.type === "next").length === 3, "three frames");
      JSON.stringify = stringify;
      const next = frames.filter((f) => f.type === "next");
      expect(next.map((f) => f.id).sort()).toEqual([...ids].sort());
      for (const f of next) expect(f.payload).toEqual({ data: { serverChanged: { server: { name: "s", rawStatus: "stopped" } } } });
      expect(payloadSerialisations).toBe(1);
      ws.close();
    } finally {
      JSON.stringify = stringify;
      await server.close();
    }
  });
});
