// Environment: one droplet (account_tool_environments), a "Toolbox" upstream.
import { systemMetrics, type SystemMetrics } from "../domain/metrics.ts";
import type { EnvironmentRow, ServerRow } from "../data/rows.ts";
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
    totalBytes: t.float({ nullable: true, resolve: (m) => m.totalBytes }),
    usedBytes: t.float({ nullable: true, resolve: (m) => m.usedBytes }),
    activeBytes: t.float({ nullable: true, resolve: (m) => m.activeBytes }),
    freeBytes: t.float({ nullable: true, resolve: (m) => m.freeBytes }),
    usedPercent: t.float({ nullable: true, resolve: (m) => m.usedPercent }),
  }),
});
const DiskRef = builder.objectRef<NonNullable<SystemMetrics["disk"]>>("DiskMetrics").implement({
  fields: (t) => ({
    mount: t.string({ nullable: true, resolve: (d) => d.mount }),
    totalBytes: t.float({ nullable: true, resolve: (d) => d.totalBytes }),
    usedBytes: t.float({ nullable: true, resolve: (d) => d.usedBytes }),
    freeBytes: t.float({ nullable: true, resolve: (d) => d.freeBytes }),
    usedPercent: t.float({ nullable: true, resolve: (d) => d.usedPercent }),
  }),
});
const SystemMetricsRef = builder.objectRef<SystemMetrics>("SystemMetrics").implement({
  description: "The droplet's resources as its agent last reported them (dtma_health_details_json).",
  fields: (t) => ({
    cpuLoadPercent: t.float({ nullable: true, resolve: (m) => m.cpuLoadPercent }),
    memory: t.field({ type: MemoryRef, nullable: true, resolve: (m) => m.memory }),
    disk: t.field({ type: DiskRef, nullable: true, resolve: (m) => m.disk }),
    error: t.string({ nullable: true, description: "Set when the last status refresh failed.", resolve: (m) => m.error }),
  }),
});

builder.node(EnvironmentRef, {
  description: "A droplet that runs MCP servers under its DTMA (account_tool_environments).",
  id: { resolve: (e) => e.id, parse: (id) => parseId(id, "Environment") },
  loadMany: (ids, ctx: Context) => ids.map((id) => ctx.loaders.environment.load(id)),
  fields: (t) => ({
    uuid: t.field({ type: "UUID", resolve: (e) => e.id }),
    name: t.string({ nullable: true, resolve: (e) => e.name }),
    description: t.string({ nullable: true, resolve: (e) => e.description }),
    status: t.field({ type: EnvironmentStatusEnum, resolve: (e) => e.status as "active" }),
    publicIP: t.field({ type: "IPAddress", nullable: true, resolve: (e) => e.publicIp }),
    privateIP: t.field({ type: "IPAddress", nullable: true, resolve: (e) => e.privateIp }),
    region: t.string({ resolve: (e) => e.region }),
    size: t.string({ resolve: (e) => e.size }),
    image: t.string({ resolve: (e) => e.image }),
    dropletId: t.string({ nullable: true, description: "The DigitalOcean droplet id.", resolve: (e) => e.doDropletId }),
    dropletName: t.string({ nullable: true, resolve: (e) => e.dropletName }),
    lastHeartbeatAt: t.field({ type: "DateTime", nullable: true, resolve: (e) => e.lastHeartbeatAt }),
    dtmaVersion: t.string({ nullable: true, resolve: (e) => e.dtmaVersion }),
    systemMetrics: t.field({ type: SystemMetricsRef, nullable: true, resolve: (e) => systemMetrics(e.healthDetails) }),
    provisioningError: t.string({ nullable: true, resolve: (e) => e.provisioningError }),
    createdAt: t.field({ type: "DateTime", resolve: (e) => e.createdAt }),
    updatedAt: t.field({ type: "DateTime", resolve: (e) => e.updatedAt }),
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
