// The change feed's vocabulary, as the triggers (schema/sql/004, 005) send it and Supabase Realtime
// is translated into: one channel, one small JSON notice per changed row.

/** The LISTEN/NOTIFY channel every fleet change is announced on. */
export const CHANGE_CHANNEL = "mcp_fleet_changes";

/** The tables whose changes are announced. */
export const FEED_TABLES = {
  server: "account_tool_instances",
  environment: "account_tool_environments",
  connectionTest: "mcp_connection_tests",
} as const;

export type FeedTable = (typeof FEED_TABLES)[keyof typeof FEED_TABLES];

/** One changed row: which table, which operation, its id, and its droplet (when it has one). */
export interface Notice {
  table: FeedTable;
  op: string;
  id: string;
  environment_id: string | null;
}

/** A notice from its payload; null for anything else. */
export function parseNotice(payload: string): Notice | null {
  try {
    const notice = JSON.parse(payload) as Notice;
    return typeof notice?.id === "string" && typeof notice.table === "string" ? notice : null;
  } catch {
    return null;
  }
}
