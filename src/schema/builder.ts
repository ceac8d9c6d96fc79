import SchemaBuilder from "@pothos/core";
import { GraphQLScalarType } from "graphql";
import RelayPlugin, { decodeGlobalID } from "@pothos/plugin-relay";
import { badInput } from "./errors.ts";
import { DateTimeResolver, IPResolver, JSONResolver, UUIDResolver } from "graphql-scalars";
import type { Context } from "./context.ts";

export const builder = new SchemaBuilder<{
  Context: Context;
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    JSON: { Input: unknown; Output: unknown };
    IPAddress: { Input: string; Output: string };
    UUID: { Input: string; Output: string };
  };
  Connection: { totalCount: () => Promise<number> };
  DefaultFieldNullability: false;
  DefaultEdgesNullability: false;
  DefaultNodeNullability: false;
}>({
  plugins: [RelayPlugin],
  defaultFieldNullability: false,
  relay: {
    clientMutationId: "omit",
    cursorType: "String",
    edgesFieldOptions: { nullable: false },
    nodeFieldOptions: { nullable: false },
    // node(id)/nodes(ids): a malformed id is the client's mistake (BAD_USER_INPUT), not ours.
    decodeGlobalID: (globalID) => {
      try {
        const decoded = decodeGlobalID(globalID);
        if (decoded.typename && decoded.id) return decoded;
      } catch {
        // reported below
      }
      throw badInput(`"${globalID}" is not a valid id`, "id");
    },
  },
});

builder.addScalarType("DateTime", DateTimeResolver, {});
builder.addScalarType("JSON", JSONResolver, {});
// Input is validated; output comes from inet columns (valid by construction), so it is not matched
// against the IPv4 and IPv6 patterns again for every droplet of every page.
builder.addScalarType(
  "IPAddress",
  new GraphQLScalarType({ ...IPResolver.toConfig(), name: "IPAddress", description: "An IPv4 or IPv6 address.", serialize: (value) => String(value) }),
  {},
);
builder.addScalarType("UUID", UUIDResolver, {});

builder.globalConnectionField("totalCount", (t) =>
  t.int({
    description: "How many items match the filter, across all pages. Costs one extra statement, only when asked.",
    resolve: (parent) => parent.totalCount(),
  }),
);

builder.queryType({});
builder.mutationType({});
