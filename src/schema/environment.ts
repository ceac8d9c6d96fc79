// Environment: one droplet (account_tool_environments), a "Toolbox" upstream.
import { systemMetrics, type SystemMetrics } from "../domain/metrics.ts";
import type { EnvironmentColumn, EnvironmentRow, ServerRow } from "../data/rows.ts";
import type { Page } from "../data/store.ts";
import { builder } from "./builder.ts";
import type { Context } from "./context.ts";
import { ServerFilterInput, toServerFilter } from "./filters.ts";
import { parseId } from "./ids.ts";
import { toConnection, toPageArgs } from "./pagination.ts";
import { EnvironmentRef, ServerRef } from "./refs.ts";
import { EnvironmentStatusEnum } from "./status.ts";

const MemoryRef = builder.objectRef<NonNullable<SystemMetrics["memory"]>>("MemoryMetrics").implement({
  fields: (t) => ({
    totalBytes: t.exposeFloat("totalBytes", { nullable: true }),
    usedBytes: t.exposeFloat("usedBytes", { nullable: true }),
    activeBytes: t.exposeFloat("activeBytes", { nullable: true }),
    freeBytes: t.exposeFloat("freeBytes", { nullable: true }),
    usedPercent: t.exposeFloat("usedPercent", { nullable: true }),
  }),
});
const DiskRef = builder.objectRef<NonNullable<SystemMetrics["disk"]>>("DiskMetrics").implement({
  fields: (t) => ({
    mount: t.exposeString("mount", { nullable: true }),
    totalBytes: t.exposeFloat("totalBytes", { nullable: true }),
    usedBytes: t.exposeFloat("usedBytes", { nullable: true }),
    freeBytes: t.exposeFloat("freeBytes", { nullable: true }),
    usedPercent: t.exposeFloat("usedPercent", { nullable: true }),
  }),
});
const SystemMetricsRef = builder.objectRef<SystemMetrics>("SystemMetrics").implement({
  description: "The droplet's resources as its agent last reported them (dtma_health_details_json).",
  fields: (t) => ({
    cpuLoadPercent: t.exposeFloat("cpuLoadPercent", { nullable: true }),
    memory: t.field({ type: MemoryRef, nullable: true, resolve: (m) => m.memory }),
    disk: t.field({ type: DiskRef, nullable: true, resolve: (m) => m.disk }),
    error: t.exposeString("error", { description: "Set when the last status refresh failed.", nullable: true }),
  }),
});

/**
 * The columns each Environment field reads, so a page of servers reads only what its response
 * needs of their droplets (`dtma_health_details_json` only for systemMetrics). A selected field
 * missing here makes the page read every column (a test keeps this in step with the type's fields).
 */
export const ENVIRONMENT_FIELD_COLUMNS: Record<string, readonly EnvironmentColumn[]> = {
  __typename: [], id: [], uuid: [], servers: [],
  name: ["name"], description: ["description"], status: ["status"], publicIP: ["public_ip_address"], privateIP: ["private_ip_address"],
  region: ["region_slug"], size: ["size_slug"], image: ["image_slug"], dropletId: ["do_droplet_id"], dropletName: ["do_droplet_name"],
  lastHeartbeatAt: ["last_heartbeat_at"], dtmaVersion: ["dtma_last_known_version"], systemMetrics: ["dtma_health_details_json"],
  provisioningError: ["provisioning_error_message"], createdAt: ["created_at"], updatedAt: ["updated_at"],
};

builder.node(EnvironmentRef, {
  description: "A droplet that runs MCP servers under its DTMA (account_tool_environments).",
  id: { resolve: (e) => e.id, parse: (id) => parseId(id, "Environment") },
  loadMany: (ids, ctx: Context) => ids.map((id) => ctx.loaders.environment.load(id)),
  fields: (t) => ({
    uuid: t.field({ type: "UUID", resolve: (e) => e.id }),
    name: t.exposeString("name", { nullable: true }),
    description: t.exposeString("description", { nullable: true }),
    status: t.field({ type: EnvironmentStatusEnum, resolve: (e) => e.status as "active" }),
    publicIP: t.field({ type: "IPAddress", nullable: true, resolve: (e) => e.publicIp }),
    privateIP: t.field({ type: "IPAddress", nullable: true, resolve: (e) => e.privateIp }),
    region: t.exposeString("region"),
    size: t.exposeString("size"),
    image: t.exposeString("image"),
    dropletId: t.string({ nullable: true, description: "The DigitalOcean droplet id.", resolve: (e) => e.doDropletId }),
    dropletName: t.exposeString("dropletName", { nullable: true }),
    lastHeartbeatAt: t.expose("lastHeartbeatAt", { type: "DateTime", nullable: true }),
    dtmaVersion: t.exposeString("dtmaVersion", { nullable: true }),
    systemMetrics: t.field({ type: SystemMetricsRef, nullable: true, resolve: (e) => systemMetrics(e.healthDetails) }),
    provisioningError: t.exposeString("provisioningError", { nullable: true }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" }),
    servers: t.connection({
      type: ServerRef,
      args: { filter: t.arg({ type: ServerFilterInput }) },
      resolve: async (environment: EnvironmentRow, args, ctx) => {
        const page = toPageArgs(args, ctx.config);
        const filter = toServerFilter(args.filter);
        // Every environment in the response that asks for the same page is served by one statement.
        const key = JSON.stringify(["servers", filter, page]);
        const loader = ctx.loaders.keyed<Page<ServerRow>>(key, async (ids) => {
          const pages = await ctx.store.listServersByEnvironment(ids, filter, page, ctx.time);
          return ids.map((id) => pages.get(id) as Page<ServerRow>);
        });
        return toConnection(await loader.load(environment.id), () =>
          ctx.store.countServers({ ...filter, environmentIds: [environment.id] }, ctx.time),
        );
      },
    }),
  }),
});
