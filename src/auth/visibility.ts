// Who may see which server or environment: the single rule every subscription event passes
// through (reads are scoped in their queries: data/store.ts ScopedStore).

export interface Viewer {
  userId: string | null;
  role: "service_role" | "authenticated" | "anonymous";
}

/** The viewer of an open API (AUTH_DISABLED): the service role. */
export const OPEN_VIEWER: Viewer = { userId: null, role: "service_role" };

/** Whose rows a viewer reads: undefined for the service role (everyone's); a viewer with no user id, nobody's. */
export function ownerScope(viewer: Viewer): string | undefined {
  return viewer.role === "service_role" ? undefined : (viewer.userId ?? "00000000-0000-0000-0000-000000000000");
}

export function canSeeEnvironment(viewer: Viewer, environment: { userId: string | null } | null | undefined): boolean {
  if (viewer.role === "service_role") return true;
  return !!environment && viewer.userId !== null && environment.userId === viewer.userId;
}
