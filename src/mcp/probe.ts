// The MCP connection probe. The modern era first (2026-07-28, modern.ts): `server/discover`, then
// `tools/list`. A legacy server then gets a real handshake with the official SDK client:
// Streamable HTTP first, then the older HTTP+SSE transport; initialize, list what it declares, ping.
// Every phase is timed; the whole probe has one deadline; failures are classified.
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { jsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/types.js";
import { answeredModern, MODERN_VERSION, type ModernAnswer, modernRequest, serverInfoOf, UNSUPPORTED_PROTOCOL_VERSION } from "./modern.ts";

/**
 * The MCP SDK's client, loaded on the first probe: about 13 MB of a server's idle memory (its
 * schemas) that a server running no connection test never needs.
 */
let sdk:
  | {
      Client: typeof import("@modelcontextprotocol/sdk/client/index.js").Client;
      SSEClientTransport: typeof import("@modelcontextprotocol/sdk/client/sse.js").SSEClientTransport;
      StreamableHTTPClientTransport: typeof import("@modelcontextprotocol/sdk/client/streamableHttp.js").StreamableHTTPClientTransport;
      StreamableHTTPError: typeof import("@modelcontextprotocol/sdk/client/streamableHttp.js").StreamableHTTPError;
    }
  | undefined;

async function loadSdk(): Promise<NonNullable<typeof sdk>> {
  if (sdk) return sdk;
  const [client, sse, streamable] = await Promise.all([
    import("@modelcontextprotocol/sdk/client/index.js"),
    import("@modelcontextprotocol/sdk/client/sse.js"),
    import("@modelcontextprotocol/sdk/client/streamableHttp.js"),
  ]);
  sdk = {
    Client: client.Client,
    SSEClientTransport: sse.SSEClientTransport,
    StreamableHTTPClientTransport: streamable.StreamableHTTPClientTransport,
    StreamableHTTPError: streamable.StreamableHTTPError,
  };
  return sdk;
}

/**
 * The probe lists tools and never calls one, so no tool's output is ever checked against its
 * schema: the SDK's default validator would build an Ajv instance per client and compile every
 * listed tool's output schema on every probe (about 3% of the API's CPU while probing).
 */
const NO_OUTPUT_CHECKS: jsonSchemaValidator = { getValidator: () => (input) => ({ valid: true, data: input as never, errorMessage: undefined }) };

/** Failure classes a user can act on; stable (stored with each test). README, Testing a server's connection, says what to do about each. */
export const PROBE_ERROR_KINDS = [
  "REFUSED",
  "DNS",
  "TIMEOUT",
  "TLS",
  "AUTH_REQUIRED",
  "SERVER_ERROR",
  "HTTP_STATUS",
  "WRONG_TRANSPORT",
  "PROTOCOL",
  "UNSUPPORTED_VERSION",
  "PLACEHOLDER",
  "NO_ENDPOINT",
  "NOT_RUNNING",
] as const;
export type ProbeErrorKind = (typeof PROBE_ERROR_KINDS)[number];
export type ProbeTransport = "STREAMABLE_HTTP" | "SSE";

export interface ProbePhase {
  name: "health" | "discover" | "initialize" | "tools/list" | "resources/list" | "prompts/list" | "ping";
  ms: number;
  ok: boolean;
  detail?: string;
}

export interface ProbeResult {
  success: boolean;
  errorKind: ProbeErrorKind | null;
  error: string | null;
  httpStatus: number | null;
  latencyMs: number;
  phases: ProbePhase[];
  transport: ProbeTransport | null;
  protocolVersion: string | null;
  serverInfo: { name: string; version: string } | null;
  capabilities: string[];
  tools: string[];
  /** The tools as the server describes them (what a client would call), for the server's discovery record. */
  toolDetails: Array<{ name: string; description: string | null; inputSchema: unknown }>;
  /** The capabilities object the server declared in initialize. */
  declaredCapabilities: Record<string, unknown> | null;
  resourceCount: number | null;
  promptCount: number | null;
  timestamp: Date;
}

export interface ProbeOptions {
  timeoutMs: number;
  /**
   * `light`: what the background prober needs, at a third of the requests: no GET /health, no
   * resources/list, prompts/list or ping (the handshake and tools/list prove the server works).
   */
  light?: boolean;
  /** The era the server spoke last time: LEGACY goes straight to the handshake, and detects afresh if that fails. */
  eraHint?: "MODERN" | "LEGACY" | null;
  /** Largest answer accepted from the server, per HTTP response. */
  maxResponseBytes?: number;
  /** How long the optional GET /health first step may take. */
  healthTimeoutMs?: number;
  clientName?: string;
  clientVersion?: string;
}

export class ProbeFailure extends Error {
  constructor(
    readonly kind: ProbeErrorKind,
    message: string,
    readonly httpStatus: number | null = null,
  ) {
    super(message);
  }
}

const TLS_CODES = /^(ERR_TLS|CERT_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|ERR_SSL)/;

/** Sorts an error from fetch, the SDK or a timer into what a user can act on. */
export function classify(error: unknown, deadline: AbortSignal): ProbeFailure {
  // Errors from fetch, undici, the SDK and timers: shapes we read defensively, field by field.
  // biome-ignore lint/suspicious/noExplicitAny: each link is read with optional chaining only
  const chain: any[] = [];
  for (let e = error as { cause?: unknown } | undefined; e && chain.length < 6; e = e.cause as typeof e) chain.push(e);
  const own = chain.find((e) => e instanceof ProbeFailure);
  if (own) return own;
  const message =
    chain
      .map((e) => e?.message)
      .filter(Boolean)
      .join(": ") || String(error);
  if (deadline.aborted || chain.some((e) => e?.name === "TimeoutError" || e?.code === -32001 || /timed out|timeout/i.test(e?.message ?? ""))) {
    return new ProbeFailure("TIMEOUT", "The server did not answer in time");
  }
  if (chain.some((e) => e?.code === "ECONNREFUSED")) return new ProbeFailure("REFUSED", "Connection refused: nothing is listening at the endpoint");
  if (chain.some((e) => TLS_CODES.test(String(e?.code ?? "")))) return new ProbeFailure("TLS", `TLS handshake failed: ${message}`);
  const http = chain.find((e) => (sdk && e instanceof sdk.StreamableHTTPError) || (typeof e?.code === "number" && e.code >= 400 && e.code < 600));
  if (http) return httpFailure(http.code, null);
  if (chain.some((e) => ["ENOTFOUND", "EAI_AGAIN", "EAI_NONAME"].includes(e?.code))) {
    return new ProbeFailure("DNS", `The endpoint's host name does not resolve: ${message}`);
  }
  if (chain.some((e) => ["ECONNRESET", "EHOSTUNREACH", "ENETUNREACH"].includes(e?.code))) {
    return new ProbeFailure("REFUSED", `Could not reach the server: ${message}`);
  }
  return new ProbeFailure("PROTOCOL", `Not a working MCP server: ${message}`);
}

/**
 * An HTTP error status as a failure class: 401 (or 403 with a WWW-Authenticate challenge) asks for
 * credentials; 5xx is the server's own error; 404 and 405, after both transports were tried, say no
 * MCP transport is served at that path; anything else is its status.
 */
function httpFailure(status: number, authenticate: string | null): ProbeFailure {
  if (status === 401 || (status === 403 && authenticate)) {
    const scheme = authenticate ? ` (${authenticate.split(/[\s,]/)[0]})` : "";
    return new ProbeFailure("AUTH_REQUIRED", `The server requires authorization${scheme}: HTTP ${status}`, status);
  }
  if (status >= 500) return new ProbeFailure("SERVER_ERROR", `The server failed: HTTP ${status}`, status);
  if (status === 404 || status === 405) {
    return new ProbeFailure(
      "WRONG_TRANSPORT",
      `Neither Streamable HTTP nor SSE is served at this path (HTTP ${status}): check the endpoint path and transport`,
      status,
    );
  }
  return new ProbeFailure("HTTP_STATUS", `The server answered HTTP ${status}`, status);
}

/** fetch whose response bodies fail once they pass `max` bytes: a hostile server cannot flood us. */
function cappedFetch(max: number): typeof fetch {
  const tooLarge = () => new ProbeFailure("PROTOCOL", `The server's answer is larger than ${max} bytes`);
  return async (input, init) => {
    const res = await fetch(input, init);
    if (!res.body) return res;
    // A declared length is the body's length (HTTP/1.1 framing): check it and read it as it is.
    const length = Number(res.headers.get("content-length") ?? Number.NaN);
    if (length <= max) return res;
    if (length > max) {
      await res.body.cancel();
      throw tooLarge();
    }
    // Chunked (an SSE stream, or JSON of unknown length): counted as it is read.
    const reader = res.body.getReader();
    let seen = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { done, value } = await reader.read();
        if (done) return controller.close();
        seen += value.byteLength;
        if (seen <= max) return controller.enqueue(value);
        controller.error(tooLarge());
        await reader.cancel();
      },
      cancel: (reason) => reader.cancel(reason),
    });
    return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
}

