// A faithful simulator of the DTMA HTTP contract (shared/reference/dtma-contract.md §2), for the
// tests and `npm run demo`; nothing else in the project fakes the DTMA. Containers live in memory;
// with `mcpServers`, each running container is a real SDK MCP server on its published host port.
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { startStreamableServer, type Running } from "./sample-servers.ts";
import { routeLabel } from "../metrics.ts";

export type Fault = "hang" | "hold" | "garbage" | "huge" | "verbose-error" | "redirect" | "slow-drip" | 500 | 503;

/**
 * A fault of a running container's MCP server (with `mcpServers`): it crashes (the process exits
 * and the container stays exited, as one whose restart policy gave up), exits after some seconds,
 * stops answering while its container runs, or answers slowly.
 */
export type ServerFault = { kind: "crash" } | { kind: "exit-after"; seconds: number } | { kind: "hang" } | { kind: "slow"; delayMs: number };

export interface SimulatorOptions {
  /** (A) agentopia dtma: /status needs the key, has account_tool_instance_id. (B) dtma-agent: open /status, Docker objects. */
  shape?: "A" | "B";
  /** BACKEND_TO_DTMA_API_KEY; undefined reproduces "key unset" (500 on authenticated routes). */
  apiKey: string | undefined;
  /** DTMA_BEARER_TOKEN: the later agent variant (authenticateDtmaRequest) accepts it as well as the backend key. */
  dropletToken?: string;
  host?: string;
  port?: number;
  version?: string;
  /** Start a real MCP server (official SDK) on each running container's host port. */
  mcpServers?: boolean;
  heartbeat?: { url: string; token: string; intervalMs: number };
}

interface Container {
  id: string;
  name: string;
  accountToolInstanceId: string;
  image: string;
  state: "running" | "exited" | "created";
  created: number;
  hostPort: number | null;
  containerPort: number | null;
  mcp?: Running;
  /** An injected hang or slowness of its MCP server (injectFault). */
  fault?: { hang?: boolean; delayMs?: number };
  exitTimer?: NodeJS.Timeout;
  /** What `docker logs --timestamps` would show: the agent's lifecycle lines and the MCP server's own. */
  logs: Array<{ at: Date; line: string }>;
}

/** Lines kept per container (docker keeps more; a bound is what matters here). */
const LOG_LINES_KEPT = 1000;

function appendLog(c: Container, line: string) {
  c.logs.push({ at: new Date(), line });
  if (c.logs.length > LOG_LINES_KEPT) c.logs.splice(0, c.logs.length - LOG_LINES_KEPT);
}

export class DtmaSimulator {
  readonly containers = new Map<string, Container>();
  /** Faults to answer with, by route ("GET /status", "POST /tools", ...), or "*" for every route. */
  readonly faults = new Map<string, Fault>();
  readonly requests: Array<{ method: string; path: string; authorization: string | undefined }> = [];
  /** Requests waiting under the "hold" fault until `release()`, and the most there were at once. */
  private readonly held: Array<() => void> = [];
  peakHeld = 0;
  private server = createServer((req, res) => void this.handle(req, res));
  private heartbeatTimer: NodeJS.Timeout | undefined;
  port = 0;

  constructor(readonly options: SimulatorOptions) {}

