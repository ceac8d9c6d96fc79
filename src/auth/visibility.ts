// Who may see which server or environment. The single filter point every read and every
// subscription event passes through; the auth issue (#5) fills in the rules.
import type { EnvironmentRow } from "../data/rows.ts";

export interface Viewer {
  userId: string | null;
  role: "service_role" | "authenticated" | "anonymous";
}

/** Until authentication lands, the API is open and everyone is the service role. */
export const OPEN_VIEWER: Viewer = { userId: null, role: "service_role" };

export function canSeeEnvironment(viewer: Viewer, environment: { userId: string | null } | null | undefined): boolean {
  if (viewer.role === "service_role") return true;
  return !!environment && viewer.userId !== null && environment.userId === viewer.userId;
}