async function timed<T>(phases: ProbePhase[], name: ProbePhase["name"], fn: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    const value = await fn();
    phases.push({ name, ms: Math.round(performance.now() - started), ok: true });
    return value;
  } catch (error) {
    phases.push({ name, ms: Math.round(performance.now() - started), ok: false, detail: (error as Error)?.message });
    throw error;
  }
}

/** GET /health on the endpoint's origin, as the seed's check did; informative, never fatal. */
async function healthCheck(url: URL, phases: ProbePhase[], ms: number, deadline: AbortSignal) {
  const started = performance.now();
  try {
    const res = await fetch(new URL("/health", url), { signal: AbortSignal.any([deadline, AbortSignal.timeout(ms)]), redirect: "manual" });
    await res.body?.cancel();
    phases.push({ name: "health", ms: Math.round(performance.now() - started), ok: res.ok, detail: `HTTP ${res.status}` });
  } catch (error) {
    const failure = classify(error, deadline);
    phases.push({ name: "health", ms: Math.round(performance.now() - started), ok: false, detail: failure.message });
    // A refused connection will refuse MCP too: fail fast and say so.
    if (failure.kind === "REFUSED") throw failure;
  }
}

/**
 * The modern-era probe: the result when the server is modern (a success, or a failure a modern
 * server caused), or null when it is a legacy server, for the SDK's handshake to take over.
 */
