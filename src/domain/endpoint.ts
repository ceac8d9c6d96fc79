// Builds the URL a client uses to reach an MCP server: the droplet's public address, the
// instance's published host port, and its MCP path. Never localhost.
import { isIP } from "node:net";

export const ENDPOINT_PROBLEMS = ["NO_PUBLIC_ADDRESS", "NOT_NETWORK_REACHABLE", "INVALID_PORT_MAPPING"] as const;
export type EndpointProblem = (typeof ENDPOINT_PROBLEMS)[number];

export interface EndpointInput {
  publicIp: string | null;
  transport: string | null;
  endpointPath: string | null;
  portMapping: unknown;
  baseConfigOverride: unknown;
}

export type Endpoint =
  | { url: string; port: number; portSource: "PORT_MAPPING" | "PORT_BINDINGS" | "DTMA_DEFAULT"; problem: null; reason: null }
  | { url: null; port: null; portSource: null; problem: EndpointProblem; reason: string };

export const DEFAULT_MCP_PATH = "/mcp";

function validPort(value: unknown): number | null {
  const n = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
  return typeof n === "number" && Number.isInteger(n) && n > 0 && n < 65536 ? n : null;
}

/** The host port published for the container: port_mapping_json first, then Docker PortBindings. */
export function publishedHostPort(portMapping: unknown, baseConfigOverride: unknown): { port: number; source: "PORT_MAPPING" | "PORT_BINDINGS" } | "invalid" | null {
  if (portMapping != null) {
    const first = Array.isArray(portMapping) ? portMapping[0] : portMapping;
    const raw = (first as Record<string, unknown> | undefined)?.host_port ?? (first as Record<string, unknown> | undefined)?.hostPort;
    if (raw !== undefined) {
      const port = validPort(raw);
      return port ? { port, source: "PORT_MAPPING" } : "invalid";
    }
  }
  const bindings = (baseConfigOverride as { HostConfig?: { PortBindings?: Record<string, Array<{ HostPort?: unknown }>> } } | null)?.HostConfig?.PortBindings;
  if (bindings && typeof bindings === "object") {
    for (const list of Object.values(bindings)) {
      const raw = Array.isArray(list) ? list[0]?.HostPort : undefined;
      if (raw !== undefined) {
        const port = validPort(raw);
        return port ? { port, source: "PORT_BINDINGS" } : "invalid";
      }
    }
  }
  return null;
}

export function buildEndpoint(input: EndpointInput, dtmaPort: number): Endpoint {
  if (input.transport === "stdio") {
    return { url: null, port: null, portSource: null, problem: "NOT_NETWORK_REACHABLE", reason: "A stdio MCP server inside a container cannot be reached over the network" };
  }
  if (!input.publicIp) {
    return { url: null, port: null, portSource: null, problem: "NO_PUBLIC_ADDRESS", reason: "The droplet has no public IP address yet" };
  }
  const published = publishedHostPort(input.portMapping, input.baseConfigOverride);
  if (published === "invalid") {
    return { url: null, port: null, portSource: null, problem: "INVALID_PORT_MAPPING", reason: "The stored port mapping has no valid host port" };
  }
  const port = published?.port ?? dtmaPort;
  const host = isIP(input.publicIp) === 6 ? `[${input.publicIp}]` : input.publicIp;
  let path = input.endpointPath?.trim() || DEFAULT_MCP_PATH;
  if (!path.startsWith("/")) path = `/${path}`;
  const scheme = input.transport === "websocket" ? "ws" : "http";
  return { url: `${scheme}://${host}:${port}${path}`, port, portSource: published?.source ?? "DTMA_DEFAULT", problem: null, reason: null };
}
