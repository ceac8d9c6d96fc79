// The dashboard as a person uses it, in Debian's chromium: served by the API at /, offline (every
// request off the API's origin is refused), showing the demo fleet by droplet, following database
// changes live, surviving a lost connection without missing a change, and running a real
// connection test against a real MCP server.
import { writeFileSync } from "node:fs";
import type { Browser, Page } from "puppeteer-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type Db, pgliteDb } from "../../src/data/db.ts";
import { migrate } from "../../src/data/migrate.ts";
import { DEMO_USER_ID, generateFleet, seedDemoFleet } from "../../src/data/seed.ts";
import { signDevToken } from "../../src/auth/verify.ts";
import { SqlStore } from "../../src/data/sql-store.ts";
import { type Running, startStreamableServer } from "../../src/demo/sample-servers.ts";
import { insertEnvironment, insertServer } from "../../fixtures/fleet.ts";
import type { LiveFleet } from "../../src/live/fleet.ts";
import { describeBrowser, launchBrowser, SCREENSHOTS } from "../helpers/browser.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

/** A page that may reach the API's origin only; what else it asked for is in `outside`. */
async function offlinePage(browser: Browser, origin: string): Promise<{ page: Page; outside: string[]; errors: string[] }> {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  const outside: string[] = [];
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  await page.setRequestInterception(true);
  page.on("request", (request) => {
    const url = request.url();
    if (url.startsWith(origin) || url.startsWith("data:")) return void request.continue();
    outside.push(url);
    void request.abort();
  });
  return { page, outside, errors };
}

const stateOf = (page: Page, name: string) =>
  page.evaluate(
    (n) => [...document.querySelectorAll<HTMLTableRowElement>("tbody tr")].find((r) => r.cells[0].textContent === n)?.cells[1].textContent ?? null,
    name,
  );