async function modernProbe(
  url: URL,
  phases: ProbePhase[],
  options: { fetch: typeof fetch; signal: AbortSignal; clientInfo: { name: string; version: string } },
): Promise<Partial<ProbeResult> | null> {
  const started = performance.now();
  let answer: ModernAnswer;
  try {
    answer = await modernRequest(url, "server/discover", {}, options);
  } catch (error) {
    phases.push({ name: "discover", ms: Math.round(performance.now() - started), ok: false, detail: (error as Error)?.message });
    throw error;
  }
  const ms = Math.round(performance.now() - started);
  if (!answeredModern(answer)) {
    const status = answer.kind === "http" || answer.kind === "error" ? answer.status : 0;
    // Authentication and server errors are the server's answer whatever its era.
    const authenticate = answer.kind === "http" || answer.kind === "error" ? answer.authenticate : null;
    if (status === 401 || status === 403 || status >= 500) {
      phases.push({ name: "discover", ms, ok: false, detail: `HTTP ${status}` });
      throw httpFailure(status, authenticate);
    }
    phases.push({ name: "discover", ms, ok: false, detail: "not a modern server: trying the legacy handshake" });
    return null;
  }
  if (answer.kind === "error") {
    phases.push({ name: "discover", ms, ok: false, detail: answer.error.message });
    if (answer.error.code === UNSUPPORTED_PROTOCOL_VERSION) {
      const supported = Array.isArray(answer.error.data?.supported) ? answer.error.data.supported.map(String).slice(0, 10).join(", ") : "none listed";
      return { errorKind: "UNSUPPORTED_VERSION", error: `The server does not speak MCP ${MODERN_VERSION} (it supports: ${supported})`, protocolVersion: null };
    }
    return { errorKind: "PROTOCOL", error: `The server refused server/discover: ${answer.error.message}` };
  }
  if (answer.kind !== "result") return null; // (answeredModern: a result or a modern error)
  phases.push({ name: "discover", ms, ok: true });
  const discovered = answer.result;
  const capabilities = (discovered.capabilities ?? {}) as Record<string, unknown>;
  const declared = Object.keys(capabilities).filter((k) => k !== "experimental" && k !== "extensions");
  let listed: Array<{ name: string; description?: string; inputSchema?: unknown }> = [];
  if (capabilities.tools) {
    const toolsStarted = performance.now();
    const tools = await modernRequest(url, "tools/list", {}, options);
    const toolsMs = Math.round(performance.now() - toolsStarted);
    if (tools.kind !== "result") {
      const detail = tools.kind === "error" ? tools.error.message : `HTTP ${tools.status}`;
      phases.push({ name: "tools/list", ms: toolsMs, ok: false, detail });
      return { errorKind: "PROTOCOL", error: `tools/list failed: ${detail}`, protocolVersion: MODERN_VERSION, serverInfo: serverInfoOf(discovered) };
    }
    phases.push({ name: "tools/list", ms: toolsMs, ok: true });
    const toolList = (tools as { result: Record<string, unknown> }).result.tools;
    listed = Array.isArray(toolList) ? (toolList as typeof listed).filter((t) => typeof t?.name === "string") : [];
  }
  return {
    success: true,
    transport: "STREAMABLE_HTTP",
    protocolVersion: MODERN_VERSION,
    serverInfo: serverInfoOf(discovered),
    capabilities: declared.sort(),
    tools: listed.map((t) => t.name),
    toolDetails: listed.map((t) => ({ name: t.name, description: t.description ?? null, inputSchema: t.inputSchema ?? null })),
    declaredCapabilities: capabilities,
    resourceCount: null,
    promptCount: null,
  };
}

