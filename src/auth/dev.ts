// What `serve` and `demo` say about authentication at start, and the development tokens.
import type { Config } from "../config.ts";
import { DEMO_USER_ID } from "../data/seed.ts";
import type { Logger } from "../log.ts";
import { signDevToken } from "./verify.ts";

/** Announces the auth mode; in development without keys, returns the headers GraphiQL should start with. */
export async function announceAuth(config: Config, logger: Logger): Promise<Record<string, string> | undefined> {
  const auth = config.auth;
  if (auth.mode === "disabled") {
    logger.warn("AUTHENTICATION IS DISABLED (AUTH_DISABLED=true): every request acts as the service role");
    console.warn("\n  !!! AUTHENTICATION IS DISABLED: anyone who can reach this port can read and change the whole fleet !!!\n");
    return undefined;
  }
  if (auth.mode !== "hs256" || !auth.ephemeral) return undefined;
  const options = { audience: auth.audience, issuer: auth.issuer };
  const user = await signDevToken(auth.secret, { sub: DEMO_USER_ID, role: "authenticated" }, options);
  const service = await signDevToken(auth.secret, { sub: "00000000-0000-4000-8000-00000000ffff", role: "service_role" }, options);
  console.log(`
  Development authentication: no SUPABASE_JWT_SECRET or SUPABASE_URL is set, so this process signs
  its own tokens with a secret that dies with it. GraphiQL starts with the demo user's token.
    demo user (owns the demo fleet):  Authorization: Bearer ${user}
    service role (sees everything):   Authorization: Bearer ${service}
`);
  return { Authorization: `Bearer ${user}` };
}