describeBrowser("the dashboard in a real browser", () => {
  let db: Db;
  let server: TestServer & { live?: LiveFleet };
  let browser: Browser;
  let mcp: Running;
  let origin: string;

  beforeAll(async () => {
    db = await pgliteDb(undefined);
    await migrate(db);
    await seedDemoFleet(db);
    // A server the page can really test: a real MCP server (the SDK's) on loopback.
    mcp = await startStreamableServer({ name: "page-tested" });
    const env = await insertEnvironment(db, { name: "loopback", publicIp: "127.0.0.1" });
    await insertServer(db, {
      env,
      name: "real-mcp",
      status: "running",
      heartbeatSecondsAgo: 1,
      transport: "sse",
      portMapping: { container_port: 8080, host_port: mcp.port },
    });
    // The demo droplets' agents are not there: an action on them fails fast with its coded error.
    server = await startTestServer(new SqlStore(db), { live: { coalesceMs: 5 }, env: { DTMA_TIMEOUT_MS: "1000" } });
    origin = server.url.replace(/\/graphql$/, "");
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await mcp?.close();
  });

  it("shows the fleet by droplet, follows a database change within a second, and misses none across a lost connection", async () => {
    const { page, outside, errors } = await offlinePage(browser, origin);
    await page.goto(`${origin}/`, { waitUntil: "load" });
    await page.waitForFunction(() => document.querySelectorAll("tbody tr").length === 23, { timeout: 10_000 });
    const [{ n }] = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM account_tool_environments");
    expect(await page.$$eval(".droplet", (s) => s.length)).toBe(n);
    expect(await page.$eval("#summary", (el) => el.textContent)).toContain(`23 servers on ${n} droplets`);
    await page.screenshot({ path: `${SCREENSHOTS}dashboard.png`, fullPage: false });

    // A row written in the database changes on the page within a second.
    await page.waitForFunction(() => window.mcpFleet?.live(), { timeout: 5000 });
    await new Promise((r) => setTimeout(r, 300)); // the subscriptions are open
    await db.query("UPDATE account_tool_instances SET status_on_toolbox = 'stopped' WHERE instance_name_on_toolbox = 'real-mcp'");
    await page.waitForFunction(
      () =>
        [...document.querySelectorAll<HTMLTableRowElement>("tbody tr")].some(
          (r) => r.cells[0].textContent === "real-mcp" && r.cells[1].textContent === "STOPPED",
        ),
      {
        timeout: 1000,
      },
    );

    // The live connection drops: the banner says so; a change made meanwhile arrives once it is back.
    await page.evaluate(() => window.mcpFleet.live().terminate());
    await page.waitForFunction(() => document.getElementById("banner")?.textContent?.includes("lost"), { timeout: 2000 });
    await db.query(
      "UPDATE account_tool_instances SET status_on_toolbox = 'running', last_heartbeat_from_dtma = now() WHERE instance_name_on_toolbox = 'real-mcp'",
    );
    await page.waitForFunction(() => document.getElementById("banner")?.textContent?.includes("Live again"), { timeout: 10_000 });
    await page.waitForFunction(
      () =>
        [...document.querySelectorAll<HTMLTableRowElement>("tbody tr")].some(
          (r) => r.cells[0].textContent === "real-mcp" && r.cells[1].textContent === "RUNNING",
        ),
      {
        timeout: 5000,
      },
    );
    expect(await stateOf(page, "real-mcp")).toBe("RUNNING");
    expect(outside).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  });

  it("shows what the reachability and recovery axes add to a server's health, live", async () => {
    const { page, errors } = await offlinePage(browser, origin);
    await page.goto(origin, { waitUntil: "load" });
    await page.waitForFunction(() => document.querySelectorAll("tbody tr").length === 23, { timeout: 10_000 });
    await page.waitForFunction(() => window.mcpFleet?.live(), { timeout: 5000 });
    await new Promise((r) => setTimeout(r, 300)); // the subscriptions are open
    await db.query(
      `UPDATE account_tool_instances SET mcp_fleet_reachability = 'UNREACHABLE',
         mcp_fleet_recovery = '{"state":"GAVE_UP","attempts":[],"trigger":"PROBE","reason":"x","lastError":null,"since":"2026-11-27T00:00:00Z"}'
       WHERE instance_name_on_toolbox = 'weather-tools'`,
    );
    await page.waitForFunction(
      () =>
        [...document.querySelectorAll<HTMLTableRowElement>("tbody tr")].some(
          (r) =>
            r.cells[0].textContent === "weather-tools" &&
            /unreachable/.test(r.cells[2].textContent ?? "") &&
            /recovery gave up/.test(r.cells[2].textContent ?? ""),
        ),
      { timeout: 2000 },
    );
    await db.query(
      "UPDATE account_tool_instances SET mcp_fleet_reachability = NULL, mcp_fleet_recovery = NULL WHERE instance_name_on_toolbox = 'weather-tools'",
    );
    expect(errors).toEqual([]);
    await page.close();
  });

  it("follows changes over SSE when WebSocket is not an option (?transport=sse)", async () => {
    const { page, errors } = await offlinePage(browser, origin);
    await page.goto(`${origin}/?transport=sse`, { waitUntil: "load" });
    await page.waitForFunction(() => document.querySelectorAll("tbody tr").length === 23, { timeout: 10_000 });
    await page.waitForFunction(() => window.mcpFleet?.live(), { timeout: 5000 });
    await new Promise((r) => setTimeout(r, 500)); // the streams are open
    await db.query("UPDATE account_tool_instances SET status_on_toolbox = 'stopped' WHERE instance_name_on_toolbox = 'weather-tools'");
    await page.waitForFunction(
      () =>
        [...document.querySelectorAll<HTMLTableRowElement>("tbody tr")].some(
          (r) => r.cells[0].textContent === "weather-tools" && r.cells[1].textContent === "STOPPED",
        ),
      {
        timeout: 2000,
      },
    );
    expect(errors).toEqual([]);
    await page.close();
  });

  it("falls back to SSE by itself when WebSocket never connects (a proxy that refuses upgrades)", async () => {
    const { page, errors } = await offlinePage(browser, origin);
    // A WebSocket that always fails to open, as behind such a proxy.
    await page.evaluateOnNewDocument(() => {
      window.WebSocket = class {
        static readonly OPEN = 1;
        readyState = 0;
        onclose: ((e: { code: number; reason: string }) => void) | null = null;
        onerror: ((e: unknown) => void) | null = null;
        constructor() {
          setTimeout(() => {
            this.readyState = 3;
            this.onerror?.(new Event("error"));
            this.onclose?.({ code: 1006, reason: "" });
            (window as unknown as { failedSockets: number }).failedSockets = ((window as unknown as { failedSockets?: number }).failedSockets ?? 0) + 1;
          }, 10);
        }
        close() {}
        send() {}
      } as unknown as typeof WebSocket;
    });
    await page.goto(`${origin}/`, { waitUntil: "load" });
    await page.waitForFunction(() => document.querySelectorAll("tbody tr").length === 23, { timeout: 10_000 });
    await page.waitForFunction(() => window.mcpFleet?.live()?.transport() === "sse", { timeout: 15_000 });
    await new Promise((r) => setTimeout(r, 500)); // the streams are open
    await db.query(
      "UPDATE account_tool_instances SET status_on_toolbox = 'running', last_heartbeat_from_dtma = now() WHERE instance_name_on_toolbox = 'weather-tools'",
    );
    await page.waitForFunction(
      () =>
        [...document.querySelectorAll<HTMLTableRowElement>("tbody tr")].some(
          (r) => r.cells[0].textContent === "weather-tools" && r.cells[1].textContent === "RUNNING",
        ),
      {
        timeout: 2000,
      },
    );
    // The abandoned WebSocket client makes one more attempt (2 s after the third failure), which
    // fails too: that must not surface as an unhandled rejection from its dispose(). A round trip
    // to the page after it lets any page error reach `errors` first.
    await page.waitForFunction(() => (window as unknown as { failedSockets?: number }).failedSockets === 4, { timeout: 10_000 });
    await page.evaluate(() => new Promise((r) => setTimeout(r, 0)));
    expect(errors).toEqual([]);
    await page.close();
  });

  it("runs a connection test from the page and shows its phases; a failing action shows its coded error", async () => {
    const { page, errors } = await offlinePage(browser, origin);
    await page.goto(`${origin}/`, { waitUntil: "load" });
    await page.waitForFunction(() => document.querySelectorAll("tbody tr").length === 23, { timeout: 10_000 });
    const row = (name: string) =>
      page.evaluateHandle((n) => [...document.querySelectorAll<HTMLTableRowElement>("tbody tr")].find((r) => r.cells[0].textContent === n), name);
    await (await row("real-mcp")).asElement()!.$eval("button[data-action=test]", (b) => (b as HTMLButtonElement).click());
    await page.waitForFunction(
      () => [...document.querySelectorAll<HTMLTableRowElement>("tbody tr")].find((r) => r.cells[0].textContent === "real-mcp")?.querySelector(".tested li"),
      { timeout: 15_000 },
    );
    const outcome = await page.evaluate(
      () => [...document.querySelectorAll<HTMLTableRowElement>("tbody tr")].find((r) => r.cells[0].textContent === "real-mcp")!.cells[6].textContent,
    );
    expect(outcome).toMatch(/✓ \d+ ms/);
    expect(outcome).toMatch(/ms/);
    await page.screenshot({ path: `${SCREENSHOTS}dashboard-test.png` });
    // Starting a demo server reaches a droplet agent that is not there: the coded error shows.
    const demo = await page.evaluate(
      () => [...document.querySelectorAll<HTMLTableRowElement>("tbody tr")].find((r) => r.cells[0].textContent !== "real-mcp")!.cells[0].textContent,
    );
    await (await row(demo!)).asElement()!.$eval("button[data-action=restart]", (b) => (b as HTMLButtonElement).click());
    await page.waitForFunction(
      (n) =>
        /[A-Z_]+: /.test([...document.querySelectorAll<HTMLTableRowElement>("tbody tr")].find((r) => r.cells[0].textContent === n)?.cells[6].textContent ?? ""),
      { timeout: 15_000 },
      demo,
    );
    expect(errors).toEqual([]);
    await page.close();
  });
});