/** A result that learned nothing: the base of every result. */
function nothingLearned(timestamp: Date): ProbeResult {
  return {
    success: false,
    errorKind: null,
    error: null,
    httpStatus: null,
    latencyMs: 0,
    phases: [],
    transport: null,
    protocolVersion: null,
    serverInfo: null,
    capabilities: [],
    tools: [],
    toolDetails: [],
    declaredCapabilities: null,
    resourceCount: null,
    promptCount: null,
    timestamp,
  };
}

/** A result for a probe that could not even start (no endpoint to try). */
export function failedProbe(kind: ProbeErrorKind, error: string): ProbeResult {
  return { ...nothingLearned(new Date()), errorKind: kind, error };
}

export async function probeMcpServer(endpoint: string, options: ProbeOptions): Promise<ProbeResult> {
  const result = await probeOnce(endpoint, options);
  // A legacy server may have become a modern one (which refuses the handshake): detect afresh.
  const moved = options.eraHint === "LEGACY" && !result.success && !["REFUSED", "DNS", "TIMEOUT", "TLS"].includes(result.errorKind ?? "");
  const left = options.timeoutMs - result.latencyMs;
  return moved && left >= 100 ? probeOnce(endpoint, { ...options, eraHint: null, timeoutMs: left }) : result;
}

