// `mcp-fleet doctor [--fix]`: the instances whose endpoint cannot be built or points somewhere wrong
// (upstream's localhost and port bugs), with the fix; --fix applies the safe ones. Nothing is deleted.
import { allPages, type Store } from "./data/store.ts";
import { DEFAULT_THRESHOLDS } from "./domain/status.ts";
import { diagnoseEndpoint, endpointInput, type EndpointFinding } from "./domain/endpoint.ts";

export interface DoctorEntry {
  serverId: string;
  server: string;
  environment: string;
  findings: EndpointFinding[];
  fixed: boolean;
}

export async function runDoctor(store: Store, dtmaPort: number, fix: boolean): Promise<DoctorEntry[]> {
  const entries: DoctorEntry[] = [];
  const time = { now: new Date(), thresholds: DEFAULT_THRESHOLDS };
  for await (const page of allPages((after) => store.listServers({}, { first: 500, after }, time))) {
    const envs = new Map(page.environments.map((e) => [e.id, e]));
    for (const s of page.rows) {
      const env = envs.get(s.environmentId);
      const findings = diagnoseEndpoint(endpointInput(s, env ?? null), dtmaPort);
      if (!findings.length) continue;
      const repair = Object.assign({}, ...findings.map((f) => f.fix ?? {}));
      const fixed = fix && Object.keys(repair).length > 0;
      if (fixed) await store.updateServerEndpoint(s.id, repair);
      entries.push({ serverId: s.id, server: s.name ?? s.id, environment: env?.name ?? s.environmentId, findings, fixed });
    }
  }
  return entries;
}

export function formatDoctor(entries: DoctorEntry[], fix: boolean): string {
  if (!entries.length) return "All endpoints can be built from public addresses and published ports.";
  const lines = entries.flatMap((e) => [
    `${e.server} (${e.environment}) ${e.serverId}${e.fixed ? "  [fixed]" : ""}`,
    ...e.findings.map((f) => `  - ${f.code}: ${f.message}\n      fix: ${f.remedy}${f.fix ? (e.fixed ? " (applied)" : " (safe: run with --fix)") : ""}`),
  ]);
  const fixable = entries.filter((e) => e.findings.some((f) => f.fix)).length;
  lines.push(
    "",
    `${entries.length} server(s) with findings; ${fix ? `${entries.filter((e) => e.fixed).length} fixed` : `${fixable} can be fixed safely with --fix`}.`,
  );
  return lines.join("\n");
}
