// Fleet lifecycle operations: each action as the upstream state transitions (enum values only),
// the DTMA call, and the outcome written back. Resolvers call these; they build no SQL or URLs.
import type { EnvironmentRow, ServerRow } from "../data/rows.ts";
import type { Store } from "../data/store.ts";
import { outboundRefusal } from "../domain/endpoint.ts";
import { agentExpected, storedStatusFor, type InstallationStatus } from "../domain/status.ts";
import type { Logger } from "../log.ts";
import { DtmaError, type DtmaClient, type DtmaStatus, type DtmaTarget } from "../dtma/client.ts";
import { OperationError } from "./errors.ts";

export { OperationError } from "./errors.ts";

export interface OperationDeps {
  store: Store;
  dtma: DtmaClient;
  dtmaPort: number;
  /** Allow loopback, private and link-local droplet addresses (demo, tests). */
  allowPrivateTargets: boolean;
  logger: Logger;
  now?: () => Date;
  /** What droplet agents are sent: the fleet-wide key, or each droplet's own token (DTMA_CREDENTIAL). */
  credential?: DtmaCredential;
}

export type DtmaCredential = "shared-key" | "droplet-token";

/** The operation dependencies of a process, from its configuration. */
export function operationDeps(
  config: { dtmaPort: number; allowPrivateTargets: boolean; dtma: { credential: DtmaCredential } },
  parts: { store: Store; dtma: DtmaClient; logger: Logger },
): OperationDeps {
  return { ...parts, dtmaPort: config.dtmaPort, allowPrivateTargets: config.allowPrivateTargets, credential: config.dtma.credential };
}

/**
 * Refuses a droplet in a state where no agent should answer: it may have no agent yet, or its
 * released address may belong to someone else now. Every outbound call to a droplet checks this.
 */
export function refuseUnlessContactable(env: EnvironmentRow): void {
  if (!agentExpected(env.status)) {
    throw new OperationError("FORBIDDEN", `The droplet "${env.name ?? env.id}" is ${env.status}: no agent is expected to answer there, so it is not contacted`);
  }
}

async function target(env: EnvironmentRow, deps: OperationDeps): Promise<DtmaTarget> {
  refuseUnlessContactable(env);
  if (!env.publicIp) throw new OperationError("UPSTREAM_UNAVAILABLE", `The droplet "${env.name ?? env.id}" has no public address yet`);
  const refusal = outboundRefusal(env.publicIp, deps.allowPrivateTargets);
  if (refusal) throw new OperationError("FORBIDDEN", refusal);
  if (deps.credential !== "droplet-token") return { host: env.publicIp, port: deps.dtmaPort };
  // A token that opens this droplet's agent only: sent to a recycled address, it opens nothing else.
  const token = await deps.store.dtmaTokenFor(env.id);
  if (!token)
    throw new OperationError(
      "FORBIDDEN",
      `The droplet "${env.name ?? env.id}" has no agent token (dtma_bearer_token), and DTMA_CREDENTIAL=droplet-token sends no shared key`,
    );
  return { host: env.publicIp, port: deps.dtmaPort, token };
}

/**
 * Whether a failed call says the droplet's agent itself is not working: it cannot be reached or
 * does not answer in time, on any call; and, on its own status read, a 5xx or an answer that is not
 * the agent's (upstream's refresh rule). A 5xx from a lifecycle call is about the container, and
 * 401/403/404/409 come from an agent that works.
 */
function agentIsDown(error: DtmaError, statusRead: boolean): boolean {
  if (error.kind === "UNREACHABLE" || error.kind === "TIMEOUT") return true;
  return statusRead && (error.kind === "PROTOCOL" || (error.kind === "HTTP" && (error.status ?? 0) >= 500));
}

/** A DTMA failure as the error a client sees; an agent that is down marks its droplet unresponsive. */
async function fail(deps: OperationDeps, env: EnvironmentRow, error: unknown, statusRead = false): Promise<never> {
  if (!(error instanceof DtmaError)) throw error;
  if (agentIsDown(error, statusRead)) await deps.store.markEnvironmentUnresponsive(env.id, error.message);
  if (error.kind === "TIMEOUT") throw new OperationError("TIMEOUT", error.message);
  if (error.kind === "HTTP" && error.status === 409) throw new OperationError("CONFLICT", error.message);
  if (error.kind === "HTTP" && error.status === 404) throw new OperationError("NOT_FOUND", error.message);
  throw new OperationError("UPSTREAM_UNAVAILABLE", error.message);
}

