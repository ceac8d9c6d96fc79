// Builds the URL a client uses to reach an MCP server: the droplet's public address, the
// instance's published host port, and its MCP path. Never localhost.
import { isIP } from "node:net";
import ipaddr from "ipaddr.js";

export const ENDPOINT_PROBLEMS = ["NO_PUBLIC_ADDRESS", "NOT_NETWORK_REACHABLE", "INVALID_PORT_MAPPING", "NO_HOST_PORT", "DTMA_PORT_COLLISION"] as const;
export type EndpointProblem = (typeof ENDPOINT_PROBLEMS)[number];

export interface EndpointInput {
  publicIp: string | null;
  transport: string | null;
  endpointPath: string | null;
  portMapping: unknown;
  baseConfigOverride: unknown;
}

/** The endpoint's inputs from a server's row and its droplet's (null while unknown). */
export function endpointInput(
  server: { transport: string | null; endpointPath: string | null; portMapping: unknown; baseConfigOverride: unknown },
  environment: { publicIp: string | null } | null,
): EndpointInput {
  return {
    publicIp: environment?.publicIp ?? null,
    transport: server.transport,
    endpointPath: server.endpointPath,
    portMapping: server.portMapping,
    baseConfigOverride: server.baseConfigOverride,
  };
}

export type Endpoint =
  | { url: string; port: number; portSource: "PORT_MAPPING" | "PORT_BINDINGS"; problem: null; reason: null }
  | { url: null; port: null; portSource: null; problem: EndpointProblem; reason: string };

export const DEFAULT_MCP_PATH = "/mcp";

function validPort(value: unknown): number | null {
  const n = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
  return typeof n === "number" && Number.isInteger(n) && n > 0 && n < 65536 ? n : null;
}

/** The host port published for the container: port_mapping_json first, then Docker PortBindings. */
export function publishedHostPort(
  portMapping: unknown,
  baseConfigOverride: unknown,
): { port: number; source: "PORT_MAPPING" | "PORT_BINDINGS"; containerPort?: number | null } | "invalid" | null {
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
    for (const [key, list] of Object.entries(bindings)) {
      const raw = Array.isArray(list) ? list[0]?.HostPort : undefined;
      if (raw !== undefined) {
        const port = validPort(raw);
        return port ? { port, source: "PORT_BINDINGS", containerPort: validPort(key.split("/")[0]) } : "invalid";
      }
    }
  }
  return null;
}

export function buildEndpoint(input: EndpointInput, dtmaPort: number): Endpoint {
  if (input.transport === "stdio") {
    return {
      url: null,
      port: null,
      portSource: null,
      problem: "NOT_NETWORK_REACHABLE",
      reason: "A stdio MCP server inside a container cannot be reached over the network",
    };
  }
  if (!input.publicIp) {
    return { url: null, port: null, portSource: null, problem: "NO_PUBLIC_ADDRESS", reason: "The droplet has no public IP address yet" };
  }
  const published = publishedHostPort(input.portMapping, input.baseConfigOverride);
  if (published === "invalid") {
    return { url: null, port: null, portSource: null, problem: "INVALID_PORT_MAPPING", reason: "The stored port mapping has no valid host port" };
  }
  // Never the droplet agent's port: upstream built every endpoint on it, which reaches the agent
  // (and its 401), not the MCP server.
  if (!published) {
    return {
      url: null,
      port: null,
      portSource: null,
      problem: "NO_HOST_PORT",
      reason: `The container publishes no host port, so the MCP server cannot be reached (port ${dtmaPort} is the droplet agent's, not the server's)`,
    };
  }
  if (published.port === dtmaPort) {
    return {
      url: null,
      port: null,
      portSource: null,
      problem: "DTMA_PORT_COLLISION",
      reason: `The published host port ${dtmaPort} is the droplet agent's own port: it reaches the agent, not the MCP server`,
    };
  }
  const port = published.port;
  const host = isIP(input.publicIp) === 6 ? `[${input.publicIp}]` : input.publicIp;
  let path = input.endpointPath?.trim() || DEFAULT_MCP_PATH;
  if (!path.startsWith("/")) path = `/${path}`;
  const scheme = input.transport === "websocket" ? "ws" : "http";
  return { url: `${scheme}://${host}:${port}${path}`, port, portSource: published.source, problem: null, reason: null };
}

// Address classes, for the doctor (and outbound safety): what a droplet's "public" address really
// is. The special-purpose ranges come from ipaddr.js (IANA's registries), not from patterns of ours;
// an IPv4 address inside IPv6 (mapped, or the deprecated compatible form) is judged as that IPv4.

export type AddressKind = "PUBLIC" | "LOOPBACK" | "PRIVATE" | "LINK_LOCAL" | "MULTICAST" | "UNSPECIFIED" | "RESERVED" | "INVALID";

const KIND_OF_RANGE: Record<string, AddressKind> = {
  unicast: "PUBLIC",
  loopback: "LOOPBACK",
  private: "PRIVATE",
  uniqueLocal: "PRIVATE",
  carrierGradeNat: "PRIVATE",
  linkLocal: "LINK_LOCAL",
  multicast: "MULTICAST",
  unspecified: "UNSPECIFIED",
};

