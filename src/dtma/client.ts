// The DTMA HTTP client: typed requests and responses for the routes of
// shared/reference/dtma-contract.md §2. Every call has a deadline; only the idempotent
// GET /status is retried; redirects are never followed; bodies are size-capped.
import { clip } from "../domain/text.ts";
import type { Logger } from "../log.ts";
import { routeLabel } from "../metrics.ts";

export type DtmaErrorKind = "UNREACHABLE" | "TIMEOUT" | "HTTP" | "PROTOCOL";

/** The longest error message of the agent's that is kept. */
const MAX_AGENT_MESSAGE = 1000;
/** The longest log line returned. */
const MAX_LOG_LINE = 4000;

export class DtmaError extends Error {
  constructor(
    readonly kind: DtmaErrorKind,
    message: string,
    readonly status: number | null = null,
  ) {
    super(message);
    this.name = "DtmaError";
  }
}

export interface DtmaTarget {
  /** The droplet's public address. */
  host: string;
  port: number;
  /** Sent instead of the fleet-wide key (DTMA_CREDENTIAL=droplet-token): the droplet's own token. */
  token?: string;
}

/** One container as the DTMA reports it, whichever /status shape it speaks. */
export interface DtmaInstance {
  accountToolInstanceId: string | null;
  name: string | null;
  containerId: string | null;
  /** Docker state (running, exited, ...) or the DTMA's own (not_found, error_inspecting). */
  state: string;
  image: string | null;
  /** Host ports the container publishes, where the agent says ((B) does; (A) does not). */
  hostPorts: number[];
}

export interface DtmaStatus {
  version: string | null;
  systemMetrics: Record<string, unknown> | null;
  instances: DtmaInstance[];
}

export interface DeployRequest {
  dockerImageUrl: string;
  instanceNameOnToolbox: string;
  accountToolInstanceId: string;
  baseConfigOverrideJson?: { Env?: string[]; HostConfig?: { PortBindings?: Record<string, Array<{ HostPort: string }>> } };
}

export interface DtmaClientOptions {
  apiKey: string | undefined;
  timeoutMs: number;
  /** Extra attempts for idempotent reads. */
  retries: number;
  maxBodyBytes: number;
  logger: Logger;
  /** Called once per attempt, for metrics. */
  onCall?: (route: string, outcome: string, seconds: number) => void;
}

const obj = (v: unknown) => (v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : null);
const str = (v: unknown) => (typeof v === "string" && v !== "" ? v : null);

