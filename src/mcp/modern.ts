// The modern MCP era (revision 2026-07-28): stateless requests, no `initialize`, no `ping`; every
// request carries its protocol version and the client's identity in `_meta`, and on HTTP the
// `MCP-Protocol-Version` and `Mcp-Method` headers. `server/discover` says what a server is. The
// SDK speaks only the legacy era (2025-11-25 and earlier), so this is written from the
// specification; see ../shared/reference/mcp-protocol-eras.md.

export const MODERN_VERSION = "2026-07-28";

/** JSON-RPC codes of the modern revision: a server that answers with one of them is modern. */
export const UNSUPPORTED_PROTOCOL_VERSION = -32022;
const MODERN_ERROR_CODES = new Set([-32020, -32021, UNSUPPORTED_PROTOCOL_VERSION]);

export interface ModernError {
  code: number;
  message: string;
  data?: { supported?: unknown; requested?: unknown };
}

/** What a modern request came back with: a result, a JSON-RPC error, or an HTTP answer that is neither. */
export type ModernAnswer =
  | { kind: "result"; result: Record<string, unknown> }
  | { kind: "error"; status: number; error: ModernError; authenticate: string | null }
  | { kind: "http"; status: number; authenticate: string | null };

/** Whether an answer says the server is modern (a result, or a modern error), as the revision's backward-compatibility rules read it. */
export function answeredModern(answer: ModernAnswer): boolean {
  return answer.kind === "result" || (answer.kind === "error" && MODERN_ERROR_CODES.has(answer.error.code));
}

let nextId = 1;

/** One modern request over Streamable HTTP; the answer may be JSON or an SSE stream carrying it. */
export async function modernRequest(
  url: URL,
  method: string,
  params: Record<string, unknown>,
  options: { fetch: typeof fetch; signal: AbortSignal; clientInfo: { name: string; version: string } },
): Promise<ModernAnswer> {
  const id = nextId++;
  const res = await options.fetch(url, {
    method: "POST",
    redirect: "error",
    signal: options.signal,
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": MODERN_VERSION,
      "mcp-method": method,
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id,
      method,
      params: {
        ...params,
        _meta: {
          "io.modelcontextprotocol/protocolVersion": MODERN_VERSION,
          "io.modelcontextprotocol/clientCapabilities": {},
          "io.modelcontextprotocol/clientInfo": options.clientInfo,
        },
      },
    }),
  });
  const text = await res.text();
  const type = res.headers.get("content-type") ?? "";
  const authenticate = res.headers.get("www-authenticate");
  const messages = type.includes("text/event-stream")
    ? text
        .split(/\r?\n/)
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).trim())
    : [text];
  for (const raw of messages) {
    let message: { id?: unknown; result?: unknown; error?: ModernError } | undefined;
    try {
      message = JSON.parse(raw);
    } catch {
      continue;
    }
    if (message?.id !== id) continue;
    if (message.error && typeof message.error.code === "number") return { kind: "error", status: res.status, error: message.error, authenticate };
    if (res.ok && message.result && typeof message.result === "object") return { kind: "result", result: message.result as Record<string, unknown> };
  }
  return { kind: "http", status: res.status, authenticate };
}

/** The server's identity, from a result or its `_meta`. */
export function serverInfoOf(result: Record<string, unknown>): { name: string; version: string } | null {
  const meta = (result._meta ?? {}) as Record<string, unknown>;
  const info = (result.serverInfo ?? meta["io.modelcontextprotocol/serverInfo"]) as { name?: unknown; version?: unknown } | undefined;
  return info && typeof info.name === "string" ? { name: info.name, version: typeof info.version === "string" ? info.version : "" } : null;
}
