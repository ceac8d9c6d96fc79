// Unexpected errors, through the started server: a client sees an opaque INTERNAL_SERVER_ERROR with
// an id, never the message or a stack; the log has both, under the same id. Over HTTP and WebSocket.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DatabaseUnavailableError, pgliteDb } from "../../src/data/db.ts";
import { migrate } from "../../src/data/migrate.ts";
import { SqlStore } from "../../src/data/sql-store.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { wsClient } from "../helpers/subscriptions.ts";
import { capturingLogger } from "../helpers/logs.ts";

const SECRET_DETAIL = "boom in /srv/internal/path with password=hunter2";

/** A store whose server list fails the way a bug would: a plain Error. */
class FailingStore extends SqlStore {
  override async listServers(): Promise<never> {
    throw new Error(SECRET_DETAIL);
  }
}

describe("masking of unexpected errors", () => {
  let server: TestServer;
  let records: () => Array<Record<string, unknown>>;

  beforeAll(async () => {
    const db = await pgliteDb(undefined);
    await migrate(db);
    const captured = capturingLogger();
    const logger = captured.logger;
    records = captured.records;
    server = await startTestServer(new FailingStore(db), { logger });
  });
  afterAll(async () => server?.close());

  const expectMasked = (errors: Array<{ message: string; extensions?: Record<string, unknown> }> | undefined, raw: string) => {
    expect(errors).toEqual([
      expect.objectContaining({
        message: "Unexpected error",
        extensions: { code: "INTERNAL_SERVER_ERROR", errorId: expect.stringMatching(/^[0-9a-f-]{36}$/) },
      }),
    ]);
    expect(raw).not.toContain("boom");
    expect(raw).not.toContain("hunter2");
    expect(raw).not.toMatch(/stack|at .*\.ts/);
    const errorId = errors![0].extensions!.errorId;
    const logged = records().filter((l) => l.errorId === errorId);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ level: 50, err: SECRET_DETAIL, stack: expect.stringContaining("listServers") });
  };

  it("over HTTP, answers 200 with the masked error and keeps serving", async () => {
    const res = await fetch(server.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "{ servers { edges { node { id } } } }" }),
    });
    expect(res.status).toBe(200);
    const raw = await res.text();
    expectMasked(JSON.parse(raw).errors, raw);
    expect((await server.gql("{ environments { totalCount } }")).body).toEqual({ data: { environments: { totalCount: 0 } } });
  });

  it("over WebSocket, sends the masked error and the socket keeps serving", async () => {
    const client = wsClient(server.url);
    const run = (query: string) =>
      new Promise<{ errors?: any; data?: any }>((resolve, reject) => {
        let result: { errors?: any; data?: any } = {};
        client.subscribe({ query }, { next: (v) => (result = v as typeof result), error: reject, complete: () => resolve(result) });
      });
    const failed = await run("{ servers { edges { node { id } } } }");
    expectMasked(failed.errors, JSON.stringify(failed));
    expect(await run("{ environments { totalCount } }")).toEqual({ data: { environments: { totalCount: 0 } } });
    await client.dispose();
  });
});

/** A store whose replay fails: as a bug would (a plain Error), or as a lost database would. */
class FailingReplayStore extends SqlStore {
  failure: Error = new Error(SECRET_DETAIL);
  override async serversChangedSince(): Promise<never> {
    throw this.failure;
  }
}

describe("errors while a subscription streams, over WebSocket", () => {
  let server: TestServer;
  let store: FailingReplayStore;
  let records: () => Array<Record<string, unknown>>;

  beforeAll(async () => {
    const db = await pgliteDb(undefined);
    await migrate(db);
    const captured = capturingLogger();
    const logger = captured.logger;
    records = captured.records;
    store = new FailingReplayStore(db);
    server = await startTestServer(store, { logger, live: { coalesceMs: 5 } });
  });
  afterAll(async () => server?.close());

  const resume = (client: ReturnType<typeof wsClient>) =>
    new Promise<Array<{ message: string; extensions?: Record<string, unknown> }>>((resolve, reject) => {
      client.subscribe(
        {
          query: "subscription($since: DateTime) { serverChanged(since: $since) { kind } }",
          variables: { since: new Date(Date.now() - 60_000).toISOString() },
        },
        { next: (v) => v.errors && resolve(v.errors as never), error: reject, complete: () => undefined },
      );
    });

  it("ends the subscription with a masked, coded error, and the socket keeps serving", async () => {
    const client = wsClient(server.url);
    try {
      store.failure = new Error(SECRET_DETAIL);
      const errors = await resume(client);
      expect(errors).toEqual([
        expect.objectContaining({ message: "Unexpected error", extensions: { code: "INTERNAL_SERVER_ERROR", errorId: expect.any(String) } }),
      ]);
      expect(JSON.stringify(errors)).not.toContain("boom");
      expect(records().some((l) => l.errorId === errors[0].extensions!.errorId && l.err === SECRET_DETAIL)).toBe(true);
      store.failure = new DatabaseUnavailableError(new Error("connection terminated"));
      expect(await resume(client)).toEqual([expect.objectContaining({ extensions: { code: "UPSTREAM_UNAVAILABLE" } })]);
      const query = await new Promise<unknown>((resolve, reject) => {
        client.subscribe({ query: "{ servers { totalCount } }" }, { next: resolve, error: reject, complete: () => undefined });
      });
      expect(query).toEqual({ data: { servers: { totalCount: 0 } } });
    } finally {
      await client.dispose();
    }
  });
});