async function load(deps: OperationDeps, serverId: string): Promise<{ server: ServerRow; env: EnvironmentRow }> {
  const [server] = await deps.store.serversByIds([serverId]);
  if (!server) throw new OperationError("NOT_FOUND", `No MCP server with id ${serverId}`);
  const [env] = await deps.store.environmentsByIds([server.environmentId]);
  if (!env) throw new OperationError("NOT_FOUND", `The environment of server ${serverId} no longer exists`);
  if (!server.name)
    throw new OperationError("BAD_USER_INPUT", "The server has no container name (instance_name_on_toolbox), so the droplet agent cannot address it");
  return { server, env };
}

/** One GET /status; every instance of the droplet updated in one statement. */
export async function refreshEnvironment(deps: OperationDeps, environmentId: string): Promise<EnvironmentRow> {
  const [env] = await deps.store.environmentsByIds([environmentId]);
  if (!env) throw new OperationError("NOT_FOUND", `No environment with id ${environmentId}`);
  let status: DtmaStatus;
  try {
    status = await deps.dtma.status(await target(env, deps));
  } catch (error) {
    return fail(deps, env, error, true);
  }
  const instances = status.instances.flatMap((i) => {
    const stored = storedStatusFor(i.state);
    return stored && (i.accountToolInstanceId || i.name) ? [{ id: i.accountToolInstanceId, name: i.name, status: stored }] : [];
  });
  await deps.store.applyDtmaReport(env.id, {
    at: (deps.now ?? (() => new Date()))(),
    version: status.version,
    systemMetrics: status.systemMetrics,
    instances,
    missingMessage: "The droplet agent no longer reports this container",
  });
  const [updated] = await deps.store.environmentsByIds([env.id]);
  return updated as EnvironmentRow;
}

export async function refreshServer(deps: OperationDeps, serverId: string): Promise<ServerRow> {
  const { server } = await load(deps, serverId);
  await refreshEnvironment(deps, server.environmentId);
  return reload(deps, serverId);
}

async function reload(deps: OperationDeps, serverId: string): Promise<ServerRow> {
  const [server] = await deps.store.serversByIds([serverId]);
  if (!server) throw new OperationError("NOT_FOUND", `The server ${serverId} was removed meanwhile`);
  return server;
}

/** pending -> DTMA call -> done | error (with the message), as upstream's manager, with enum values only. */
async function transition(
  deps: OperationDeps,
  serverId: string,
  during: InstallationStatus,
  done: InstallationStatus,
  call: (t: DtmaTarget, name: string) => Promise<unknown>,
): Promise<ServerRow> {
  const { server, env } = await load(deps, serverId);
  const t = await target(env, deps);
  await deps.store.setServerStatus(server.id, during);
  try {
    await call(t, server.name as string);
  } catch (error) {
    await deps.store.setServerStatus(server.id, "error", error instanceof Error ? error.message : String(error));
    return fail(deps, env, error);
  }
  return (await deps.store.setServerStatus(server.id, done, null)) ?? reload(deps, serverId);
}

export const startServer = (deps: OperationDeps, id: string) => transition(deps, id, "starting", "running", (t, n) => deps.dtma.start(t, n));
export const stopServer = (deps: OperationDeps, id: string) => transition(deps, id, "stopping", "stopped", (t, n) => deps.dtma.stop(t, n));
export const restartServer = (deps: OperationDeps, id: string) => transition(deps, id, "starting", "running", (t, n) => deps.dtma.restart(t, n));

/**
 * pending_delete -> DELETE on the droplet -> the row is removed; on failure the row stays, as error.
 * A 404 means the agent does not manage the container, which is also what an agent that restarted
 * (and forgot its instances) says of a container that still runs: the row goes only when the
 * agent's own status no longer lists the container, so a running container is never orphaned.
 */
