// supabase-js at its boundary: a SupabaseStore whose requests are captured and answered by the test.
import { SupabaseStore } from "../../src/data/supabase-store.ts";

export interface Captured {
  method: string;
  path: string;
  params: [string, string][];
  headers: Record<string, string>;
}

/** A store on a fake project whose every request is recorded and answered by `respond`. */
export function capture(respond: (req: Captured) => Response | Promise<Response>) {
  const requests: Captured[] = [];
  const fetchImpl = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
    const headers = Object.fromEntries(new Headers(init?.headers).entries());
    const req = { method: init?.method ?? "GET", path: url.pathname, params: [...url.searchParams.entries()], headers };
    requests.push(req);
    return respond(req);
  }) as typeof fetch;
  const store = new SupabaseStore({ url: "https://project.supabase.co", key: "service-role-key", timeoutMs: 300, fetch: fetchImpl });
  return { store, requests };
}

export const json = (body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status: 200, headers: { "content-type": "application/json", ...headers } });
