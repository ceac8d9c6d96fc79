// CatalogTool: an entry of upstream's shared tool catalog (tool_catalog), and the root fields that
// read it. Every signed-in user reads the public entries (upstream's policy) and their own private
// ones (raw-image deploys); the service role manages it, outside this API.
import type { CatalogToolRow } from "../data/rows.ts";
import { requiredSecrets as requiredSecretNames } from "../fleet/catalog.ts";
import { builder } from "./builder.ts";
import type { Context } from "./context.ts";
import { parseId } from "./ids.ts";
import { toConnection, toPageArgs } from "./pagination.ts";

export const CatalogToolRef = builder.objectRef<CatalogToolRow>("CatalogTool");

const CatalogStatusEnum = builder.enumType("CatalogToolStatus", {
  values: ["available", "beta", "experimental", "deprecated", "archived"] as const,
});

builder.node(CatalogToolRef, {
  description: "A tool of the catalog (tool_catalog): what can be deployed, at which versions, with which configuration.",
  id: { resolve: (c) => c.id, parse: (id) => parseId(id, "CatalogTool") },
  loadMany: (ids, ctx: Context) => ids.map((id) => ctx.loaders.catalogTool.load(id)),
  fields: (t) => ({
    uuid: t.field({ type: "UUID", resolve: (c) => c.id }),
    name: t.exposeString("name"),
    description: t.exposeString("description", { nullable: true }),
    developer: t.exposeString("developer", { nullable: true }),
    categories: t.exposeStringList("categories"),
    iconUrl: t.exposeString("iconUrl", { nullable: true }),
    documentationUrl: t.exposeString("documentationUrl", { nullable: true }),
    packaging: t.exposeString("packaging", { description: "docker_image (deployable here), or another upstream packaging type." }),
    packageIdentifier: t.exposeString("packageIdentifier", { description: "The image, without a version." }),
    defaultVersion: t.exposeString("defaultVersion"),
    versions: t.exposeStringList("versions"),
    defaultConfigTemplate: t.field({
      type: "JSON",
      nullable: true,
      description: "Merged into a deploy's configuration: env (an object or NAME=value list), containerPort, transport, endpointPath.",
      resolve: (c) => c.defaultConfigTemplate,
    }),
    requiredSecrets: t.stringList({
      description: "Environment variables a deploy must give (from required_secrets_schema).",
      resolve: (c) => requiredSecretNames(c.requiredSecretsSchema),
    }),
    requiredSecretsSchema: t.field({ type: "JSON", nullable: true, resolve: (c) => c.requiredSecretsSchema }),
    resourceRequirements: t.field({ type: "JSON", nullable: true, resolve: (c) => c.resourceRequirements }),
    status: t.field({ type: CatalogStatusEnum, resolve: (c) => c.status as "available" }),
    isPublic: t.exposeBoolean("isPublic", { description: "False for a private entry (a raw-image deploy's, seen only by its owner)." }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" }),
  }),
});

const CatalogFilterInput = builder.inputType("CatalogFilter", {
  fields: (t) => ({
    search: t.string({ description: "In the name, description or image." }),
    categories: t.stringList({ description: "Entries in any of these categories." }),
    statuses: t.field({ type: [CatalogStatusEnum] }),
  }),
});

builder.queryFields((t) => ({
  catalog: t.connection({
    type: CatalogToolRef,
    description: "The tool catalog in name order: public entries, and your own private ones.",
    args: { filter: t.arg({ type: CatalogFilterInput }) },
    resolve: async (_root, args, ctx) => {
      const page = toPageArgs(args, ctx.config);
      const filter = {
        search: args.filter?.search ?? undefined,
        categories: args.filter?.categories ?? undefined,
        statuses: args.filter?.statuses ?? undefined,
      };
      const result = await ctx.store.listCatalog(filter, page);
      for (const row of result.rows) ctx.loaders.catalogTool.prime(row.id, row);
      return toConnection(result, page, () => ctx.store.countCatalog(filter));
    },
  }),
}));
