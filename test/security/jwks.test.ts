// Asymmetric tokens verified against the project's JWKS endpoint (served here on loopback).
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createVerifier } from "../../src/auth/verify.ts";
import { loadConfig } from "../../src/config.ts";

describe("JWKS verification", () => {
  let http: Server;
  let url: string;
  let fetches = 0;
  let sign: (claims: Record<string, unknown>, key?: CryptoKey) => Promise<string>;
  let foreign: CryptoKey;
  let projectKey: CryptoKey;

  beforeAll(async () => {
    const { publicKey, privateKey } = await generateKeyPair("RS256", { extractable: true });
    projectKey = privateKey;
    foreign = (await generateKeyPair("RS256")).privateKey;
    const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "RS256", use: "sig" };
    http = createServer((req, res) => {
      if (req.url !== "/auth/v1/.well-known/jwks.json") return void res.writeHead(404).end();
      fetches++;
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", () => r()));
    url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    sign = (claims, key = privateKey) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: "RS256", kid: "k1" })
        .setIssuer(`${url}/auth/v1`)
        .setAudience("authenticated")
        .setIssuedAt()
        .setExpirationTime("1h")
        .sign(key);
  });
  afterAll(() => new Promise<void>((r) => http.close(() => r())));

  it("accepts a token signed by the project's key, and caches the key set", async () => {
    const config = loadConfig({ SUPABASE_URL: url, SUPABASE_ANON_KEY: "anon" });
    const verify = createVerifier(config.auth);
    const sub = "cccccccc-cccc-4ccc-8ccc-cccccccccccc";
    expect((await verify(await sign({ sub, role: "authenticated" }))).viewer).toEqual({ userId: sub, role: "authenticated" });
    await verify(await sign({ sub, role: "authenticated" }));
    expect(fetches).toBe(1);
  });

  it("refuses a token signed by another key, and an HS256 token in JWKS mode", async () => {
    const verify = createVerifier(loadConfig({ SUPABASE_URL: url, SUPABASE_ANON_KEY: "anon" }).auth);
    await expect(verify(await sign({ sub: "cccccccc-cccc-4ccc-8ccc-cccccccccccc", role: "authenticated" }, foreign))).rejects.toThrow(/not valid/);
    const hs = await new SignJWT({ sub: "cccccccc-cccc-4ccc-8ccc-cccccccccccc", role: "service_role" })
      .setProtectedHeader({ alg: "HS256" })
      .setIssuer(`${url}/auth/v1`)
      .setAudience("authenticated")
      .setExpirationTime("1h")
      .sign(new TextEncoder().encode("x".repeat(32)));
    await expect(verify(hs)).rejects.toThrow(/not valid/);
  });

  it("refuses a token that is not valid yet (nbf)", async () => {
    const verify = createVerifier(loadConfig({ SUPABASE_URL: url, SUPABASE_ANON_KEY: "anon" }).auth);
    const token = await new SignJWT({ sub: "cccccccc-cccc-4ccc-8ccc-cccccccccccc", role: "authenticated" })
      .setProtectedHeader({ alg: "RS256", kid: "k1" })
      .setIssuer(`${url}/auth/v1`)
      .setAudience("authenticated")
      .setNotBefore("10m")
      .setExpirationTime("1h")
      .sign(projectKey);
    await expect(verify(token)).rejects.toThrow(/nbf/);
  });
});
