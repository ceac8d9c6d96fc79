// POST /dtma/heartbeat: the upstream heartbeat (contract §2.5). The agent authenticates with its
// droplet's dtma_bearer_token; the droplet and all reported instances are updated in one statement.
import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import { InvalidInputError } from "../data/db.ts";
import type { Store } from "../data/store.ts";
import { storedStatusFor, type InstallationStatus } from "../domain/status.ts";
import type { Logger } from "../log.ts";

const MAX_BODY = 256 * 1024;
/** The system report is stored on the droplet's row and returned with it: its real size is ~1 KB. */
const MAX_SYSTEM_STATUS_BYTES = 16 * 1024;

const Payload = z.object({
  dtma_version: z.string().max(200).optional(),
  system_status: z.record(z.string(), z.unknown()).optional(),
  tool_statuses: z
    .array(
      z.object({
        account_tool_instance_id: z.uuid(),
        instance_name_on_toolbox: z.string().max(255).optional(),
        status_on_toolbox: z.string().max(100),
        runtime_details: z.record(z.string(), z.unknown()).optional(), // accepted, not stored: the column does not exist upstream
      }),
    )
    .max(1000)
    .optional(),
});

function reply(res: ServerResponse, status: number, body?: object) {
  if (!body) return void res.writeHead(status).end();
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}

/** How deep the agent's system report may nest (its real shape is three levels). */
const MAX_JSON_DEPTH = 16;

function depth(value: unknown, level = 0): number {
  if (level > MAX_JSON_DEPTH || value === null || typeof value !== "object") return level;
  let deepest = level + 1;
  for (const v of Object.values(value)) deepest = Math.max(deepest, depth(v, level + 1));
  return deepest;
}

async function readBody(req: IncomingMessage): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) return null;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

export async function handleHeartbeat(req: IncomingMessage, res: ServerResponse, store: Store, logger: Logger, now = () => new Date()): Promise<void> {
  if (req.method !== "POST") return reply(res, 405, { error: "Use POST" });
  const header = req.headers.authorization ?? "";
  const token = header.startsWith("Bearer ") ? header.slice(7).trim() : "";
  if (!token) return reply(res, 401, { error: "Missing bearer token" });
  const text = await readBody(req);
  if (text === null) return reply(res, 413, { error: `Body larger than ${MAX_BODY} bytes` });
  const environmentId = await store.environmentIdForToken(token);
  if (!environmentId) return reply(res, 401, { error: "Unknown DTMA token" });
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    return reply(res, 400, { error: "Body is not JSON" });
  }
  const parsed = Payload.safeParse(json);
  if (!parsed.success) {
    return reply(res, 400, { error: "Invalid heartbeat", issues: parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`) });
  }
  const instances: Array<{ id: string; name: string | null; status: InstallationStatus }> = [];
  for (const [i, t] of (parsed.data.tool_statuses ?? []).entries()) {
    const stored = storedStatusFor(t.status_on_toolbox);
    if (stored === undefined)
      return reply(res, 400, { error: "Invalid heartbeat", issues: [`tool_statuses.${i}.status_on_toolbox: unknown status "${t.status_on_toolbox}"`] });
    if (stored) instances.push({ id: t.account_tool_instance_id, name: t.instance_name_on_toolbox ?? null, status: stored });
  }
  if (depth(parsed.data.system_status) > MAX_JSON_DEPTH) return reply(res, 400, { error: `system_status is nested deeper than ${MAX_JSON_DEPTH} levels` });
  if (parsed.data.system_status && JSON.stringify(parsed.data.system_status).length > MAX_SYSTEM_STATUS_BYTES) {
    return reply(res, 400, { error: `system_status is larger than ${MAX_SYSTEM_STATUS_BYTES} bytes` });
  }
  let instancesUpdated: number;
  try {
    ({ instancesUpdated } = await store.applyDtmaReport(environmentId, {
      at: now(),
      version: parsed.data.dtma_version ?? null,
      systemMetrics: parsed.data.system_status ?? null,
      instances,
    }));
  } catch (error) {
    // A value the database cannot store (a NUL character) is the agent's mistake: retrying will not help.
    if (error instanceof InvalidInputError) return reply(res, 400, { error: error.message });
    throw error;
  }
  logger.debug({ call: "dtma.heartbeat", environment: environmentId, instances: instancesUpdated }, "heartbeat");
  reply(res, 204);
}
