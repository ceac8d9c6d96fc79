// What the live fleet publishes: server and environment events, built in one place.
import type { ConnectionTestRow, EnvironmentRow, ServerRow } from "../data/rows.ts";
import { type ReplayFrom, WRITE_SOURCES, type WriteSource } from "../data/store.ts";
import type { ServerStatus } from "../domain/status.ts";

export type EventSource = "DATABASE" | WriteSource | "HEALTH_CLOCK" | "RESYNC" | "REPLAY";

const WRITERS: ReadonlySet<string> = new Set<string>(WRITE_SOURCES);

/** A change the feed brought: attributed to the writer the row names. */
export function writtenBy(row: { writeSource: string | null }): EventSource {
  return row.writeSource && WRITERS.has(row.writeSource) ? (row.writeSource as WriteSource) : "DATABASE";
}
export type ChangeKind = "ADDED" | "UPDATED" | "REMOVED";

export interface ServerEvent {
  kind: ChangeKind;
  serverId: string;
  server: ServerRow | null;
  environment: EnvironmentRow | null;
  /** Where the server is (or was) and whose it is: known even when server and droplet are gone. */
  scope: { environmentId: string; userId: string | null };
  previous: ServerStatus | null;
  current: ServerStatus | null;
  /** True when an axis changed: state, health, desired state, reachability or recovery (serverStatusChanged delivers only these). */
  statusChanged: boolean;
  source: EventSource;
  at: Date;
  /** Where a subscription resumed from this event starts: every change visible there was delivered by now. */
  resumeFrom: ReplayFrom;
}

export interface EnvironmentEvent {
  kind: ChangeKind;
  environmentId: string;
  environment: EnvironmentRow | null;
  /** The droplet's owner: known even when it is gone, so its owner sees the removal. */
  userId: string | null;
  source: EventSource;
  at: Date;
  resumeFrom: ReplayFrom;
}

export interface ConnectionTestEvent {
  test: ConnectionTestRow;
  environment: EnvironmentRow | null;
}

/** A change of state or health: what status history records. */
export function stateOrHealthChanged(previous: ServerStatus | null, current: ServerStatus | null): boolean {
  return !previous || !current || previous.state !== current.state || previous.health !== current.health;
}

/** A server event; `statusChanged` follows from the two statuses (a new or removed server's always did). */
export function serverEvent(
  kind: ChangeKind,
  source: EventSource,
  at: Date,
  position: string | null,
  change: {
    serverId: string;
    server: ServerRow | null;
    environment: EnvironmentRow | null;
    scope: ServerEvent["scope"];
    previous: ServerStatus | null;
    current: ServerStatus | null;
  },
): ServerEvent {
  const { previous, current } = change;
  const statusChanged =
    !previous ||
    !current ||
    stateOrHealthChanged(previous, current) ||
    previous.desired !== current.desired ||
    previous.reachability !== current.reachability ||
    previous.recovery !== current.recovery ||
    previous.risk !== current.risk;
  return { kind, ...change, statusChanged, source, at, resumeFrom: { position, at } };
}
