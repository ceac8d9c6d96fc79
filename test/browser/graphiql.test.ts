// GraphiQL as a newcomer meets it: served from the packaged build (no CDN: the browser may reach
// nothing but the API), opening on the project's query, whose first run returns the demo fleet;
// and a subscription typed into it, which streams the next database change.
import type { Browser } from "puppeteer-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type Db, pgliteDb } from "../../src/data/db.ts";
import { migrate } from "../../src/data/migrate.ts";
import { seedDemoFleet } from "../../src/data/seed.ts";
import { SqlStore } from "../../src/data/sql-store.ts";
import type { LiveFleet } from "../../src/live/fleet.ts";
import { describeBrowser, launchBrowser, SCREENSHOTS } from "../helpers/browser.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { until } from "../helpers/wait.ts";

describeBrowser("GraphiQL in a real browser", () => {
  let server: TestServer & { live?: LiveFleet };
  let browser: Browser;
  let db: Db;

  beforeAll(async () => {
    db = await pgliteDb(undefined);
    await migrate(db);
    await seedDemoFleet(db);
    server = await startTestServer(new SqlStore(db), { env: { GRAPHIQL: "true" }, live: { coalesceMs: 5 } });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it("loads offline, opens on the project's query, and the first ▶ returns the demo fleet", async () => {
    const page = await browser.newPage();
    const outside: string[] = [];
    // Offline: any request that leaves the API's origin is refused (and recorded).
    await page.setRequestInterception(true);
    page.on("request", (request) => {
      const url = request.url();
      if (url.startsWith(server.url.replace(/\/graphql$/, "")) || url.startsWith("data:") || url.startsWith("blob:")) return void request.continue();
      outside.push(url);
      void request.abort();
    });
    await page.goto(server.url, { waitUntil: "load" });
    await page.waitForSelector(".graphiql-execute-button", { timeout: 20_000 });
    // The editor holds the project's query, not an empty document.
    // (Monaco renders spaces as no-break spaces.)
    await page.waitForFunction(() => document.querySelector(".graphiql-query-editor")?.textContent?.replace(/\s/g, " ").includes("Welcome to mcp-fleet"), {
      timeout: 20_000,
    });
    await page.click(".graphiql-execute-button");
    await page.waitForFunction(() => document.querySelector(".graphiql-response")?.textContent?.includes("totalCount"), { timeout: 20_000 });
    const response = await page.$eval(".graphiql-response", (el) => (el.textContent ?? "").replace(/\s/g, " "));
    await page.screenshot({ path: `${SCREENSHOTS}graphiql.png` });
    expect(response).toContain('"totalCount": 22');
    expect(response).not.toContain("Syntax Error");
    expect(outside).toEqual([]);
  });

  it("streams a subscription typed into it (sent as a GET for an event stream, which must pass CSRF prevention)", { timeout: 90_000 }, async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(String(error)));
    await page.goto(server.url, { waitUntil: "load" });
    await page.waitForSelector(".graphiql-query-editor .monaco-editor", { timeout: 20_000 });
    await page.waitForFunction(() => document.querySelector(".graphiql-query-editor")?.textContent?.includes("Welcome"), { timeout: 20_000 });
    // Replace the editor's text as a person would (select all, type over it).
    await page.click(".graphiql-query-editor .monaco-editor");
    await page.keyboard.down("Control");
    await page.keyboard.press("KeyA");
    await page.keyboard.up("Control");
    await page.keyboard.press("Backspace");
    await page.keyboard.sendCharacter("subscription Watch { serverChanged { kind server { name version } } }");
    await page.waitForFunction(() => document.querySelector(".graphiql-query-editor")?.textContent?.replace(/\s/g, " ").includes("subscription Watch"), {
      timeout: 5000,
    });
    // GraphiQL takes the operation's name from the text a moment later (it keeps it in its tab state);
    // run before that, it sends the old name ("Cannot infer operation Fleet"), as under the suite's load.
    await page.waitForFunction(() => localStorage.getItem("graphiql:tabState")?.includes('"operationName":"Watch"'), { timeout: 20_000 });
    await page.click(".graphiql-execute-button");
    // The stream is open once the server holds the subscription; then a change arrives in the response pane.
    // Generous: under the whole suite's load the browser can take seconds; on failure, say what GraphiQL shows.
    await until(() => server.live!.serverEvents.size === 1, "GraphiQL's subscription", 30_000).catch(async (error) => {
      const shown = await page.$eval(".graphiql-response", (el) => (el.textContent ?? "").slice(0, 500)).catch(() => "(no response pane)");
      throw new Error(`${(error as Error).message}; GraphiQL's response pane: ${shown}`);
    });
    await db.query("UPDATE account_tool_instances SET version = 'from-graphiql-test' WHERE instance_name_on_toolbox = 'active-server'");
    await page.waitForFunction(() => document.querySelector(".graphiql-response")?.textContent?.includes("from-graphiql-test"), { timeout: 10_000 });
    const response = await page.$eval(".graphiql-response", (el) => (el.textContent ?? "").replace(/\s/g, " "));
    expect(response).toContain('"name": "active-server"');
    expect(response).not.toContain("CSRF");
    expect(errors).toEqual([]);
    await page.close();
  });
});