export async function deleteServer(deps: OperationDeps, serverId: string): Promise<string> {
  const { server, env } = await load(deps, serverId);
  const t = await target(env, deps);
  const name = server.name as string;
  await deps.store.setServerStatus(server.id, "pending_delete");
  const keep = async (error: unknown): Promise<never> => {
    await deps.store.setServerStatus(server.id, "error", error instanceof Error ? error.message : String(error));
    return fail(deps, env, error);
  };
  try {
    await deps.dtma.remove(t, name);
  } catch (error) {
    if (!(error instanceof DtmaError && error.kind === "HTTP" && error.status === 404)) return keep(error);
    let listed: boolean;
    try {
      listed = (await deps.dtma.status(t)).instances.some((i) => i.name === name || i.accountToolInstanceId === server.id);
    } catch (statusError) {
      return keep(statusError);
    }
    if (listed) {
      const message = `The droplet agent no longer manages container ${name} (it may have restarted), but the container is still on the droplet; the server was kept so it is not left running unseen`;
      await deps.store.setServerStatus(server.id, "error", message);
      throw new OperationError("CONFLICT", message);
    }
  }
  await deps.store.deleteServer(server.id);
  return server.id;
}

export interface DeployInput {
  environmentId: string;
  image: string;
  name: string;
  env: string[];
  ports: Array<{ containerPort: number; hostPort: number }>;
  transport: "sse" | "websocket" | "stdio";
  endpointPath: string;
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/; // Docker's container-name rule

/** pending_deploy row -> POST /tools -> running (or deploying) | error. */
export async function deployServer(deps: OperationDeps, input: DeployInput): Promise<ServerRow> {
  if (!NAME.test(input.name)) throw new OperationError("BAD_USER_INPUT", "`name` must be a Docker container name: letters, digits, _ . - (at most 63)");
  if (!input.image.trim() || input.image.length > 500 || /\s/.test(input.image))
    throw new OperationError("BAD_USER_INPUT", "`image` must be a Docker image reference");
  if (input.env.some((e) => !/^[A-Za-z_][A-Za-z0-9_]*=/.test(e))) throw new OperationError("BAD_USER_INPUT", "each `env` entry must look like NAME=value");
  for (const p of input.ports) {
    for (const n of [p.containerPort, p.hostPort])
      if (!Number.isInteger(n) || n < 1 || n > 65535) throw new OperationError("BAD_USER_INPUT", "ports must be between 1 and 65535");
    if (p.hostPort === deps.dtmaPort) throw new OperationError("BAD_USER_INPUT", `host port ${p.hostPort} is the droplet agent's own port`);
  }
  const [env] = await deps.store.environmentsByIds([input.environmentId]);
  if (!env) throw new OperationError("NOT_FOUND", `No environment with id ${input.environmentId}`);
  const t = await target(env, deps);
  const portBindings = Object.fromEntries(input.ports.map((p) => [`${p.containerPort}/tcp`, [{ HostPort: String(p.hostPort) }]]));
  const baseConfigOverride = { Env: input.env, HostConfig: { PortBindings: portBindings } };
  const portMapping = input.ports[0] ? { container_port: input.ports[0].containerPort, host_port: input.ports[0].hostPort } : null;
  let server: ServerRow;
  try {
    server = await deps.store.createServer({
      environmentId: env.id,
      image: input.image,
      name: input.name,
      status: "pending_deploy",
      portMapping,
      baseConfigOverride,
      transport: input.transport,
      endpointPath: input.endpointPath,
    });
  } catch (error) {
    if ((error as { code?: string }).code === "23505" || /uq_account_env_tool|duplicate key/.test(String((error as Error).message))) {
      throw new OperationError("CONFLICT", `This droplet already runs an instance of ${input.image} (one instance per image per droplet, as upstream)`);
    }
    throw error;
  }
  let deployed: Awaited<ReturnType<DtmaClient["deploy"]>>;
  try {
    await deps.store.setServerStatus(server.id, "deploying");
    deployed = await deps.dtma.deploy(t, {
      dockerImageUrl: input.image,
      instanceNameOnToolbox: input.name,
      accountToolInstanceId: server.id,
      baseConfigOverrideJson: baseConfigOverride,
    });
  } catch (error) {
    // The row stays, in `error`, so the user sees what happened and nothing they asked for vanishes.
    await deps.store.setServerStatus(server.id, "error", error instanceof Error ? error.message : String(error));
    return fail(deps, env, error);
  }
  const status = storedStatusFor(deployed.state ?? "") ?? "deploying";
  return (await deps.store.setServerStatus(server.id, status, null)) ?? reload(deps, server.id);
}
