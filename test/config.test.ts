import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/config.ts";

describe("loadConfig", () => {
  it("defaults to the embedded database on port 4000", () => {
    expect(loadConfig({})).toMatchObject({
      store: "pglite",
      port: 4000,
      pgliteDir: ".data/pglite",
      thresholds: { degradedAfterMs: 300_000, unhealthyAfterMs: 900_000 },
    });
  });
  it("uses Postgres when DATABASE_URL is set", () => {
    expect(loadConfig({ DATABASE_URL: "postgres://u@h/db" }).store).toBe("postgres");
  });
  it("uses Supabase when SUPABASE_URL and a key are set", () => {
    expect(loadConfig({ SUPABASE_URL: "https://x.supabase.co", SUPABASE_SERVICE_ROLE_KEY: "k" }).store).toBe("supabase");
  });
  it("keeps the embedded database in memory with PGLITE_MEMORY", () => {
    expect(loadConfig({ PGLITE_MEMORY: "true" }).pgliteDir).toBeUndefined();
  });
  it("names every bad variable and what it got", () => {
    let message = "";
    try {
      loadConfig({ PORT: "eighty", DATABASE_URL: "mysql://x" });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      message = (error as Error).message;
    }
    expect(message).toContain("PORT");
    expect(message).toContain('"eighty"');
    expect(message).toContain("DATABASE_URL");
  });
  it("hides a password given as a DATABASE_URL parameter in its messages", () => {
    try {
      loadConfig({ DATABASE_URL: "mysql://db.example/fleet?password=hunter2&sslpassword=s3cret" });
    } catch (error) {
      expect(String(error)).toMatch(/DATABASE_URL.*password=\*\*\*/);
      expect(String(error)).not.toMatch(/hunter2|s3cret/);
      return;
    }
    throw new Error("expected a ConfigError");
  });

  it.each([
    ["an http:// SUPABASE_URL", { SUPABASE_URL: "http://project.supabase.co", SUPABASE_SERVICE_ROLE_KEY: "k" }, /SUPABASE_URL must be https/],
    ["SUPABASE_JWT_SECRET without an issuer", { SUPABASE_JWT_SECRET: "x".repeat(32) }, /needs SUPABASE_URL or JWT_ISSUER/],
  ])("refuses %s in production", (_what, env, message) => {
    expect(() => loadConfig({ NODE_ENV: "production", ...env })).toThrow(message);
  });

  it("never echoes a secret in its message: keys, or the password in a URL", () => {
    let message = "";
    try {
      loadConfig({
        REDIS_URL: "http://user:hunter2@cache:6379",
        DATABASE_URL: "mysql://root:swordfish@db/x",
        SUPABASE_JWT_SECRET: "short-secret",
        METRICS_TOKEN: "tiny-token",
      });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain("REDIS_URL");
    expect(message).toContain('"http://***@cache:6379"');
    expect(message).toContain("SUPABASE_JWT_SECRET");
    expect(message).toContain("METRICS_TOKEN");
    for (const secret of ["hunter2", "swordfish", "short-secret", "tiny-token"]) expect(message).not.toContain(secret);
  });
  it("refuses SUPABASE_URL without a key", () => {
    expect(() => loadConfig({ SUPABASE_URL: "https://x.supabase.co" })).toThrow(/SUPABASE_SERVICE_ROLE_KEY/);
  });
  it("refuses thresholds in the wrong order", () => {
    expect(() => loadConfig({ HEARTBEAT_DEGRADED_AFTER_MS: "900000", HEARTBEAT_UNHEALTHY_AFTER_MS: "300000" })).toThrow(/less than/);
  });
  it("treats empty strings as unset", () => {
    expect(loadConfig({ DATABASE_URL: "", PORT: "" })).toMatchObject({ store: "pglite", port: 4000 });
  });
});
