// Environment: one droplet (account_tool_environments), a "Toolbox" upstream; and the root fields
// that read droplets (environments, environment).
import { systemMetrics, type SystemMetrics } from "../domain/metrics.ts";
import type { EnvironmentColumn, EnvironmentRow, ServerRow } from "../data/rows.ts";
import type { Page, ServerFilter } from "../data/store.ts";
import { builder } from "./builder.ts";
import type { Context } from "./context.ts";
import { EnvironmentFilterInput, ServerFilterInput, toEnvironmentFilter, toServerFilter } from "./filters.ts";
import { parseId } from "./ids.ts";
import { EnvironmentOrderInput, ServerOrderInput, toOrder } from "./ordering.ts";
import { toConnection, toPageArgs, wantsRows } from "./pagination.ts";
import { EnvironmentRef, ServerRef } from "./refs.ts";
import { reads, selectedFields } from "./selection.ts";
import { EnvironmentStatusEnum } from "./enums.ts";

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

builder.node(EnvironmentRef, {
  description: "A droplet that runs MCP servers under its DTMA (account_tool_environments).",
  id: { resolve: (e) => e.id, parse: (id) => parseId(id, "Environment") },
  loadMany: (ids, ctx: Context) => ids.map((id) => ctx.loaders.environment.load(id)),
  fields: (t) => ({
    uuid: t.field({ ...reads([]), type: "UUID", resolve: (e) => e.id }),
    name: t.exposeString("name", { ...reads<EnvironmentColumn>(["name"]), nullable: true }),
    description: t.exposeString("description", { ...reads<EnvironmentColumn>(["description"]), nullable: true }),
    status: t.field({ ...reads<EnvironmentColumn>(["status"]), type: EnvironmentStatusEnum, resolve: (e) => e.status as "active" }),
    publicIP: t.field({ ...reads<EnvironmentColumn>(["public_ip_address"]), type: "IPAddress", nullable: true, resolve: (e) => e.publicIp }),
    privateIP: t.field({ ...reads<EnvironmentColumn>(["private_ip_address"]), type: "IPAddress", nullable: true, resolve: (e) => e.privateIp }),
    region: t.exposeString("region", reads<EnvironmentColumn>(["region_slug"])),
    size: t.exposeString("size", reads<EnvironmentColumn>(["size_slug"])),
    image: t.exposeString("image", reads<EnvironmentColumn>(["image_slug"])),
    dropletId: t.string({
      ...reads<EnvironmentColumn>(["do_droplet_id"]),
      nullable: true,
      description: "The DigitalOcean droplet id.",
      resolve: (e) => e.doDropletId,
    }),
    dropletName: t.exposeString("dropletName", { ...reads<EnvironmentColumn>(["do_droplet_name"]), nullable: true }),
    lastHeartbeatAt: t.expose("lastHeartbeatAt", { ...reads<EnvironmentColumn>(["last_heartbeat_at"]), type: "DateTime", nullable: true }),
    dtmaVersion: t.exposeString("dtmaVersion", { ...reads<EnvironmentColumn>(["dtma_last_known_version"]), nullable: true }),
    systemMetrics: t.field({
      ...reads<EnvironmentColumn>(["dtma_health_details_json"]),
      type: SystemMetricsRef,
      nullable: true,
      resolve: (e) => systemMetrics(e.healthDetails),
    }),
    provisioningError: t.exposeString("provisioningError", { ...reads<EnvironmentColumn>(["provisioning_error_message"]), nullable: true }),
    createdAt: t.expose("createdAt", { ...reads<EnvironmentColumn>(["created_at"]), type: "DateTime" }),
    updatedAt: t.expose("updatedAt", { ...reads<EnvironmentColumn>(["updated_at"]), type: "DateTime" }),
    servers: t.connection({
      ...reads([]),
      type: ServerRef,
      description: "The droplet's servers, in name order unless `orderBy` says otherwise.",
      args: { filter: t.arg({ type: ServerFilterInput }), orderBy: t.arg({ type: ServerOrderInput }) },
      resolve: async (environment: EnvironmentRow, args, ctx, info) => {
        const { order, tag } = toOrder(args.orderBy);
        const page = { ...toPageArgs(args, ctx.config, tag), order };
        const filter = toServerFilter(args.filter);
        const counts = serverCounts(ctx, filter);
        if (!wantsRows(info)) return toConnection<ServerRow>({ rows: [], hasNextPage: false }, page, () => counts.load(environment.id), tag);
        // Every environment in the response that asks for the same page is served by one statement.
        const key = JSON.stringify(["servers", filter, page]);
        const loader = ctx.loaders.keyed<Page<ServerRow>>(key, async (ids) => {
          const pages = await ctx.store.listServersByEnvironment(ids, filter, page, ctx.time);
          return ids.map((id) => pages.get(id) as Page<ServerRow>);
        });
        return toConnection(await loader.load(environment.id), page, () => counts.load(environment.id), tag);
      },
    }),
  }),
});

/** Each environment's count of its servers under `filter`: one statement for every environment that asks. */
function serverCounts(ctx: Context, filter: ServerFilter) {
  return ctx.loaders.keyed<number>(JSON.stringify(["serverCounts", filter]), (ids) => ctx.store.countServersByEnvironment(ids, filter, ctx.time));
}

builder.queryFields((t) => ({
  environments: t.connection({
    type: EnvironmentRef,
    description: "Droplets, in name order unless `orderBy` says otherwise.",
    args: { filter: t.arg({ type: EnvironmentFilterInput }), orderBy: t.arg({ type: EnvironmentOrderInput }) },
    resolve: async (_root, args, ctx, info) => {
      const { order, tag } = toOrder(args.orderBy);
      const page = { ...toPageArgs(args, ctx.config, tag), order };
      const filter = toEnvironmentFilter(args.filter);
      const count = () => ctx.store.countEnvironments(filter);
      if (!wantsRows(info)) return toConnection<EnvironmentRow>({ rows: [], hasNextPage: false }, page, count, tag);
      // A page that shows each droplet's server count reads the counts with the droplets.
      const withCounts = selectedFields(info, ["edges", "node", "servers"]).has("totalCount");
      const result = await ctx.store.listEnvironments(filter, page, { serverCounts: withCounts });
      for (const row of result.rows) ctx.loaders.environment.prime(row.id, row);
      const { serverCounts: known } = result;
      if (known) {
        const counts = serverCounts(ctx, {});
        for (const [i, row] of result.rows.entries()) counts.prime(row.id, known[i]);
      }
      return toConnection(result, page, count, tag);
    },
  }),
  environment: t.field({
    type: EnvironmentRef,
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => ctx.loaders.environment.load(parseId(String(args.id), "Environment")),
  }),
}));
