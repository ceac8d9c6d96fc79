// A server's logs through its droplet's agent: read once (MCPServer.logs), or watched (the
// serverLogs subscription), with one poll of the agent per watched server however many watch it,
// stopped when the last watcher leaves.
import { Hub } from "../live/hub.ts";
import type { Logger } from "../log.ts";
import { OperationError } from "./errors.ts";
import { fail, load, type OperationDeps, target } from "./operations.ts";

export interface LogRead {
  lines: string[];
  fetchedAt: Date;
}

export const MAX_LOG_TAIL = 1000;

export async function readLogs(deps: OperationDeps, serverId: string, options: { tail: number; since?: Date }): Promise<LogRead> {
  if (!Number.isInteger(options.tail) || options.tail < 1 || options.tail > MAX_LOG_TAIL) {
    throw new OperationError("BAD_USER_INPUT", `\`tail\` must be between 1 and ${MAX_LOG_TAIL}`);
  }
  const { server, env } = await load(deps, serverId);
  const t = await target(env, deps);
  try {
    return { lines: await deps.dtma.logs(t, server.name as string, options), fetchedAt: new Date() };
  } catch (error) {
    return fail(deps, env, error);
  }
}

/** A batch of new lines for the watchers of one server, or the error that ended the watch. */
export type LogBatch = { lines: string[]; at: Date } | { error: OperationError };

/** The timestamp `docker logs --timestamps` puts first on a line, if it has one. */
function stampOf(line: string): number | null {
  const at = Date.parse(line.slice(0, line.indexOf(" ")));
  return Number.isNaN(at) ? null : at;
}

interface Watch {
  hub: Hub<LogBatch>;
  timer: NodeJS.Timeout | undefined;
  /** The newest line already sent, by its timestamp and text (lines of the same millisecond). */
  last: { at: number; lines: Set<string> } | null;
}

/** One poller per watched server, shared by its watchers. */
export class LogWatches {
  private readonly watches = new Map<string, Watch>();

  constructor(
    private readonly pollMs: number,
    private readonly logger: Logger,
  ) {}

  get size(): number {
    return this.watches.size;
  }

  /**
   * New lines of `serverId` as they appear, starting with the last `tail`. The caller has checked
   * that the viewer may see the server; `deps` is used for the polls (the first watcher's).
   */
  watch(deps: OperationDeps, serverId: string, tail: number): AsyncIterableIterator<LogBatch> {
    let w = this.watches.get(serverId);
    if (!w) {
      w = { hub: new Hub<LogBatch>(1000), timer: undefined, last: null };
      this.watches.set(serverId, w);
      this.schedule(deps, serverId, w, tail, 0);
    }
    const watch = w;
    const events = watch.hub.subscribe(() => true);
    const hubs = this.watches;
    return {
      next: () => events.next(),
      return: async () => {
        const done = await events.return?.();
        // The last watcher gone: stop polling.
        if (watch.hub.size === 0 && hubs.get(serverId) === watch) {
          clearTimeout(watch.timer);
          hubs.delete(serverId);
        }
        return done ?? { done: true, value: undefined };
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }

  private schedule(deps: OperationDeps, serverId: string, w: Watch, tail: number, delay: number) {
    w.timer = setTimeout(() => void this.poll(deps, serverId, w, tail), delay);
    w.timer.unref();
  }

  private async poll(deps: OperationDeps, serverId: string, w: Watch, tail: number) {
    if (this.watches.get(serverId) !== w) return;
    try {
      const since = w.last ? new Date(w.last.at - 1) : undefined;
      const { lines, fetchedAt } = await readLogs(deps, serverId, { tail: w.last ? MAX_LOG_TAIL : tail, since });
      const fresh = lines.filter((line) => {
        const at = stampOf(line);
        if (!w.last || at === null) return !w.last;
        return at > w.last.at || (at === w.last.at && !w.last.lines.has(line));
      });
      for (const line of fresh) {
        const at = stampOf(line);
        if (at === null) continue;
        if (!w.last || at > w.last.at) w.last = { at, lines: new Set([line]) };
        else w.last.lines.add(line);
      }
      if (!w.last) w.last = { at: fetchedAt.getTime(), lines: new Set() };
      if (fresh.length) w.hub.publish({ lines: fresh, at: fetchedAt });
      this.schedule(deps, serverId, w, tail, this.pollMs);
    } catch (error) {
      // Said to every watcher, and the watch ends: nothing stops silently.
      this.logger.warn({ server: serverId, err: String(error) }, "log watch ended");
      const coded = error instanceof OperationError ? error : new OperationError("UPSTREAM_UNAVAILABLE", "The droplet agent's logs could not be read");
      w.hub.publish({ error: coded });
      this.watches.delete(serverId);
    }
  }
}