async function probeOnce(endpoint: string, options: ProbeOptions): Promise<ProbeResult> {
  const timestamp = new Date();
  const started = performance.now();
  const phases: ProbePhase[] = [];
  const deadline = AbortSignal.timeout(options.timeoutMs);
  const result = (partial: Partial<ProbeResult>): ProbeResult => ({
    ...nothingLearned(timestamp),
    phases,
    ...partial,
    latencyMs: Math.round(performance.now() - started),
  });
  let client: Client | undefined;
  let transport: Transport | undefined;
  try {
    const url = new URL(endpoint);
    const { Client, SSEClientTransport, StreamableHTTPClientTransport } = await loadSdk();
    if (!options.light) await healthCheck(url, phases, options.healthTimeoutMs ?? Math.min(2000, options.timeoutMs), deadline);
    // Redirects are not followed: a probe talks to the address stored for the server, nowhere else.
    const requestInit: RequestInit = { redirect: "error", signal: deadline };
    const limitedFetch = cappedFetch(options.maxResponseBytes ?? 4 * 1024 * 1024);
    const request = { timeout: options.timeoutMs, signal: deadline };
    // The modern era first (2026-07-28): `server/discover`. A server that answers it, or with a
    // modern error, is modern; a 4xx without one (or "method not found") is a legacy server.
    const clientInfo = { name: options.clientName ?? "mcp-fleet", version: options.clientVersion ?? "0.1.0" };
    const modern = options.eraHint === "LEGACY" ? null : await modernProbe(url, phases, { fetch: limitedFetch, signal: deadline, clientInfo });
    if (modern) return result(modern);
    const connect = async (kind: ProbeTransport) => {
      client = new Client({ name: options.clientName ?? "mcp-fleet", version: options.clientVersion ?? "0.1.0" }, { jsonSchemaValidator: NO_OUTPUT_CHECKS });
      transport =
        kind === "STREAMABLE_HTTP"
          ? new StreamableHTTPClientTransport(url, { requestInit, fetch: limitedFetch })
          : new SSEClientTransport(url, { requestInit, fetch: limitedFetch });
      await client.connect(transport, request);
      return kind;
    };
    let kind: ProbeTransport;
    try {
      kind = await timed(phases, "initialize", () => connect("STREAMABLE_HTTP"));
    } catch (error) {
      const failure = classify(error, deadline);
      // Older servers answer the Streamable HTTP POST with 4xx: try HTTP+SSE.
      if (!failure.httpStatus || failure.httpStatus >= 500) throw failure;
      await client?.close().catch(() => undefined);
      kind = await timed(phases, "initialize", () => connect("SSE"));
    }
    const c = client as unknown as Client;
    const capabilities = c.getServerCapabilities() ?? {};
    const declared = Object.keys(capabilities)
      .filter((k) => k !== "experimental")
      .concat(Object.keys(capabilities.experimental ?? {}).map((k) => `experimental.${k}`));
    const listed = capabilities.tools ? (await timed(phases, "tools/list", () => c.listTools(undefined, request))).tools : [];
    const tools = listed.map((t) => t.name);
    const inventory = !options.light;
    const resourceCount =
      inventory && capabilities.resources ? (await timed(phases, "resources/list", () => c.listResources(undefined, request))).resources.length : null;
    const promptCount =
      inventory && capabilities.prompts ? (await timed(phases, "prompts/list", () => c.listPrompts(undefined, request))).prompts.length : null;
    if (inventory) await timed(phases, "ping", () => c.ping(request));
    const version = c.getServerVersion();
    return result({
      success: true,
      transport: kind,
      protocolVersion: (transport as { protocolVersion?: string }).protocolVersion ?? null,
      serverInfo: version ? { name: version.name, version: version.version } : null,
      capabilities: declared.sort(),
      tools,
      toolDetails: listed.map((t) => ({ name: t.name, description: t.description ?? null, inputSchema: t.inputSchema ?? null })),
      declaredCapabilities: capabilities as Record<string, unknown>,
      resourceCount,
      promptCount,
    });
  } catch (error) {
    const failure =
      error instanceof TypeError && /Invalid URL/.test(error.message) ? new ProbeFailure("NO_ENDPOINT", `Not a URL: ${endpoint}`) : classify(error, deadline);
    return result({ errorKind: failure.kind, error: failure.message, httpStatus: failure.httpStatus });
  } finally {
    await (client as Client | undefined)?.close().catch(() => undefined);
  }
}
