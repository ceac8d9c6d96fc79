// The fleet summary kept up to date from the live fleet's own cache: counts move as servers and
// droplets change (writes and the health clock), per owner and for the whole fleet, so a summary
// subscriber costs nothing per event beyond reading the counts.
import type { FleetSummary } from "../data/store.ts";
import { SERVER_HEALTHS, SERVER_STATES, type ServerHealth, type ServerState } from "../domain/status.ts";

export interface CountedServer {
  owner: string | null;
  environmentId: string;
  state: ServerState;
  health: ServerHealth;
}

export interface CountedEnvironment {
  owner: string | null;
  status: string;
  region: string;
}

/** Servers counted by state and health: a fleet's, an owner's or one droplet's. */
class ServerCounts {
  servers = 0;
  readonly byState = Object.fromEntries(SERVER_STATES.map((s) => [s, 0])) as Record<ServerState, number>;
  readonly byHealth = Object.fromEntries(SERVER_HEALTHS.map((h) => [h, 0])) as Record<ServerHealth, number>;

  add(s: CountedServer, delta: number) {
    this.servers += delta;
    this.byState[s.state] += delta;
    this.byHealth[s.health] += delta;
  }
}

class Counts {
  servers = 0;
  readonly byState = Object.fromEntries(SERVER_STATES.map((s) => [s, 0])) as Record<ServerState, number>;
  readonly byHealth = Object.fromEntries(SERVER_HEALTHS.map((h) => [h, 0])) as Record<ServerHealth, number>;
  readonly environments = new Map<string, CountedEnvironment>();
  readonly serversPerEnvironment = new Map<string, number>();

  server(s: CountedServer, delta: 1 | -1) {
    this.servers += delta;
    this.byState[s.state] += delta;
    this.byHealth[s.health] += delta;
    this.serversPerEnvironment.set(s.environmentId, (this.serversPerEnvironment.get(s.environmentId) ?? 0) + delta);
  }

  summary(): FleetSummary {
    const statuses = new Map<string, number>();
    const regions = new Map<string, { region: string; servers: number; environments: number }>();
    for (const [id, e] of this.environments) {
      statuses.set(e.status, (statuses.get(e.status) ?? 0) + 1);
      const r = regions.get(e.region) ?? { region: e.region, servers: 0, environments: 0 };
      r.environments++;
      r.servers += this.serversPerEnvironment.get(id) ?? 0;
      regions.set(e.region, r);
    }
    return {
      servers: this.servers,
      byState: { ...this.byState },
      byHealth: { ...this.byHealth },
      environments: this.environments.size,
      byEnvironmentStatus: [...statuses].map(([status, count]) => ({ status, count })).sort((a, b) => a.status.localeCompare(b.status)),
      byRegion: [...regions.values()].sort((a, b) => a.region.localeCompare(b.region)),
    };
  }
}

export class FleetCounts {
  private readonly all = new Counts();
  private readonly owners = new Map<string, Counts>();
  /** Each droplet's servers, and whose they are: the summary of some droplets adds these up. */
  private readonly perEnvironment = new Map<string, ServerCounts & { owner?: string | null }>();
  /** Owners and droplets whose counts moved since the last take (the empty string: a droplet with no owner). */
  private dirty = { owners: new Set<string>(), environments: new Set<string>() };

  private of(owner: string | null): Counts {
    const key = owner ?? "";
    let counts = this.owners.get(key);
    if (!counts) this.owners.set(key, (counts = new Counts()));
    return counts;
  }

  server(before: CountedServer | undefined, after: CountedServer | undefined): void {
    if (
      before &&
      after &&
      before.owner === after.owner &&
      before.environmentId === after.environmentId &&
      before.state === after.state &&
      before.health === after.health
    )
      return;
    for (const [s, delta] of [
      [before, -1],
      [after, 1],
    ] as const) {
      if (!s) continue;
      this.all.server(s, delta);
      this.of(s.owner).server(s, delta);
      let counts = this.perEnvironment.get(s.environmentId);
      if (!counts) this.perEnvironment.set(s.environmentId, (counts = new ServerCounts()));
      counts.add(s, delta);
      counts.owner = s.owner;
      if (counts.servers === 0) this.perEnvironment.delete(s.environmentId);
      this.dirty.owners.add(s.owner ?? "");
      this.dirty.environments.add(s.environmentId);
    }
  }

  environment(id: string, before: CountedEnvironment | undefined, after: CountedEnvironment | undefined): void {
    if (before && after && before.owner === after.owner && before.status === after.status && before.region === after.region) return;
    if (before) {
      this.all.environments.delete(id);
      this.of(before.owner).environments.delete(id);
      this.dirty.owners.add(before.owner ?? "");
    }
    if (after) {
      this.all.environments.set(id, after);
      this.of(after.owner).environments.set(id, after);
      this.dirty.owners.add(after.owner ?? "");
    }
    this.dirty.environments.add(id);
  }

  /**
   * The summary of one owner's fleet, or of everyone's (undefined); with `environmentIds`, of
   * those droplets only (the owner's among them), added up from each droplet's counts.
   */
  summary(owner: string | undefined, environmentIds?: readonly string[]): FleetSummary {
    if (!environmentIds) return owner === undefined ? this.all.summary() : (this.owners.get(owner)?.summary() ?? new Counts().summary());
    const some = new Counts();
    const all = this.all.environments;
    for (const id of new Set(environmentIds)) {
      const environment = all.get(id);
      const servers = this.perEnvironment.get(id);
      const whose = environment ? environment.owner : servers?.owner;
      if (owner !== undefined && (whose ?? "") !== owner) continue;
      if (environment) some.environments.set(id, environment);
      if (!servers) continue;
      some.servers += servers.servers;
      for (const state of SERVER_STATES) some.byState[state] += servers.byState[state];
      for (const health of SERVER_HEALTHS) some.byHealth[health] += servers.byHealth[health];
      some.serversPerEnvironment.set(id, servers.servers);
    }
    return some.summary();
  }

  /** The owners and droplets whose counts moved since the last call. */
  takeDirty(): { owners: Set<string>; environments: Set<string> } {
    const taken = this.dirty;
    this.dirty = { owners: new Set(), environments: new Set() };
    return taken;
  }
}
