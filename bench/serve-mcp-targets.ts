// The MCP servers bench:probes probes, in a process of their own (so the API's CPU is its own):
// TARGETS servers of each era on loopback, the SDK's (legacy) and one written to 2026-07-28.
import { startModernServer, startStreamableServer } from "../src/demo/sample-servers.ts";

const n = Number(process.env.TARGETS ?? 10);
const legacy = await Promise.all(Array.from({ length: n }, (_, i) => startStreamableServer({ name: `legacy-${i}` })));
const modern = await Promise.all(Array.from({ length: n }, (_, i) => startModernServer({ name: `modern-${i}` })));
process.send?.({ legacy: legacy.map((s) => s.port), modern: modern.map((s) => s.port) });
