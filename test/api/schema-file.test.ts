// schema/schema.graphql is printed from the code; a stale copy fails here.
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { printedSchema } from "../../src/schema/index.ts";

describe("schema/schema.graphql", () => {
  it("is the schema the code builds (run `npm run print-schema` after changing it)", async () => {
    const checkedIn = await readFile(new URL("../../schema/schema.graphql", import.meta.url), "utf8");
    expect(checkedIn === printedSchema(), "schema/schema.graphql is stale: run `npm run print-schema && npm run codegen`").toBe(true);
  });

  it("never exposes the DTMA bearer token", () => {
    expect(printedSchema()).not.toMatch(/bearer|dtma_bearer_token|dtmaBearerToken/i);
  });

  it("keeps every upstream enum value", () => {
    const schema = printedSchema();
    for (const value of [
      "pending_install",
      "error_uninstall",
      "pending_config",
      "error_runtime",
      "pending_delete",
      "awaiting_heartbeat",
      "error_deprovisioning",
      "scaling",
    ]) {
      expect(schema).toContain(`  ${value}\n`);
    }
  });
});
