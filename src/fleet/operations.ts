// Fleet lifecycle operations: each action as the upstream state transitions (enum values only),
// the DTMA call, and the outcome written back. Resolvers call these; they build no SQL or URLs.
import type { EnvironmentRow, ServerRow } from "../data/rows.ts";
import type { Store, WriteSource } from "../data/store.ts";
import { outboundRefusal, publishedHostPort } from "../domain/endpoint.ts";
import { agentExpected, storedStatusFor, type InstallationStatus } from "../domain/status.ts";
import type { Logger } from "../log.ts";
import { DtmaError, type DtmaClient, type DtmaStatus, type DtmaTarget } from "../dtma/client.ts";
import { catalogDeploy } from "./catalog.ts";
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
  /** Host ports a deploy chooses from when the caller gives none (DEPLOY_HOST_PORTS). */
  autoHostPorts?: { first: number; last: number };
  /** Who a start, stop or restart is written as: LIFECYCLE (a person, through this API) unless automatic recovery. */
  source?: WriteSource;
}

export type DtmaCredential = "shared-key" | "droplet-token";

/** The operation dependencies of a process, from its configuration. */
export function operationDeps(
  config: { dtmaPort: number; allowPrivateTargets: boolean; dtma: { credential: DtmaCredential; autoHostPorts: { first: number; last: number } } },
  parts: { store: Store; dtma: DtmaClient; logger: Logger },
): OperationDeps {
  return {
    ...parts,
    dtmaPort: config.dtmaPort,
    allowPrivateTargets: config.allowPrivateTargets,
    credential: config.dtma.credential,
    autoHostPorts: config.dtma.autoHostPorts,
  };
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

export async function target(env: EnvironmentRow, deps: OperationDeps): Promise<DtmaTarget> {
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
export async function fail(deps: OperationDeps, env: EnvironmentRow, error: unknown, statusRead = false): Promise<never> {
  if (!(error instanceof DtmaError)) throw error;
  if (agentIsDown(error, statusRead)) await deps.store.markEnvironmentUnresponsive(env.id, error.message);
  if (error.kind === "TIMEOUT") throw new OperationError("TIMEOUT", error.message);
  if (error.kind === "HTTP" && error.status === 409) throw new OperationError("CONFLICT", error.message);
  if (error.kind === "HTTP" && error.status === 404) throw new OperationError("NOT_FOUND", error.message);
  throw new OperationError("UPSTREAM_UNAVAILABLE", error.message);
}

export async function load(deps: OperationDeps, serverId: string, { nameRequired = true } = {}): Promise<{ server: ServerRow; env: EnvironmentRow }> {
  const [server] = await deps.store.serversByIds([serverId]);
  if (!server) throw new OperationError("NOT_FOUND", `No MCP server with id ${serverId}`);
  const [env] = await deps.store.environmentsByIds([server.environmentId]);
  if (!env) throw new OperationError("NOT_FOUND", `The environment of server ${serverId} no longer exists`);
  if (nameRequired && !server.name)
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

export async function reload(deps: OperationDeps, serverId: string): Promise<ServerRow> {
  const [server] = await deps.store.serversByIds([serverId]);
  if (!server) throw new OperationError("NOT_FOUND", `The server ${serverId} was removed meanwhile`);
  return server;
}

/**
 * Whose the container named like this row is, by the agent's own status: this row's (its recorded
 * container id, or the agent's record of the row's id), another's, or none on the droplet. Rows
 * address containers by name; without this, a row whose deploy failed on a name clash would act
 * on the other row's container. A row with neither record (deployed before container ids were
 * kept, on an agent that reports no ids) is taken as its container's owner, as before.
 */
export async function containerOwner(deps: OperationDeps, t: DtmaTarget, server: ServerRow, known?: DtmaStatus): Promise<"own" | "other" | "absent"> {
  const container = (known ?? (await deps.dtma.status(t))).instances.find((i) => i.name === server.name);
  if (!container) return "absent";
  if (server.containerId && container.containerId) return sameContainer(server.containerId, container.containerId) ? "own" : "other";
  if (container.accountToolInstanceId) return container.accountToolInstanceId === server.id ? "own" : "other";
  return "own";
}

/** Docker ids are 64 hex characters, often shown as their first 12. */
const sameContainer = (a: string, b: string) => a.startsWith(b) || b.startsWith(a);

export const notYours = (server: ServerRow) =>
  new OperationError(
    "CONFLICT",
    `The container named ${server.name} on the droplet is not this server's (another server created it); nothing was done. Delete this server to remove its row only.`,
  );

/** What a lifecycle action needs the server to be in; a clear error, before anything is sent, otherwise. */
const ACTION_STATES: Record<"start" | "stop" | "restart", { allowed: readonly string[]; verb: string }> = {
  start: { allowed: ["stopped", "exited", "error", "inactive", "disabled"], verb: "started" },
  stop: { allowed: ["running", "active", "starting", "restarting", "error"], verb: "stopped" },
  restart: { allowed: ["running", "active", "stopped", "exited", "error"], verb: "restarted" },
};

/** pending -> DTMA call -> done | error (with the message), as upstream's manager, with enum values only. */
async function transition(
  deps: OperationDeps,
  serverId: string,
  action: keyof typeof ACTION_STATES,
  during: InstallationStatus,
  done: InstallationStatus,
  call: (t: DtmaTarget, name: string) => Promise<unknown>,
): Promise<ServerRow> {
  const { server, env } = await load(deps, serverId);
  const t = await target(env, deps);
  const rule = ACTION_STATES[action];
  if (!rule.allowed.includes(server.status)) {
    throw new OperationError("CONFLICT", `The server is ${server.status}: it cannot be ${rule.verb} now (it can be from ${rule.allowed.join(", ")})`);
  }
  let owner: Awaited<ReturnType<typeof containerOwner>>;
  try {
    owner = await containerOwner(deps, t, server);
  } catch (error) {
    return fail(deps, env, error, true);
  }
  if (owner === "other") throw notYours(server);
  if (owner === "absent") throw new OperationError("NOT_FOUND", `The droplet has no container named ${server.name}: refresh the server's status, or delete it`);
  const source = deps.source ?? "LIFECYCLE";
  await deps.store.setServerStatus(server.id, during, undefined, source);
  try {
    await call(t, server.name as string);
  } catch (error) {
    await deps.store.setServerStatus(server.id, "error", error instanceof Error ? error.message : String(error), source);
    return fail(deps, env, error);
  }
  return (await deps.store.setServerStatus(server.id, done, null, source)) ?? reload(deps, serverId);
}

export const startServer = (deps: OperationDeps, id: string) => transition(deps, id, "start", "starting", "running", (t, n) => deps.dtma.start(t, n));
export const stopServer = (deps: OperationDeps, id: string) => transition(deps, id, "stop", "stopping", "stopped", (t, n) => deps.dtma.stop(t, n));
export const restartServer = (deps: OperationDeps, id: string) => transition(deps, id, "restart", "starting", "running", (t, n) => deps.dtma.restart(t, n));

export interface DeleteResult {
  id: string;
  /** What happened on the droplet: the container was removed, there was none of this row's, or it was not asked (force). */
  container: "REMOVED" | "NONE" | "NOT_CONTACTED";
}

/**
 * pending_delete -> DELETE on the droplet -> the row is removed; on failure the row stays, as error.
 * A 404 means the agent does not manage the container, which is also what an agent that restarted
 * (and forgot its instances) says of a container that still runs, and its status listed it just
 * before: the row stays (CONFLICT), so a running container is never orphaned; it goes once the
 * agent's status no longer lists the container.
 * A container of that name that is another row's is left alone: only this row goes. With `force`,
 * the droplet is not contacted at all (it is gone, or unreachable): the row goes, and the result
 * says a container may remain.
 */
export async function deleteServer(deps: OperationDeps, serverId: string, force = false): Promise<DeleteResult> {
  const { server, env } = await load(deps, serverId, { nameRequired: !force });
  if (force) {
    await deps.store.deleteServer(server.id);
    return { id: server.id, container: "NOT_CONTACTED" };
  }
  const t = await target(env, deps);
  const name = server.name as string;
  let owner: Awaited<ReturnType<typeof containerOwner>>;
  try {
    owner = await containerOwner(deps, t, server);
  } catch (error) {
    return fail(deps, env, error, true);
  }
  if (owner !== "own") {
    // Nothing of this row's runs there (a deploy that failed, a container removed by hand, or one
    // of the same name that another row created): the row alone goes.
    await deps.store.deleteServer(server.id);
    return { id: server.id, container: "NONE" };
  }
  await deps.store.setServerStatus(server.id, "pending_delete");
  const keep = async (error: unknown): Promise<never> => {
    await deps.store.setServerStatus(server.id, "error", error instanceof Error ? error.message : String(error));
    return fail(deps, env, error);
  };
  try {
    await deps.dtma.remove(t, name);
  } catch (error) {
    if (!(error instanceof DtmaError && error.kind === "HTTP" && error.status === 404)) return keep(error);
    // The agent's own status listed the container a moment ago (containerOwner): it is still there.
    const message = `The droplet agent no longer manages container ${name} (it may have restarted), but the container is still on the droplet; the server was kept so it is not left running unseen`;
    await deps.store.setServerStatus(server.id, "error", message);
    throw new OperationError("CONFLICT", message);
  }
  await deps.store.deleteServer(server.id);
  return { id: server.id, container: "REMOVED" };
}

export interface DeployInput {
  environmentId: string;
  /** A raw image; or, instead, a catalog entry (and version) whose template is merged in. */
  image: string | null;
  catalogToolId?: string | null;
  version?: string | null;
  name: string;
  env: string[];
  ports: Array<{ containerPort: number; hostPort: number }>;
  transport: "sse" | "websocket" | "stdio";
  endpointPath: string;
  /** Whether the caller chose transport and path (else a catalog entry's template may). */
  transportGiven?: boolean;
  endpointPathGiven?: boolean;
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/; // Docker's container-name rule

/** A deploy's image and configuration: the raw image as given, or a catalog entry's, merged with the caller's. */
async function resolveDeploy(
  deps: OperationDeps,
  request: DeployInput,
): Promise<{ input: DeployInput & { image: string }; catalogToolId: string | undefined; containerPort: number | null }> {
  if (!request.catalogToolId === !request.image) throw new OperationError("BAD_USER_INPUT", "Give `image` or `catalogToolId` (one of them)");
  if (!request.catalogToolId) return { input: { ...request, image: request.image as string }, catalogToolId: undefined, containerPort: null };
  // The viewer's store: public entries and the viewer's own.
  const [entry] = await deps.store.catalogByIds([request.catalogToolId]);
  if (!entry) throw new OperationError("NOT_FOUND", `No catalog tool with id ${request.catalogToolId}`);
  const deploy = catalogDeploy(entry, {
    version: request.version ?? null,
    env: request.env,
    ports: request.ports,
    transport: request.transportGiven ? request.transport : null,
    endpointPath: request.endpointPathGiven ? request.endpointPath : null,
  });
  return {
    input: { ...request, image: deploy.image, env: deploy.env, ports: deploy.ports, transport: deploy.transport, endpointPath: deploy.endpointPath },
    catalogToolId: entry.id,
    containerPort: deploy.containerPort,
  };
}

/** Refuses published ports out of range or on the droplet agent's own port (deploy and configure). */
export function checkPorts(ports: ReadonlyArray<{ containerPort: number; hostPort: number }>, dtmaPort: number): void {
  for (const p of ports) {
    for (const n of [p.containerPort, p.hostPort])
      if (!Number.isInteger(n) || n < 1 || n > 65535) throw new OperationError("BAD_USER_INPUT", "ports must be between 1 and 65535");
    if (p.hostPort === dtmaPort) throw new OperationError("BAD_USER_INPUT", `host port ${p.hostPort} is the droplet agent's own port`);
  }
}

/** Refuses what cannot be a Docker image reference (deploy and configure). */
export function checkImage(image: string): void {
  if (!image.trim() || image.length > 500 || /\s/.test(image)) throw new OperationError("BAD_USER_INPUT", "`image` must be a Docker image reference");
}

/** The container port of a deploy that gives no ports (its host port is chosen from DEPLOY_HOST_PORTS). */
const DEFAULT_CONTAINER_PORT = 8080;

/**
 * pending_deploy row -> POST /tools -> running (or deploying) | error. Before anything is written or
 * sent: the name must be free on the droplet (no row of ours and no container of the agent's has
 * it), and the server gets a published host port (the caller's, or a free one). A refusal by the
 * agent (409: the name or port was taken meanwhile) leaves no row behind; any other failure keeps
 * the row, as error, so the user sees what happened.
 */
export async function deployServer(deps: OperationDeps, request: DeployInput): Promise<ServerRow> {
  const { input, catalogToolId, containerPort } = await resolveDeploy(deps, request);
  if (!NAME.test(input.name)) throw new OperationError("BAD_USER_INPUT", "`name` must be a Docker container name: letters, digits, _ . - (at most 63)");
  checkImage(input.image);
  if (input.env.some((e) => !/^[A-Za-z_][A-Za-z0-9_]*=/.test(e))) throw new OperationError("BAD_USER_INPUT", "each `env` entry must look like NAME=value");
  if (input.transport === "websocket") {
    throw new OperationError(
      "BAD_USER_INPUT",
      "WebSocket is not an MCP transport of the current specification, and this API cannot test or reach such a server: deploy it with SSE (or Streamable HTTP, served at the same endpoint)",
    );
  }
  checkPorts(input.ports, deps.dtmaPort);
  const [env] = await deps.store.environmentsByIds([input.environmentId]);
  if (!env) throw new OperationError("NOT_FOUND", `No environment with id ${input.environmentId}`);
  const t = await target(env, deps);
  const rows = await deps.store.serversOn(env.id);
  if (rows.some((r) => r.name === input.name)) throw new OperationError("CONFLICT", `A server named ${input.name} already exists on this droplet`);
  let status: DtmaStatus;
  try {
    status = await deps.dtma.status(t);
  } catch (error) {
    return fail(deps, env, error, true);
  }
  if (status.instances.some((i) => i.name === input.name))
    throw new OperationError("CONFLICT", `The droplet already has a container named ${input.name}; choose another name`);
  const used = new Set([deps.dtmaPort, ...status.instances.flatMap((i) => i.hostPorts)]);
  for (const r of rows) {
    const published = publishedHostPort(r.portMapping, r.baseConfigOverride);
    if (published && published !== "invalid") used.add(published.port);
  }
  for (const p of input.ports) if (used.has(p.hostPort)) throw new OperationError("CONFLICT", `Host port ${p.hostPort} is already published on this droplet`);
  let ports = input.ports;
  if (!ports.length) {
    const range = deps.autoHostPorts ?? { first: 40000, last: 49999 };
    let free = range.first;
    while (used.has(free) && free <= range.last) free++;
    if (free > range.last) throw new OperationError("CONFLICT", "No free host port is left on this droplet: give `ports`");
    ports = [{ containerPort: containerPort ?? DEFAULT_CONTAINER_PORT, hostPort: free }];
  }
  const portBindings = Object.fromEntries(ports.map((p) => [`${p.containerPort}/tcp`, [{ HostPort: String(p.hostPort) }]]));
  const baseConfigOverride = { Env: input.env, HostConfig: { PortBindings: portBindings } };
  const portMapping = { container_port: ports[0].containerPort, host_port: ports[0].hostPort };
  let server: ServerRow;
  try {
    server = await deps.store.createServer({
      environmentId: env.id,
      image: input.image,
      catalogToolId,
      name: input.name,
      status: "pending_deploy",
      portMapping,
      baseConfigOverride,
      transport: input.transport,
      endpointPath: input.endpointPath,
    });
  } catch (error) {
    if ((error as { code?: string }).code === "23505" || /uq_account_env_tool|duplicate key/.test(String((error as Error).message))) {
      throw new OperationError(
        "CONFLICT",
        catalogToolId
          ? "This droplet already runs an instance of this catalog tool (one instance per catalog tool per droplet, as upstream)"
          : `This droplet already runs an instance of ${input.image} (one instance per image per droplet, as upstream)`,
      );
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
    if (error instanceof DtmaError && error.kind === "HTTP" && error.status === 409) {
      // The agent created nothing: a row left behind would carry a name another container has.
      await deps.store.deleteServer(server.id);
      throw new OperationError("CONFLICT", `The droplet agent refused: ${error.message.replace(/^The droplet agent refused: /, "")}; nothing was deployed`);
    }
    // The row stays, in `error`, so the user sees what happened and nothing they asked for vanishes.
    await deps.store.setServerStatus(server.id, "error", error instanceof Error ? error.message : String(error));
    return fail(deps, env, error);
  }
  if (deployed.containerId) await deps.store.setServerContainer(server.id, deployed.containerId);
  const stored = storedStatusFor(deployed.state ?? "") ?? "deploying";
  return (await deps.store.setServerStatus(server.id, stored, null)) ?? reload(deps, server.id);
}
