// Fleet lifecycle mutations: refresh from the DTMA, start, stop, restart, deploy, delete.
import { configureServer } from "../../fleet/configure.ts";
import { OperationError } from "../../fleet/errors.ts";
import * as ops from "../../fleet/operations.ts";
import { builder } from "../builder.ts";
import { limitDropletCalls, type Context } from "../context.ts";
import { parseId } from "../ids.ts";
import type { ServerRow } from "../../data/rows.ts";
import { EnvironmentRef, ServerRef } from "../refs.ts";
import { runOperation } from "./run.ts";

async function deps(ctx: Context): Promise<ops.OperationDeps> {
  await limitDropletCalls(ctx);
  return ops.operationDeps(ctx.config, { store: ctx.store, dtma: ctx.dtma, logger: ctx.logger });
}

const TransportInput = builder.enumType("DeployTransport", {
  description: "Transports the upstream CHECK allows for MCP servers.",
  values: { SSE: { value: "sse" }, WEBSOCKET: { value: "websocket" }, STDIO: { value: "stdio" } } as const,
});

const PortBindingInput = builder.inputType("PortBindingInput", {
  fields: (t) => ({ containerPort: t.int({ required: true }), hostPort: t.int({ required: true }) }),
});

const DeployServerInput = builder.inputType("DeployServerInput", {
  fields: (t) => ({
    environmentId: t.id({ required: true }),
    image: t.string({ description: "A Docker image reference (a raw-image deploy). Give this or `catalogToolId`." }),
    catalogToolId: t.id({
      description:
        "Deploy this catalog entry: its image at `version`, its default configuration merged with `env` (yours wins), its required secrets checked first.",
    }),
    version: t.string({ description: "With `catalogToolId`: one of the entry's versions (default: its default version)." }),
    name: t.string({ required: true, description: "Container name on the droplet (instance_name_on_toolbox)." }),
    env: t.stringList({ description: "Container environment, NAME=value." }),
    ports: t.field({ type: [PortBindingInput], description: "Published ports; the first is the MCP endpoint's." }),
    transport: t.field({ type: TransportInput, description: "Default: the catalog entry's, else SSE." }),
    endpointPath: t.string({ description: "Default: the catalog entry's, else /mcp." }),
  }),
});

const EnvVarInput = builder.inputType("EnvVarInput", {
  fields: (t) => ({ name: t.string({ required: true }), value: t.string({ required: true, description: "Write-only: never returned, logged or published." }) }),
});

const ConfigureServerInput = builder.inputType("ConfigureServerInput", {
  description: "What to change; everything left out stays as it is.",
  fields: (t) => ({
    id: t.id({ required: true }),
    setEnv: t.field({ type: [EnvVarInput], description: "Variables to set (added or replaced)." }),
    unsetEnv: t.stringList({ description: "Variables to remove." }),
    ports: t.field({ type: [PortBindingInput], description: "Published ports, replacing the current ones; the first is the MCP endpoint's." }),
    image: t.string({ description: "Another image (reference)." }),
    version: t.string({ description: "Another version of the server's catalog entry." }),
    endpointPath: t.string(),
    transport: t.field({ type: TransportInput }),
  }),
});

const DeletedContainerEnum = builder.enumType("DeletedContainer", {
  description: "What a deletion did on the droplet.",
  values: {
    REMOVED: { description: "The server's container was removed from the droplet." },
    NONE: {
      description:
        "The droplet had no container of this server's (a failed deploy, or one of the same name that another server created, which was left alone).",
    },
    NOT_CONTACTED: { description: "`force`: the droplet was not contacted; a container may remain on it." },
  } as const,
});

const DeleteServerPayload = builder.objectRef<ops.DeleteResult>("DeleteServerPayload").implement({
  fields: (t) => ({
    deletedServerId: t.id({ resolve: (p) => p.id }),
    container: t.field({ type: DeletedContainerEnum, resolve: (p) => p.container }),
  }),
});

builder.mutationFields((t) => {
  const onServer = (description: string, action: (d: ops.OperationDeps, id: string) => Promise<ServerRow>) =>
    t.field({
      type: ServerRef,
      description,
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, args, ctx) => runOperation(async () => action(await deps(ctx), parseId(String(args.id), "MCPServer"))),
    });
  return {
    refreshEnvironmentStatus: t.field({
      type: EnvironmentRef,
      description:
        "One GET /status on the droplet agent; the droplet and all its servers updated in one statement. An agent that cannot be reached, does not answer in time, fails (5xx) or answers something else than its status marks the droplet unresponsive.",
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, args, ctx) => runOperation(async () => ops.refreshEnvironment(await deps(ctx), parseId(String(args.id), "Environment"))),
    }),
    refreshServerStatus: onServer("Refreshes the server's droplet from its agent and returns the server.", ops.refreshServer),
    startServer: onServer("Starts the container (starting -> running | error).", ops.startServer),
    stopServer: onServer("Stops the container (stopping -> stopped | error).", ops.stopServer),
    restartServer: onServer("Restarts the container: the agent's MCP restart route, or stop then start.", ops.restartServer),
    deployServer: t.field({
      type: ServerRef,
      description: "Creates the server (pending_deploy) and deploys its container through the droplet agent (-> running | error).",
      args: { input: t.arg({ type: DeployServerInput, required: true }) },
      resolve: (_root, { input }, ctx) =>
        runOperation(async () =>
          ops.deployServer(await deps(ctx), {
            environmentId: parseId(String(input.environmentId), "Environment", "environmentId"),
            image: input.image ?? null,
            catalogToolId: input.catalogToolId ? parseId(String(input.catalogToolId), "CatalogTool", "catalogToolId") : null,
            version: input.version ?? null,
            name: input.name,
            env: input.env ?? [],
            ports: input.ports ?? [],
            transport: (input.transport ?? "sse") as "sse",
            endpointPath: input.endpointPath ?? "/mcp",
            transportGiven: input.transport != null,
            endpointPathGiven: input.endpointPath != null,
          }),
        ),
    }),
    configureServer: t.field({
      type: ServerRef,
      description:
        "Changes a server's configuration by replacing its container through the droplet agent (same name); if the new container fails, the previous configuration is restored and the error reported. Secret values are write-only: `environmentVariables` shows names only.",
      args: { input: t.arg({ type: ConfigureServerInput, required: true }) },
      resolve: (_root, { input }, ctx) =>
        runOperation(async () => {
          if (input.transport === "websocket") throw new OperationError("BAD_USER_INPUT", "WebSocket is not an MCP transport of the current specification");
          return configureServer(await deps(ctx), parseId(String(input.id), "MCPServer"), {
            setEnv: input.setEnv ?? [],
            unsetEnv: input.unsetEnv ?? [],
            ports: input.ports ?? null,
            image: input.image ?? null,
            version: input.version ?? null,
            endpointPath: input.endpointPath ?? null,
            transport: (input.transport ?? null) as "sse" | null,
          });
        }),
    }),
    deleteServer: t.field({
      type: DeleteServerPayload,
      description:
        "Removes the server's container from the droplet, then the row (pending_delete -> gone | error). With `force`, forgets the row without contacting the droplet (one that is gone or unreachable); a container may remain.",
      args: { id: t.arg.id({ required: true }), force: t.arg.boolean({ defaultValue: false }) },
      resolve: (_root, args, ctx) => runOperation(async () => ops.deleteServer(await deps(ctx), parseId(String(args.id), "MCPServer"), args.force ?? false)),
    }),
  };
});