describeBrowser("signing in to the dashboard", () => {
  const SECRET = "dashboard-secret-0123456789abcdef01234567";
  let server: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    const db = await pgliteDb(undefined);
    await migrate(db);
    await seedDemoFleet(db);
    server = await startTestServer(new SqlStore(db), { live: { coalesceMs: 5 }, env: { AUTH_DISABLED: "false", SUPABASE_JWT_SECRET: SECRET } });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it("asks for a token when the API wants one, then shows the viewer's own fleet, live", async () => {
    const origin = server.url.replace(/\/graphql$/, "");
    const { page, errors } = await offlinePage(browser, origin);
    await page.goto(`${origin}/`, { waitUntil: "load" });
    await page.waitForSelector("#sign-in:not([hidden])", { timeout: 10_000 });
    // The demo user's token, as the server prints it in development.
    const token = await signDevToken(SECRET, { sub: DEMO_USER_ID, role: "authenticated" });
    await page.type("#token-sign-in input[name=token]", token);
    await page.click("#token-sign-in button");
    await page.waitForFunction(() => document.querySelectorAll("tbody tr").length === 22, { timeout: 10_000 });
    await page.waitForFunction(() => window.mcpFleet?.live(), { timeout: 5000 });
    expect(await page.$eval("#sign-in", (el) => (el as HTMLElement).hidden)).toBe(true);
    expect(errors).toEqual([]);
    await page.close();
  });
});

describeBrowser("the dashboard's first paint of 500 servers", () => {
  let server: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    const db = await pgliteDb(undefined);
    await migrate(db);
    await generateFleet(db, { environments: 25, serversPerEnvironment: 20 });
    server = await startTestServer(new SqlStore(db), { live: { coalesceMs: 5 } });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it("renders every server, and records how long it took and what the page shipped", async () => {
    const origin = server.url.replace(/\/graphql$/, "");
    const { page } = await offlinePage(browser, origin);
    const shipped: Record<string, number> = {};
    page.on("response", async (response) => {
      const path = new URL(response.url()).pathname;
      if (path === "/" || path.startsWith("/dashboard/")) shipped[path] = Number(response.headers()["content-length"] ?? 0);
    });
    await page.setExtraHTTPHeaders({ "accept-encoding": "gzip" });
    await page.goto(`${origin}/`, { waitUntil: "load" });
    await page.waitForFunction(() => document.querySelectorAll("tbody tr").length === 500, { timeout: 20_000 });
    const rendered = await page.evaluate(() => performance.getEntriesByName("fleet-rendered")[0]?.startTime ?? null);
    expect(rendered).not.toBeNull();
    const figures = { servers: 500, renderedMs: Math.round(rendered!), shippedBytesGzip: shipped };
    writeFileSync(`${SCREENSHOTS}first-paint.json`, JSON.stringify(figures, null, 2));
    console.log("dashboard first paint:", JSON.stringify(figures));
    await page.close();
  });
});

declare global {
  interface Window {
    mcpFleet: { live(): { terminate(): void; transport(): string } };
  }
}
