// The DTMA's `system_status` (stored in dtma_health_details_json), read defensively: the column
// also holds `{error}` after a failed refresh, and older agents send partial objects.

export interface SystemMetrics {
  cpuLoadPercent: number | null;
  memory: { totalBytes: number | null; usedBytes: number | null; activeBytes: number | null; freeBytes: number | null; usedPercent: number | null } | null;
  disk: { mount: string | null; totalBytes: number | null; usedBytes: number | null; freeBytes: number | null; usedPercent: number | null } | null;
  error: string | null;
}

const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : null);
const percent = (used: number | null, total: number | null) => (used !== null && total ? Math.round((used / total) * 1000) / 10 : null);
const obj = (v: unknown) => (v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : null);

export function systemMetrics(details: unknown): SystemMetrics | null {
  const d = obj(details);
  if (!d) return null;
  const m = obj(d.memory);
  const k = obj(d.disk);
  const memory = m && {
    totalBytes: num(m.total_bytes),
    usedBytes: num(m.used_bytes),
    activeBytes: num(m.active_bytes),
    freeBytes: num(m.free_bytes),
    usedPercent: percent(num(m.used_bytes), num(m.total_bytes)),
  };
  const disk = k && {
    mount: typeof k.mount === "string" ? k.mount : null,
    totalBytes: num(k.total_bytes),
    usedBytes: num(k.used_bytes),
    freeBytes: num(k.free_bytes),
    usedPercent: percent(num(k.used_bytes), num(k.total_bytes)),
  };
  return { cpuLoadPercent: num(d.cpu_load_percent), memory, disk, error: typeof d.error === "string" ? d.error : null };
}
