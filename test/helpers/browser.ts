// A real browser for the tests: Debian's chromium (installed by .ci/run), driven by puppeteer-core,
// which never downloads a browser of its own. Under CI=true a missing chromium fails the suite;
// elsewhere the browser tests skip with a message.
import { existsSync, mkdirSync } from "node:fs";
import puppeteer, { type Browser } from "puppeteer-core";
import { describe } from "vitest";

const CANDIDATES = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"].filter(Boolean) as string[];
export const CHROMIUM = CANDIDATES.find((path) => existsSync(path));

if (!CHROMIUM && process.env.CI === "true")
  throw new Error("CI=true: the browser tests need Debian's chromium (apt-get install chromium); .ci/run installs it");
if (!CHROMIUM) console.warn("chromium not found (apt-get install chromium): the browser tests are skipped");

export const describeBrowser = CHROMIUM ? describe : describe.skip;

/** Where screenshots go (git-ignored). */
export const SCREENSHOTS = new URL("../../screenshots/", import.meta.url).pathname;

export async function launchBrowser(): Promise<Browser> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Root in CI and containers: no sandbox; no GPU on these machines.
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
}