export function addressKind(ip: string): AddressKind {
  // node:net decides what is an address (ipaddr.js also takes "1" or "0x7f.1" as IPv4).
  if (!isIP(ip)) return "INVALID";
  let address = ipaddr.process(ip);
  if (address.kind() === "ipv6") {
    const v6 = address as ipaddr.IPv6;
    const range = v6.range();
    // ::a.b.c.d (IPv4-compatible, deprecated): the IPv4 address it carries decides.
    if (range === "unicast" && v6.parts.slice(0, 6).every((p) => p === 0)) {
      address = ipaddr.fromByteArray(v6.toByteArray().slice(12));
    }
  }
  // Everything else special (NAT64, 6to4, Teredo, documentation, benchmarking, broadcast, ...) is
  // reserved: not a droplet's public address.
  return KIND_OF_RANGE[address.range()] ?? "RESERVED";
}

export interface EndpointFinding {
  code:
    | "NO_PUBLIC_ADDRESS"
    | "NOT_PUBLIC_ADDRESS"
    | "NOT_NETWORK_REACHABLE"
    | "INVALID_PORT_MAPPING"
    | "NO_HOST_PORT"
    | "DTMA_PORT_COLLISION"
    | "NO_ENDPOINT_PATH";
  message: string;
  /** How to resolve it; `fix` is set when the repair is safe to apply automatically (it loses nothing). */
  remedy: string;
  fix?: { portMapping?: { container_port: number | null; host_port: number }; endpointPath?: string };
}

/** Why an instance's endpoint cannot be built, or would point somewhere wrong (upstream's localhost and port bugs). */
export function diagnoseEndpoint(input: EndpointInput, dtmaPort: number): EndpointFinding[] {
  const findings: EndpointFinding[] = [];
  if (input.transport === "stdio") {
    findings.push({
      code: "NOT_NETWORK_REACHABLE",
      message: "stdio transport: not reachable over the network",
      remedy: "Redeploy the server with the sse or websocket transport",
    });
  }
  if (!input.publicIp) {
    findings.push({
      code: "NO_PUBLIC_ADDRESS",
      message: "The droplet has no public address",
      remedy: "Wait for provisioning, then refresh the environment from its agent",
    });
  } else if (addressKind(input.publicIp) !== "PUBLIC") {
    findings.push({
      code: "NOT_PUBLIC_ADDRESS",
      message: `The droplet's "public" address ${input.publicIp} is ${addressKind(input.publicIp).toLowerCase().replace("_", "-")}`,
      remedy: "Store the droplet's real public IP in account_tool_environments.public_ip_address",
    });
  }
  const published = publishedHostPort(input.portMapping, input.baseConfigOverride);
  if (published === "invalid") {
    findings.push({
      code: "INVALID_PORT_MAPPING",
      message: "port_mapping_json has no valid host port",
      remedy: "Redeploy the server, or correct port_mapping_json",
    });
  } else if (!published) {
    findings.push({
      code: "NO_HOST_PORT",
      message: `No published host port: the endpoint falls back to the agent's port ${dtmaPort}, where no MCP server listens`,
      remedy: "Redeploy the server with a port binding",
    });
  } else {
    if (published.port === dtmaPort)
      findings.push({
        code: "DTMA_PORT_COLLISION",
        message: `The host port ${dtmaPort} is the droplet agent's own port`,
        remedy: "Redeploy the server on another host port",
      });
    if (published.source === "PORT_BINDINGS") {
      findings.push({
        code: "NO_HOST_PORT",
        message: "port_mapping_json is missing; the host port is only in base_config_override_json's PortBindings",
        remedy: "Copy the host port into port_mapping_json",
        fix: { portMapping: { container_port: published.containerPort ?? null, host_port: published.port } },
      });
    }
  }
  if (!input.endpointPath?.trim() && input.transport !== "stdio") {
    findings.push({
      code: "NO_ENDPOINT_PATH",
      message: "mcp_endpoint_path is empty",
      remedy: "Set it to /mcp, the path this API assumes",
      fix: { endpointPath: "/mcp" },
    });
  }
  return findings;
}

/** Why an outbound call to `ip` must not be made, or null when it may. */
export function outboundRefusal(ip: string, allowPrivate: boolean): string | null {
  const kind = addressKind(ip);
  if (kind === "PUBLIC") return null;
  if (allowPrivate && (kind === "LOOPBACK" || kind === "PRIVATE" || kind === "LINK_LOCAL")) return null;
  return `Refusing to connect to ${ip}: a ${kind.toLowerCase().replace("_", "-")} address is not a droplet's public address`;
}

/**
 * Placeholders a template left unexpanded: `${NAME}`, `{{ name }}`, `<your-...>`. A server
 * configured with one cannot work; a failed test says which, by name (values may be secrets).
 */
const PLACEHOLDER = /\$\{[A-Za-z_][A-Za-z0-9_]*\}|\{\{\s*[A-Za-z_][\w.-]*\s*\}\}|<your[-_ ][^>]{1,60}>/i;

export function hasPlaceholder(text: string): boolean {
  return PLACEHOLDER.test(text);
}

/** The names of the container's environment variables (Env, NAME=value) whose values hold a placeholder. */
export function placeholderVariables(baseConfigOverride: unknown): string[] {
  const env = (baseConfigOverride as { Env?: unknown } | null)?.Env;
  if (!Array.isArray(env)) return [];
  return env.flatMap((e) => {
    if (typeof e !== "string" || !e.includes("=")) return [];
    const at = e.indexOf("=");
    return hasPlaceholder(e.slice(at + 1)) ? [e.slice(0, at)] : [];
  });
}
