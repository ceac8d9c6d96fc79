// GraphiQL as a newcomer meets it: served from the packaged build (no CDN: the browser may reach
// nothing but the API), opening on the project's query, whose first run returns the demo fleet.
import type { Browser } from "puppeteer-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { pgliteDb } from "../../src/data/db.ts";
import { migrate } from "../../src/data/migrate.ts";
import { seedDemoFleet } from "../../src/data/seed.ts";
import { SqlStore } from "../../src/data/sql-store.ts";
import { describeBrowser, launchBrowser, SCREENSHOTS } from "../helpers/browser.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

describeBrowser("GraphiQL in a real browser", () => {
  let server: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    const db = await pgliteDb(undefined);
    await migrate(db);
    await seedDemoFleet(db);
    server = await startTestServer(new SqlStore(db), { env: { GRAPHIQL: "true" } });
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
});
