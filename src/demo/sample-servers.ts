// Real MCP servers built with the official SDK, on loopback: for the tests and for `npm run demo`.
// Nothing here fakes MCP: these are the SDK's own server transports.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import net, { type AddressInfo } from "node:net";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { SSEServerTransport } from "@modelcontextprotocol/sdk/server/sse.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { z } from "zod";

export interface Running {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** An MCP server with two tools, a resource and a prompt. */
export function sampleMcpServer(name = "fleet-sample", version = "1.2.3"): McpServer {
  const server = new McpServer({ name, version });
  server.registerTool("echo", { description: "Echoes its text", inputSchema: { text: z.string() } }, async ({ text }) => ({
    content: [{ type: "text", text }],
  }));
  server.registerTool("add", { description: "Adds two numbers", inputSchema: { a: z.number(), b: z.number() } }, async ({ a, b }) => ({
    content: [{ type: "text", text: String(a + b) }],
  }));
  server.registerResource("readme", "docs://readme", { description: "About this server" }, async (uri) => ({ contents: [{ uri: uri.href, text: "hello" }] }));
  server.registerPrompt("greet", { description: "A greeting" }, () => ({ messages: [{ role: "user", content: { type: "text", text: "Hello" } }] }));
  return server;
}

async function listen(server: Server | net.Server, host = "127.0.0.1", port = 0): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

function closer(server: Server | net.Server, sockets?: Set<net.Socket>) {
  return () =>
    new Promise<void>((resolve) => {
      for (const s of sockets ?? []) s.destroy();
      (server as Server).closeAllConnections?.();
      server.close(() => resolve());
    });
}

/** Streamable HTTP (stateless: a fresh server and transport per request), with GET /health. */
export async function startStreamableServer(
  options: {
    name?: string;
    path?: string;
    port?: number;
    host?: string;
    log?: (line: string) => void;
    /** Asked on every request (the simulator's injected faults): never answer, or answer after a delay. */
    behaviour?: () => { hang?: boolean; delayMs?: number } | undefined;
  } = {},
): Promise<Running> {
  const path = options.path ?? "/mcp";
  const http = createServer(async (req, res) => {
    res.on("finish", () => options.log?.(`${req.method} ${req.url} ${res.statusCode}`));
    const behaviour = options.behaviour?.();
    if (behaviour?.hang) return; // the connection stays open and nothing is ever sent
    if (behaviour?.delayMs) await new Promise((resolve) => setTimeout(resolve, behaviour.delayMs));
    if (req.url === "/health") return void res.writeHead(200, { "content-type": "application/json" }).end('{"status":"ok"}');
    if (!req.url?.startsWith(path)) return void res.writeHead(404).end();
    if (req.method !== "POST") return void res.writeHead(405).end();
    const mcp = sampleMcpServer(options.name);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on("close", () => {
      void transport.close();
      void mcp.close();
    });
    await mcp.connect(transport);
    await transport.handleRequest(req, res);
  });
  const port = await listen(http, options.host, options.port);
  options.log?.(`MCP server "${options.name ?? "fleet-sample"}" listening on :${port}${path} (Streamable HTTP)`);
  return { url: `http://${options.host ?? "127.0.0.1"}:${port}${path}`, port, close: closer(http) };
}

/**
 * A server of the modern MCP era (revision 2026-07-28), written from the specification (the SDK
 * ships none yet): stateless Streamable HTTP; every request must carry the version in
 * `MCP-Protocol-Version` and in `_meta`, and its method in `Mcp-Method` (else 400); an unsupported
 * version gets -32022 with the supported list; `server/discover` and `tools/list` answer with
 * `resultType`, `ttlMs` and `cacheScope`; `initialize` is refused, naming the versions it speaks.
 */
export async function startModernServer(options: { name?: string; supported?: string[] } = {}): Promise<Running> {
  const supported = options.supported ?? ["2026-07-28"];
  const serverInfo = { name: options.name ?? "modern-sample", version: "2.0.0" };
  const tools = [{ name: "echo", description: "Echoes its text", inputSchema: { type: "object", properties: { text: { type: "string" } } } }];
  const http = createServer(async (req, res) => {
    const reply = (status: number, body: unknown) => void res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    if (req.url === "/health") return reply(200, { status: "ok" });
    if (req.method !== "POST") return void res.writeHead(405).end();
    let message: { id?: number | string; method?: string; params?: { _meta?: Record<string, unknown> } };
    try {
      message = JSON.parse(
        await new Promise<string>((resolve) => {
          let body = "";
          req.on("data", (c) => (body += c));
          req.on("end", () => resolve(body));
        }),
      );
    } catch {
      return reply(400, { jsonrpc: "2.0", id: null, error: { code: -32700, message: "Parse error" } });
    }
    const error = (status: number, code: number, text: string, data?: unknown) =>
      reply(status, { jsonrpc: "2.0", id: message.id ?? null, error: { code, message: text, ...(data ? { data } : {}) } });
    if (message.method === "initialize") return error(400, -32601, `This server speaks MCP ${supported.join(", ")} only: no initialize handshake`);
    const version = req.headers["mcp-protocol-version"];
    const metaVersion = message.params?._meta?.["io.modelcontextprotocol/protocolVersion"];
    if (typeof version !== "string" || req.headers["mcp-method"] !== message.method || metaVersion === undefined) {
      return error(400, -32600, "A modern request carries MCP-Protocol-Version, Mcp-Method and _meta");
    }
    if (metaVersion !== version) return error(400, -32020, "_meta protocolVersion does not match MCP-Protocol-Version");
    if (!supported.includes(version)) return error(400, -32022, "Unsupported protocol version", { supported, requested: version });
    const meta = { "io.modelcontextprotocol/serverInfo": serverInfo };
    if (message.method === "server/discover") {
      return reply(200, {
        jsonrpc: "2.0",
        id: message.id,
        result: {
          supportedVersions: supported,
          capabilities: { tools: { listChanged: false } },
          serverInfo,
          resultType: "complete",
          ttlMs: 300_000,
          cacheScope: "public",
          _meta: meta,
        },
      });
    }
    if (message.method === "tools/list") {
      return reply(200, { jsonrpc: "2.0", id: message.id, result: { tools, resultType: "complete", ttlMs: 300_000, cacheScope: "public", _meta: meta } });
    }
    return error(200, -32601, `Method not found: ${message.method}`);
  });
  const port = await listen(http);
  return { url: `http://127.0.0.1:${port}/mcp`, port, close: closer(http) };
}

/** The older HTTP+SSE transport only: GET /mcp opens the stream; a POST to /mcp is refused with 405. */
export async function startSseOnlyServer(): Promise<Running> {
  const transports = new Map<string, SSEServerTransport>();
  const http = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (req.method === "GET" && url.pathname === "/mcp") {
      const transport = new SSEServerTransport("/messages", res);
      transports.set(transport.sessionId, transport);
      res.on("close", () => transports.delete(transport.sessionId));
      await sampleMcpServer("legacy-sse", "0.9.0").connect(transport);
      return;
    }
    if (req.method === "POST" && url.pathname === "/messages") {
      const transport = transports.get(url.searchParams.get("sessionId") ?? "");
      if (!transport) return void res.writeHead(404).end();
      await transport.handlePostMessage(req, res);
      return;
    }
    res.writeHead(url.pathname === "/mcp" ? 405 : 404).end();
  });
  const port = await listen(http);
  return { url: `http://127.0.0.1:${port}/mcp`, port, close: closer(http) };
}

/** Accepts connections and never answers. */
export async function startHangingServer(): Promise<Running> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => undefined);
  });
  const port = await listen(server);
  return { url: `http://127.0.0.1:${port}/mcp`, port, close: closer(server, sockets) };
}

/** A web server that is not MCP: HTML for every request, or a fixed status. */
export async function startPlainHttpServer(status = 200): Promise<Running> {
  const http = createServer((_req, res) => res.writeHead(status, { "content-type": "text/html" }).end("<html><body>It works!</body></html>"));
  const port = await listen(http);
  return { url: `http://127.0.0.1:${port}/mcp`, port, close: closer(http) };
}

/** A port with nothing listening on `host` (a loopback address by default). */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  const server = net.createServer();
  const port = await listen(server, host);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
