// Deploying a catalog entry: which image and version, and the entry's default configuration merged
// with the caller's, with the entry's required secrets checked before anything reaches a droplet.
import type { CatalogToolRow } from "../data/rows.ts";
import { OperationError } from "./errors.ts";

export interface CatalogDeployRequest {
  version: string | null;
  /** The caller's environment, NAME=value; a variable given here wins over the template's. */
  env: string[];
  ports: Array<{ containerPort: number; hostPort: number }>;
  transport: "sse" | "websocket" | "stdio" | null;
  endpointPath: string | null;
}

export interface CatalogDeploy {
  image: string;
  env: string[];
  ports: Array<{ containerPort: number; hostPort: number }>;
  /** The container port to publish when the caller gives no ports. */
  containerPort: number | null;
  transport: "sse" | "websocket" | "stdio";
  endpointPath: string;
}

const obj = (v: unknown) => (v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

/** `image` at `version`: the tag replaced (or added); a digest reference is used as it is. */
export function imageAt(image: string, version: string): string {
  if (image.includes("@")) return image;
  const slash = image.lastIndexOf("/");
  const colon = image.lastIndexOf(":");
  const repository = colon > slash ? image.slice(0, colon) : image;
  return `${repository}:${version}`;
}

/** The names of the secrets an entry requires: `required_secrets_schema` as names, or objects with `name`/`key` (unless `required: false`). */
export function requiredSecrets(schema: unknown): string[] {
  if (!Array.isArray(schema)) return [];
  return schema.flatMap((s) => {
    if (typeof s === "string") return [s];
    const o = obj(s);
    const name = o.name ?? o.key ?? o.env;
    return typeof name === "string" && o.required !== false ? [name] : [];
  });
}

/** Template env as NAME=value entries (the template may hold an object or a list). */
function templateEnv(template: Record<string, unknown>): string[] {
  const env = template.env ?? template.Env ?? template.environment;
  if (Array.isArray(env)) return env.filter((e): e is string => typeof e === "string" && e.includes("="));
  return Object.entries(obj(env)).map(([k, v]) => `${k}=${String(v)}`);
}

export function catalogDeploy(entry: CatalogToolRow, request: CatalogDeployRequest): CatalogDeploy {
  if (entry.status === "archived") throw new OperationError("BAD_USER_INPUT", `The catalog entry ${entry.name} is archived and cannot be deployed`);
  if (entry.packaging !== "docker_image")
    throw new OperationError("BAD_USER_INPUT", `The catalog entry ${entry.name} is not a Docker image (${entry.packaging})`);
  const version = request.version ?? entry.defaultVersion;
  if (entry.versions.length && !entry.versions.includes(version)) {
    throw new OperationError("BAD_USER_INPUT", `${entry.name} has no version ${version}; available: ${entry.versions.join(", ")}`);
  }
  const template = obj(entry.defaultConfigTemplate);
  // The caller's variables win over the template's of the same name.
  const merged = new Map<string, string>();
  for (const e of [...templateEnv(template), ...request.env]) merged.set(e.slice(0, e.indexOf("=")), e);
  const env = [...merged.values()];
  const missing = requiredSecrets(entry.requiredSecretsSchema).filter((name) => {
    const entryOf = merged.get(name);
    return !entryOf || entryOf.length <= name.length + 1; // absent, or NAME= with nothing after
  });
  if (missing.length) {
    throw new OperationError("BAD_USER_INPUT", `${entry.name} needs these secrets in \`env\`: ${missing.join(", ")}`);
  }
  const containerPort = Number(template.containerPort ?? template.mcpPort ?? template.port) || null;
  const transport =
    request.transport ??
    (["sse", "websocket", "stdio"].includes(String(template.transport ?? template.mcpTransport))
      ? (String(template.transport ?? template.mcpTransport) as "sse")
      : "sse");
  const endpointPath =
    request.endpointPath ??
    (typeof (template.endpointPath ?? template.mcpEndpoint) === "string" ? String(template.endpointPath ?? template.mcpEndpoint) : "/mcp");
  return { image: imageAt(entry.dockerImageUrl ?? entry.packageIdentifier, version), env, ports: request.ports, containerPort, transport, endpointPath };
}
