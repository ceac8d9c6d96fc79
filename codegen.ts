import type { CodegenConfig } from "@graphql-codegen/cli";

// Types the documents in schema/operations against the checked-in schema.
const config: CodegenConfig = {
  schema: "schema/schema.graphql",
  documents: ["schema/operations/*.graphql"],
  generates: {
    "schema/operations/generated/": {
      preset: "client",
      config: {
        scalars: { DateTime: "string", JSON: "unknown", IPAddress: "string", UUID: "string" },
        enumsAsTypes: true,
        useTypeImports: true,
      },
      presetConfig: { fragmentMasking: false },
    },
  },
};
export default config;