  get host() {
    return this.options.host ?? "127.0.0.1";
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.options.port ?? 0, this.host, () => {
        this.server.off("error", reject);
        resolve();
      });
    });
    this.port = (this.server.address() as AddressInfo).port;
    if (this.options.heartbeat) {
      const beat = () => void this.sendHeartbeat().catch(() => undefined);
      this.heartbeatTimer = setInterval(beat, this.options.heartbeat.intervalMs);
      this.heartbeatTimer.unref();
      beat();
    }
    return this;
  }

  async stop(): Promise<void> {
    clearInterval(this.heartbeatTimer);
    await Promise.all([...this.containers.values()].map((c) => c.mcp?.close()));
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The agent restarted: upstream's in-memory `managedInstances` are gone (contract §2.3). */
  forgetManagedInstances(): void {
    for (const c of this.containers.values()) c.accountToolInstanceId = "";
  }

  /** Injects a fault into a container's MCP server (demo, tests); a start or restart clears a hang or slowness. */
  injectFault(name: string, fault: ServerFault): void {
    const c = this.containers.get(name);
    if (!c) throw new Error(`no container named ${name}`);
    clearTimeout(c.exitTimer);
    if (fault.kind === "crash") return void this.crash(c);
    if (fault.kind === "exit-after") {
      c.exitTimer = setTimeout(() => void this.crash(c), fault.seconds * 1000);
      c.exitTimer.unref();
      return;
    }
    c.fault = fault.kind === "hang" ? { hang: true } : { delayMs: fault.delayMs };
    appendLog(c, fault.kind === "hang" ? "MCP server stopped answering" : `MCP server answering after ${fault.delayMs} ms`);
  }

  private async crash(c: Container) {
    c.state = "exited";
    c.fault = undefined;
    appendLog(c, "MCP server exited with code 137");
    await this.syncMcp(c);
  }

  /** Adds a container as if deployed earlier. */
  async add(c: { name: string; accountToolInstanceId: string; image?: string; state?: Container["state"]; hostPort?: number }): Promise<void> {
    const container: Container = {
      id: randomBytes(32).toString("hex"),
      name: c.name,
      accountToolInstanceId: c.accountToolInstanceId,
      image: c.image ?? "ghcr.io/example/mcp:latest",
      state: c.state ?? "running",
      created: Math.floor(Date.now() / 1000),
      hostPort: c.hostPort ?? null,
      containerPort: 8080,
      logs: [],
    };
    this.containers.set(c.name, container);
    await this.syncMcp(container);
  }

  async sendHeartbeat(): Promise<number> {
    const hb = this.options.heartbeat;
    if (!hb) return 0;
    const res = await fetch(hb.url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${hb.token}` },
      body: JSON.stringify({
        dtma_version: this.options.version ?? "1.4.2-sim",
        system_status: systemMetrics(),
        tool_statuses: [...this.containers.values()]
          .filter((c) => c.accountToolInstanceId)
          .map((c) => ({
            account_tool_instance_id: c.accountToolInstanceId,
            instance_name_on_toolbox: c.name,
            status_on_toolbox: c.state === "running" ? "running" : "stopped",
          })),
      }),
      signal: AbortSignal.timeout(15_000),
    });
    return res.status;
  }

  private async syncMcp(c: Container) {
    if (!this.options.mcpServers || c.hostPort === null) return;
    if (c.state === "running" && !c.mcp) {
      c.mcp = await startStreamableServer({
        name: c.name,
        host: this.host,
        port: c.hostPort,
        log: (line) => appendLog(c, line),
        behaviour: () => c.fault,
      });
    }
    if (c.state !== "running" && c.mcp) {
      await c.mcp.close();
      c.mcp = undefined;
      appendLog(c, "MCP server stopped (SIGTERM)");
    }
  }

  private send(res: ServerResponse, status: number, body: unknown) {
    res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
  }

  // Contract §2.2: missing header 401, wrong key 403, key unset on the agent 500.
  private authorized(req: IncomingMessage, res: ServerResponse): boolean {
    if (this.options.apiKey === undefined && this.options.dropletToken === undefined) {
      this.send(res, 500, { success: false, error: "Server configuration error: BACKEND_TO_DTMA_API_KEY not set" });
      return false;
    }
    const header = req.headers.authorization;
    if (!header?.startsWith("Bearer ")) {
      this.send(res, 401, { success: false, error: "Unauthorized: Missing or invalid Authorization header" });
      return false;
    }
    const given = header.slice(7);
    if (given !== this.options.apiKey && given !== this.options.dropletToken) {
      this.send(res, 403, { success: false, error: "Forbidden: Invalid API key" });
      return false;
    }
    return true;
  }

  get heldCount(): number {
    return this.held.length;
  }

  /** Lets every held request go on, answered as if there were no fault. */
  release(): void {
    for (const go of this.held.splice(0)) go();
  }

  private async fault(kind: Fault, res: ServerResponse) {
    switch (kind) {
      case "hang":
      case "hold":
        return; // never answers (hold is handled before: it waits for release())
      case "garbage":
        return void res.writeHead(200, { "content-type": "application/json" }).end("{not json");
      case "huge":
        res.writeHead(200, { "content-type": "application/json" });
        res.write('{"tool_instances":[');
        for (let i = 0; i < 64; i++) res.write(`"${"x".repeat(64 * 1024)}",`);
        return void res.end('""]}');
      case "verbose-error":
        // A refusal carrying a long message (agents pass Docker's errors on): 100,000 characters.
        return this.send(res, 500, { success: false, error: `docker: ${"e".repeat(100_000)}` });
      case "redirect":
        return void res.writeHead(302, { location: "http://169.254.169.254/latest/meta-data/" }).end();
      case "slow-drip": {
        res.writeHead(200, { "content-type": "application/json" });
        const timer = setInterval(() => (res.destroyed ? clearInterval(timer) : res.write(" ")), 100);
        return;
      }
      default:
        return this.send(res, kind, { success: false, error: `simulated ${kind}` });
    }
  }

  private async body(req: IncomingMessage): Promise<Record<string, unknown> | null> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    try {
      return JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
    } catch {
      return null;
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? "/", "http://sim");
    const method = req.method ?? "GET";
    const path = url.pathname;
    this.requests.push({ method, path, authorization: req.headers.authorization });
    const route = routeLabel(method, path);
    const fault = this.faults.get(route) ?? this.faults.get("*");
    if (fault === "hold") {
      await new Promise<void>((resolve) => (this.peakHeld = Math.max(this.peakHeld, this.held.push(resolve))));
    } else if (fault !== undefined) return this.fault(fault, res);
    const shape = this.options.shape ?? "A";

    if (method === "GET" && path === "/health") return void res.writeHead(200, { "content-type": "text/plain" }).end("OK");
    // The simulator's own control route (not the agent's contract): inject a fault into a container's MCP server.
    const control = /^\/_sim\/faults\/([^/]+)$/.exec(path);
    if (control && method === "POST") {
      const fault = parseServerFault(await this.body(req));
      const name = decodeURIComponent(control[1]);
      if (!fault)
        return this.send(res, 400, {
          success: false,
          error: 'Send {"kind":"crash"}, {"kind":"exit-after","seconds":N}, {"kind":"hang"} or {"kind":"slow","delayMs":N}',
        });
      if (!this.containers.has(name)) return this.send(res, 404, { success: false, error: `No container named ${name}` });
      this.injectFault(name, fault);
      return this.send(res, 200, { success: true, message: `${fault.kind} injected into ${name}` });
    }
    if (method === "GET" && path === "/status") {
      if (shape === "A" && !this.authorized(req, res)) return;
      return this.send(res, 200, this.statusBody(shape));
    }
    if (!this.authorized(req, res)) return;

    if (method === "POST" && path === "/tools") {
      const body = await this.body(req);
      const image = body?.dockerImageUrl,
        name = body?.instanceNameOnToolbox,
        id = body?.accountToolInstanceId;
      if (typeof image !== "string" || typeof name !== "string" || typeof id !== "string" || !image || !name || !id) {
        return this.send(res, 400, { success: false, error: "Missing required fields: dockerImageUrl, instanceNameOnToolbox, accountToolInstanceId" });
      }
      if (this.containers.has(name)) return this.send(res, 409, { success: false, error: `Container with name ${name} already exists.` });
      const bindings =
        (body?.baseConfigOverrideJson as { HostConfig?: { PortBindings?: Record<string, Array<{ HostPort?: string }>> } } | undefined)?.HostConfig
          ?.PortBindings ?? {};
      const [containerPortKey, list] = Object.entries(bindings)[0] ?? [];
      const hostPort = list?.[0]?.HostPort ? Number(list[0].HostPort) : null;
      if (hostPort !== null && [...this.containers.values()].some((c) => c.hostPort === hostPort)) {
        return this.send(res, 409, { success: false, error: `Port ${hostPort} is already allocated` });
      }
      const container: Container = {
        id: randomBytes(32).toString("hex"),
        name,
        accountToolInstanceId: id,
        image,
        state: "running",
        created: Math.floor(Date.now() / 1000),
        hostPort,
        containerPort: containerPortKey ? parseInt(containerPortKey, 10) : null,
        logs: [],
      };
      appendLog(container, `pulled ${image}; created container ${container.id.slice(0, 12)}`);
      this.containers.set(name, container);
      await this.syncMcp(container);
      return this.send(res, 201, {
        success: true,
        message: "Tool deployed successfully",
        data: { container_id: container.id, instance_name_on_toolbox: name, account_tool_instance_id: id, image, ports: bindings, state: "running" },
      });
    }

    const tool = /^\/tools\/([^/]+)(?:\/(start|stop))?$/.exec(path);
    if (tool) {
      const name = decodeURIComponent(tool[1]);
      const container = this.containers.get(name);
      // Upstream keys its routes by its in-memory map: after an agent restart, 404 (§2.3, §6.8).
      if (!container?.accountToolInstanceId)
        return this.send(res, 404, { success: false, error: `Tool instance ${name} not found or not managed by this DTMA.` });
      if (method === "DELETE" && !tool[2]) {
        await container.mcp?.close();
        this.containers.delete(name);
        return this.send(res, 200, { success: true, message: `Tool instance ${name} deleted successfully.` });
      }
      if (method === "POST" && tool[2] === "start") {
        const already = container.state === "running";
        container.state = "running";
        container.fault = undefined;
        await this.syncMcp(container);
        return this.send(res, 200, {
          success: true,
          message: already ? `Tool instance ${name} is already running.` : `Tool instance ${name} started successfully.`,
          data: { state: "running" },
        });
      }
      if (method === "POST" && tool[2] === "stop") {
        container.state = "exited";
        await this.syncMcp(container);
        return this.send(res, 200, { success: true, message: `Tool instance ${name} stopped successfully.`, data: { state: "exited" } });
      }
    }

    // The agent's logs route (dtma-agent's is a stub; this one serves the container's real lines):
    // the last `tail` lines, or those after `since` (ISO time or Unix seconds), timestamped.
    const logs = /^\/mcp\/servers\/([^/]+)\/logs$/.exec(path);
    if (logs && method === "GET") {
      const container = this.containers.get(decodeURIComponent(logs[1]));
      if (!container) return this.send(res, 404, { success: false, error: "MCP server not found" });
      const tail = Math.max(0, Math.min(Number(url.searchParams.get("tail") ?? 100) || 100, LOG_LINES_KEPT));
      const sinceParam = url.searchParams.get("since");
      const since = sinceParam ? (/^\d+(\.\d+)?$/.test(sinceParam) ? Number(sinceParam) * 1000 : Date.parse(sinceParam)) : Number.NEGATIVE_INFINITY;
      const lines = container.logs.filter((l) => l.at.getTime() > since).slice(-tail);
      return this.send(res, 200, {
        success: true,
        data: { instanceName: container.name, logs: lines.map((l) => `${l.at.toISOString()} ${l.line}`).join("\n"), timestamp: new Date().toISOString() },
      });
    }

    const restart = /^\/mcp\/servers\/([^/]+)\/restart$/.exec(path);
    if (restart && method === "POST" && shape === "B") {
      const container = this.containers.get(decodeURIComponent(restart[1]));
      if (!container) return this.send(res, 404, { success: false, error: "MCP server not found" });
      container.state = "running";
      container.fault = undefined;
      await this.syncMcp(container);
      return this.send(res, 200, { success: true, message: `MCP server ${container.name} restarted` });
    }
    this.send(res, 404, { success: false, error: "Not found" });
  }

  private statusBody(shape: "A" | "B") {
    const containers = [...this.containers.values()];
    if (shape === "A") {
      return {
        dtma_version: this.options.version ?? "1.4.2-sim",
        system_metrics: systemMetrics(),
        tool_instances: containers.map((c) => ({
          account_tool_instance_id: c.accountToolInstanceId || null,
          instance_name_on_toolbox: c.name,
          status: c.state,
          container_id: c.id,
        })),
      };
    }
    return {
      status: "healthy",
      timestamp: new Date().toISOString(),
      version: this.options.version ?? "1.4.2-sim",
      service: "DTMA",
      environment: { hasAuthToken: true, hasApiKey: this.options.apiKey !== undefined, hasApiBaseUrl: true, port: String(this.port) },
      tool_instances: containers.map((c) => ({
        id: c.id,
        names: [`/${c.name}`],
        image: c.image,
        image_id: `sha256:${c.id.slice(0, 12)}`,
        command: "node server.js",
        created: c.created,
        state: c.state,
        status: c.state === "running" ? "Up 2 hours" : "Exited (0) 5 minutes ago",
        ports: c.hostPort ? [{ ip: "0.0.0.0", private_port: c.containerPort ?? 8080, public_port: c.hostPort, type: "tcp" }] : [],
      })),
      system_metrics: systemMetrics(),
    };
  }
}

function systemMetrics() {
  const total = 4 * 1024 ** 3;
  return {
    cpu_load_percent: Math.round(Math.random() * 400) / 10,
    memory: { total_bytes: total, active_bytes: total * 0.3, free_bytes: total * 0.55, used_bytes: total * 0.45 },
    disk: { mount: "/", total_bytes: 80 * 1024 ** 3, used_bytes: 20 * 1024 ** 3, free_bytes: 60 * 1024 ** 3 },
  };
}

/** A fault as sent to the control route, or null if it is not one. */
export function parseServerFault(body: Record<string, unknown> | null): ServerFault | null {
  const n = (v: unknown, max: number) => (typeof v === "number" && Number.isFinite(v) && v >= 0 && v <= max ? v : null);
  switch (body?.kind) {
    case "crash":
    case "hang":
      return { kind: body.kind };
    case "exit-after": {
      const seconds = n(body.seconds, 86_400);
      return seconds === null ? null : { kind: "exit-after", seconds };
    }
    case "slow": {
      const delayMs = n(body.delayMs, 600_000);
      return delayMs === null ? null : { kind: "slow", delayMs };
    }
    default:
      return null;
  }
}
