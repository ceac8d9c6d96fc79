// Supabase access tokens -> the viewer. HS256 with the project's JWT secret, or the project's
// asymmetric keys from its JWKS endpoint (fetched with a timeout, cached by jose). exp, nbf, aud and
// iss are checked; only the expected algorithms are accepted (so never `alg: none`).
import { createSecretKey, type KeyObject } from "node:crypto";
import { createRemoteJWKSet, jwtVerify, SignJWT, type JWTPayload } from "jose";
import type { AuthConfig } from "../config.ts";
import { OPEN_VIEWER, type Viewer } from "./visibility.ts";

export class AuthError extends Error {
  readonly code = "UNAUTHENTICATED";
  /** The token was valid but has expired: a fresh one will do. */
  constructor(
    message: string,
    readonly expired = false,
  ) {
    super(message);
  }
}

export interface Authenticated {
  viewer: Viewer;
  /** When the token stops being valid (null when auth is disabled). */
  expiresAt: Date | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type Verifier = (token: string | null | undefined) => Promise<Authenticated>;

/**
 * Tokens already verified, so a client sending the same token on every request pays for the
 * signature once. An entry lives until the token expires, and at most a minute (so a key removed
 * from the JWKS stops being honoured soon). Only successful verifications are remembered.
 */
const REMEMBER_MS = 60_000;
const REMEMBERED_TOKENS = 10_000;

export function createVerifier(auth: AuthConfig): Verifier {
  if (auth.mode === "disabled") return async () => ({ viewer: OPEN_VIEWER, expiresAt: null });
  // `serve` refuses to start this way; anything else built on it accepts no token at all.
  if (auth.mode === "unconfigured") {
    return async () => {
      throw new AuthError(`Not authenticated: ${auth.reason}`);
    };
  }
  const verify =
    auth.mode === "hs256"
      ? (
          (key: KeyObject) => (token: string) =>
            jwtVerify(token, key, { algorithms: ["HS256"], audience: auth.audience, issuer: auth.issuer, clockTolerance: 5, requiredClaims: ["exp", "sub"] })
        )(createSecretKey(Buffer.from(auth.secret)))
      : (
          (jwks: ReturnType<typeof createRemoteJWKSet>) => (token: string) =>
            jwtVerify(token, jwks, {
              algorithms: ["RS256", "ES256", "EdDSA"],
              audience: auth.audience,
              issuer: auth.issuer,
              clockTolerance: 5,
              requiredClaims: ["exp", "sub"],
            })
        )(createRemoteJWKSet(new URL(auth.jwksUrl), { timeoutDuration: 5000, cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000 }));
  const remembered = new Map<string, { authenticated: Authenticated; until: number }>();
  const authenticate = async (token: string): Promise<Authenticated> => {
    let payload: JWTPayload;
    try {
      ({ payload } = await verify(token));
    } catch (error) {
      const code = (error as { code?: string }).code ?? "";
      const reason =
        code === "ERR_JWT_EXPIRED"
          ? "the token has expired"
          : code === "ERR_JWT_CLAIM_VALIDATION_FAILED"
            ? `the token's ${(error as { claim?: string }).claim ?? "claims"} claim is not accepted`
            : "the token is not valid";
      throw new AuthError(`Not authenticated: ${reason}`, code === "ERR_JWT_EXPIRED");
    }
    const role = payload.role;
    const expiresAt = new Date((payload.exp as number) * 1000);
    if (role === "service_role") return { viewer: { userId: null, role: "service_role" }, expiresAt };
    if (role === "authenticated" && typeof payload.sub === "string" && UUID.test(payload.sub))
      return { viewer: { userId: payload.sub.toLowerCase(), role: "authenticated" }, expiresAt };
    throw new AuthError("Not authenticated: anonymous tokens are not accepted; sign in");
  };
  return async (token) => {
    if (!token) throw new AuthError("Sign in: send a Supabase access token as `Authorization: Bearer <token>`");
    const now = Date.now();
    const hit = remembered.get(token);
    if (hit && now < hit.until) return hit.authenticated;
    if (hit) remembered.delete(token);
    const authenticated = await authenticate(token);
    if (remembered.size >= REMEMBERED_TOKENS) remembered.delete(remembered.keys().next().value as string);
    remembered.set(token, { authenticated, until: Math.min(authenticated.expiresAt!.getTime(), now + REMEMBER_MS) });
    return authenticated;
  };
}

/** The bearer token of an Authorization header value. */
export function bearer(header: string | null | undefined): string | null {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  return m ? m[1] : null;
}

/** A token signed with the HS256 secret: for the development server's printout and for tests. */
export async function signDevToken(
  secret: string,
  claims: { sub: string; role: "authenticated" | "service_role" },
  options: { audience: string; issuer?: string; expiresIn?: string } = { audience: "authenticated" },
): Promise<string> {
  let jwt = new SignJWT({ role: claims.role })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(claims.sub)
    .setAudience(options.audience)
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? "12h");
  if (options.issuer) jwt = jwt.setIssuer(options.issuer);
  return jwt.sign(new TextEncoder().encode(secret));
}
