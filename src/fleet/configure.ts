// Changing a deployed server's configuration: environment (set and unset), ports, image or version,
// endpoint path, transport. The agent has no update route, so the container is replaced (removed,
// then deployed again under the same name); if the new one fails, the previous configuration is
// deployed again and the error reported. Secret values are write-only: they go to the agent and
// the row, never into a response, an event, an error or a log line.
import type { ServerRow } from "../data/rows.ts";
import { publishedHostPort } from "../domain/endpoint.ts";
import { storedStatusFor } from "../domain/status.ts";
import { DtmaError } from "../dtma/client.ts";
import { imageAt } from "./catalog.ts";
import { OperationError } from "./errors.ts";
import { checkImage, checkPorts, containerOwner, fail, load, notYours, type OperationDeps, reload, target } from "./operations.ts";

export interface ConfigChange {
  setEnv: Array<{ name: string; value: string }>;
  unsetEnv: string[];
  ports: Array<{ containerPort: number; hostPort: number }> | null;
  image: string | null;
  version: string | null;
  endpointPath: string | null;
  transport: "sse" | "stdio" | null;
}

interface Deployable {
  image: string;
  env: string[];
  ports: Array<{ containerPort: number; hostPort: number }>;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** States in which a server's container may be replaced. */
const CONFIGURABLE = ["running", "active", "stopped", "exited", "error"];

/** The names of a server's environment variables (never their values). */
export function environmentNames(baseConfigOverride: unknown): string[] {
  const env = (baseConfigOverride as { Env?: unknown } | null)?.Env;
  return Array.isArray(env) ? env.filter((e): e is string => typeof e === "string" && e.includes("=")).map((e) => e.slice(0, e.indexOf("="))) : [];
}

function currentPorts(server: ServerRow): Array<{ containerPort: number; hostPort: number }> {
  const bindings = (server.baseConfigOverride as { HostConfig?: { PortBindings?: Record<string, Array<{ HostPort?: string }>> } } | null)?.HostConfig
    ?.PortBindings;
  const ports = Object.entries(bindings ?? {}).flatMap(([key, list]) => {
    const containerPort = Number.parseInt(key, 10);
    const hostPort = Number(list?.[0]?.HostPort);
    return Number.isInteger(containerPort) && Number.isInteger(hostPort) ? [{ containerPort, hostPort }] : [];
  });
  if (ports.length) return ports;
  const published = publishedHostPort(server.portMapping, server.baseConfigOverride);
  return published && published !== "invalid" ? [{ containerPort: published.containerPort ?? 8080, hostPort: published.port }] : [];
}

function overrideOf(d: Deployable) {
  return { Env: d.env, HostConfig: { PortBindings: Object.fromEntries(d.ports.map((p) => [`${p.containerPort}/tcp`, [{ HostPort: String(p.hostPort) }]])) } };
}

export async function configureServer(deps: OperationDeps, serverId: string, change: ConfigChange): Promise<ServerRow> {
  for (const { name } of change.setEnv)
    if (!ENV_NAME.test(name)) throw new OperationError("BAD_USER_INPUT", `\`${name.slice(0, 64)}\` is not an environment variable name`);
  for (const name of change.unsetEnv)
    if (!ENV_NAME.test(name)) throw new OperationError("BAD_USER_INPUT", `\`${name.slice(0, 64)}\` is not an environment variable name`);
  checkPorts(change.ports ?? [], deps.dtmaPort);
  if (change.ports && !change.ports.length) throw new OperationError("BAD_USER_INPUT", "`ports` needs at least one binding: the MCP endpoint's");
  if (change.image !== null) checkImage(change.image);
  const { server, env } = await load(deps, serverId);
  if (!CONFIGURABLE.includes(server.status)) {
    throw new OperationError("CONFLICT", `The server is ${server.status}: its configuration can change when it is ${CONFIGURABLE.join(", ")}`);
  }
  const t = await target(env, deps);
  let status: Awaited<ReturnType<typeof deps.dtma.status>>;
  try {
    status = await deps.dtma.status(t);
  } catch (error) {
    return fail(deps, env, error, true);
  }
  const owner = await containerOwner(deps, t, server, status);
  if (owner === "other") throw notYours(server);
  const container = status.instances.find((i) => i.name === server.name);
  // The image now: the agent's word where it gives it, else the catalog entry's.
  const [entry] = server.toolCatalogId ? await deps.store.catalogByIds([server.toolCatalogId]) : [null];
  const currentImage = container?.image ?? (entry ? imageAt(entry.dockerImageUrl ?? entry.packageIdentifier, server.version ?? entry.defaultVersion) : null);
  if (!currentImage) throw new OperationError("CONFLICT", "The server's current image is unknown (the agent does not report it): give `image`");
  if (change.version && entry?.versions.length && !entry.versions.includes(change.version)) {
    throw new OperationError("BAD_USER_INPUT", `${entry.name} has no version ${change.version}; available: ${entry.versions.join(", ")}`);
  }
  const previous: Deployable = {
    image: currentImage,
    env: ((server.baseConfigOverride as { Env?: string[] } | null)?.Env ?? []).slice(),
    ports: currentPorts(server),
  };
  const vars = new Map(previous.env.map((e) => [e.slice(0, e.indexOf("=")), e]));
  for (const name of change.unsetEnv) vars.delete(name);
  for (const { name, value } of change.setEnv) vars.set(name, `${name}=${value}`);
  const next: Deployable = {
    image: change.image ?? (change.version ? imageAt(entry?.dockerImageUrl ?? entry?.packageIdentifier ?? currentImage, change.version) : currentImage),
    env: [...vars.values()],
    ports: change.ports ?? previous.ports,
  };
  if (!next.ports.length) throw new OperationError("BAD_USER_INPUT", "The server publishes no port: give `ports`");
  const name = server.name as string;
  const deploy = (d: Deployable) =>
    deps.dtma.deploy(t, { dockerImageUrl: d.image, instanceNameOnToolbox: name, accountToolInstanceId: server.id, baseConfigOverrideJson: overrideOf(d) });
  await deps.store.setServerStatus(server.id, "deploying");
  try {
    if (container) await deps.dtma.remove(t, name);
  } catch (error) {
    await deps.store.setServerStatus(server.id, "error", error instanceof Error ? error.message : String(error));
    return fail(deps, env, error);
  }
  try {
    const deployed = await deploy(next);
    await deps.store.updateServerConfig(server.id, {
      baseConfigOverride: overrideOf(next),
      portMapping: { container_port: next.ports[0].containerPort, host_port: next.ports[0].hostPort },
      transport: change.transport ?? server.transport ?? "sse",
      endpointPath: change.endpointPath ?? server.endpointPath ?? "/mcp",
      version: change.version,
      containerId: deployed.containerId,
    });
    return (await deps.store.setServerStatus(server.id, storedStatusFor(deployed.state ?? "") ?? "deploying", null)) ?? reload(deps, server.id);
  } catch (error) {
    return rollBack(deps, server.id, () => deploy(previous), error);
  }
}

/** The new container failed: the previous configuration goes back, and the failure is reported. */
async function rollBack(
  deps: OperationDeps,
  serverId: string,
  redeploy: () => Promise<{ containerId: string | null; state: string | null }>,
  error: unknown,
): Promise<never> {
  if (!(error instanceof DtmaError)) throw error;
  let outcome: string;
  try {
    const restored = await redeploy();
    await deps.store.setServerContainer(serverId, restored.containerId);
    outcome = "the previous configuration was restored";
    await deps.store.setServerStatus(
      serverId,
      storedStatusFor(restored.state ?? "") ?? "running",
      `Configuration change failed (${error.message}); ${outcome}`,
    );
  } catch (restoreError) {
    outcome = `restoring the previous configuration failed too (${restoreError instanceof Error ? restoreError.message : String(restoreError)})`;
    await deps.store.setServerStatus(serverId, "error", `Configuration change failed (${error.message}); ${outcome}`);
  }
  const code = error.kind === "TIMEOUT" ? "TIMEOUT" : error.kind === "HTTP" && error.status === 409 ? "CONFLICT" : "UPSTREAM_UNAVAILABLE";
  throw new OperationError(code, `The new configuration failed (${error.message}); ${outcome}`);
}