/** Normalises both /status shapes: (A) agentopia dtma, (B) dtma-agent@HEAD. */
export function parseStatus(body: unknown): DtmaStatus {
  const b = obj(body);
  if (!b || !Array.isArray(b.tool_instances)) throw new DtmaError("PROTOCOL", "The DTMA /status answer has no tool_instances list");
  const instances = b.tool_instances.map((raw): DtmaInstance => {
    const i = obj(raw) ?? {};
    const names = Array.isArray(i.names) ? i.names.map(String).map((n) => n.replace(/^\//, "")) : [];
    return {
      accountToolInstanceId: str(i.account_tool_instance_id),
      name: str(i.instance_name_on_toolbox) ?? names[0] ?? null,
      containerId: str(i.container_id) ?? str(i.id),
      // (A) puts the Docker state in `status`; (B) in `state`, with "Up 2 hours" in `status`.
      state: str(i.state) ?? str(i.status) ?? "error_inspecting",
      image: str(i.image),
      hostPorts: (Array.isArray(i.ports) ? i.ports : []).map((p) => Number(obj(p)?.public_port)).filter((n) => Number.isInteger(n) && n > 0 && n < 65536),
    };
  });
  return { version: str(b.dtma_version) ?? str(b.version), systemMetrics: obj(b.system_metrics), instances };
}

export class DtmaClient {
  constructor(private readonly options: DtmaClientOptions) {}

  private url(target: DtmaTarget, path: string): string {
    const host = target.host.includes(":") ? `[${target.host}]` : target.host;
    return `http://${host}:${target.port}${path}`;
  }

  private async call(target: DtmaTarget, method: string, path: string, body?: unknown, idempotent = false): Promise<{ status: number; json: unknown }> {
    const attempts = idempotent ? this.options.retries + 1 : 1;
    let last: DtmaError | undefined;
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (attempt) await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** (attempt - 1), 2000)));
      const started = performance.now();
      try {
        const result = await this.once(target, method, path, body);
        this.options.onCall?.(routeLabel(method, path), String(result.status), (performance.now() - started) / 1000);
        this.options.logger.info(
          { call: "dtma", target: target.host, route: routeLabel(method, path), ms: Math.round(performance.now() - started), outcome: result.status },
          "DTMA call",
        );
        return result;
      } catch (error) {
        last = error as DtmaError;
        this.options.onCall?.(routeLabel(method, path), last.status ? String(last.status) : last.kind, (performance.now() - started) / 1000);
        this.options.logger.warn(
          {
            call: "dtma",
            target: target.host,
            route: routeLabel(method, path),
            ms: Math.round(performance.now() - started),
            outcome: last.kind,
            status: last.status,
            attempt,
          },
          "DTMA call failed",
        );
        // Only transport failures and 5xx are worth another try.
        if (last.kind === "PROTOCOL" || (last.kind === "HTTP" && (last.status ?? 0) < 500)) break;
      }
    }
    throw last as DtmaError;
  }

  private async once(target: DtmaTarget, method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    const signal = AbortSignal.timeout(this.options.timeoutMs);
    let res: Response;
    try {
      res = await fetch(this.url(target, path), {
        method,
        signal,
        redirect: "manual",
        headers: {
          accept: "application/json",
          ...(body === undefined ? {} : { "content-type": "application/json" }),
          ...((target.token ?? this.options.apiKey) ? { authorization: `Bearer ${target.token ?? this.options.apiKey}` } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      if (signal.aborted) throw new DtmaError("TIMEOUT", `The droplet agent at ${target.host} did not answer within ${this.options.timeoutMs} ms`);
      throw new DtmaError("UNREACHABLE", `The droplet agent at ${target.host} is unreachable`);
    }
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel();
      throw new DtmaError("PROTOCOL", `The droplet agent answered with a redirect (${res.status}); redirects are not followed`, res.status);
    }
    let text: string;
    try {
      text = await readCapped(res, this.options.maxBodyBytes, signal);
    } catch (error) {
      if (signal.aborted) throw new DtmaError("TIMEOUT", `The droplet agent at ${target.host} did not finish answering within ${this.options.timeoutMs} ms`);
      throw error instanceof DtmaError ? error : new DtmaError("UNREACHABLE", `The answer from ${target.host} was cut off`);
    }
    let json: unknown = null;
    if (text) {
      try {
        json = JSON.parse(text);
      } catch {
        if (res.ok) throw new DtmaError("PROTOCOL", `The droplet agent at ${target.host} answered with something that is not JSON`, res.status);
      }
    }
    if (!res.ok) {
      // The agent's words end up in the server's stored error message: bounded, like everything it sends.
      const message = clip(str(obj(json)?.error) ?? str(obj(json)?.message) ?? `HTTP ${res.status}`, MAX_AGENT_MESSAGE);
      throw new DtmaError("HTTP", `The droplet agent refused: ${message}`, res.status);
    }
    return { status: res.status, json };
  }

  async status(target: DtmaTarget): Promise<DtmaStatus> {
    return parseStatus((await this.call(target, "GET", "/status", undefined, true)).json);
  }

  async deploy(target: DtmaTarget, request: DeployRequest): Promise<{ state: string | null; containerId: string | null }> {
    const { json } = await this.call(target, "POST", "/tools", request);
    const data = obj(obj(json)?.data);
    return { state: str(data?.state), containerId: str(data?.container_id) };
  }

  async start(target: DtmaTarget, name: string): Promise<void> {
    await this.call(target, "POST", `/tools/${encodeURIComponent(name)}/start`);
  }

  async stop(target: DtmaTarget, name: string): Promise<void> {
    await this.call(target, "POST", `/tools/${encodeURIComponent(name)}/stop`);
  }

  async remove(target: DtmaTarget, name: string): Promise<void> {
    await this.call(target, "DELETE", `/tools/${encodeURIComponent(name)}`);
  }

  /**
   * A container's log lines through the agent's `GET /mcp/servers/:name/logs` (dtma-agent's
   * route): the last `tail`, or those after `since`. Lines are bounded in number and length; the
   * answer is size-capped like every other.
   */
  async logs(target: DtmaTarget, name: string, options: { tail: number; since?: Date }): Promise<string[]> {
    const query = new URLSearchParams({ tail: String(options.tail) });
    if (options.since) query.set("since", options.since.toISOString());
    const { json } = await this.call(target, "GET", `/mcp/servers/${encodeURIComponent(name)}/logs?${query}`, undefined, true);
    const logs = obj(obj(json)?.data)?.logs;
    const lines = typeof logs === "string" ? logs.split("\n") : Array.isArray(logs) ? logs.map(String) : null;
    if (!lines) throw new DtmaError("PROTOCOL", "The droplet agent's logs answer has no logs");
    return lines
      .filter((l) => l !== "")
      .slice(-options.tail)
      .map((l) => clip(l, MAX_LOG_LINE));
  }

  /** The MCP restart route where the agent has it (dtma-agent); stop then start elsewhere. */
  async restart(target: DtmaTarget, name: string): Promise<"RESTART_ROUTE" | "STOP_START"> {
    try {
      await this.call(target, "POST", `/mcp/servers/${encodeURIComponent(name)}/restart`);
      return "RESTART_ROUTE";
    } catch (error) {
      if (!(error instanceof DtmaError && error.kind === "HTTP" && (error.status === 404 || error.status === 405))) throw error;
    }
    await this.stop(target, name);
    await this.start(target, name);
    return "STOP_START";
  }
}

async function readCapped(res: Response, maxBytes: number, signal: AbortSignal): Promise<string> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  const onAbort = () => void reader.cancel().catch(() => undefined);
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (signal.aborted) throw new Error("aborted");
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel().catch(() => undefined);
        throw new DtmaError("PROTOCOL", `The droplet agent's answer is larger than ${maxBytes} bytes`);
      }
      chunks.push(value);
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
  return Buffer.concat(chunks).toString("utf8");
}
