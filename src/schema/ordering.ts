// Order inputs of the lists that a dashboard sorts: servers and droplets.
import type { EnvironmentOrderField, Order, ServerOrderField } from "../data/store.ts";
import { ENVIRONMENT_STATUS_SEVERITY, SERVER_HEALTH_SEVERITY, SERVER_STATE_SEVERITY } from "../domain/status.ts";
import { builder } from "./builder.ts";

const worstFirst = (values: readonly string[]) => `Ascending is worst first: ${values.join(", ")}.`;

const SERVER_ORDER_FIELDS: Record<ServerOrderField, { description: string }> = {
  NAME: { description: "Byte-wise by name; servers without a name last." },
  STATE: { description: worstFirst(SERVER_STATE_SEVERITY) },
  HEALTH: { description: `Health at the time of each request. ${worstFirst(SERVER_HEALTH_SEVERITY)}` },
  LAST_HEARTBEAT: { description: "By the last heartbeat from the droplet agent; servers that never sent one last." },
  UPTIME: { description: "Shortest first when ascending; servers that are not running (no uptime) last." },
  CREATED_AT: { description: "By creation time." },
  UPDATED_AT: { description: "By the time of the row's last write." },
};

const ENVIRONMENT_ORDER_FIELDS: Record<EnvironmentOrderField, { description: string }> = {
  NAME: { description: "Byte-wise by name; droplets without a name last." },
  STATUS: { description: worstFirst(ENVIRONMENT_STATUS_SEVERITY) },
  REGION: { description: "By region slug." },
  LAST_HEARTBEAT: { description: "By the agent's last heartbeat; droplets that never sent one last." },
  CREATED_AT: { description: "By creation time." },
  UPDATED_AT: { description: "By the time of the row's last write." },
};

const OrderDirectionEnum = builder.enumType("OrderDirection", { values: ["ASC", "DESC"] as const });

const ServerOrderFieldEnum = builder.enumType("ServerOrderField", { values: SERVER_ORDER_FIELDS });
const EnvironmentOrderFieldEnum = builder.enumType("EnvironmentOrderField", { values: ENVIRONMENT_ORDER_FIELDS });

export const ServerOrderInput = builder.inputType("ServerOrder", {
  description: "Ties are broken by id, in the same direction. Cursors belong to their field: a cursor of another order is refused.",
  fields: (t) => ({
    field: t.field({ type: ServerOrderFieldEnum, required: true }),
    direction: t.field({ type: OrderDirectionEnum, defaultValue: "ASC" }),
  }),
});

export const EnvironmentOrderInput = builder.inputType("EnvironmentOrder", {
  description: "Ties are broken by id, in the same direction. Cursors belong to their field: a cursor of another order is refused.",
  fields: (t) => ({
    field: t.field({ type: EnvironmentOrderFieldEnum, required: true }),
    direction: t.field({ type: OrderDirectionEnum, defaultValue: "ASC" }),
  }),
});

/** The store's order, and the tag its cursors carry (none for the default, name order). */
export function toOrder<F extends string>(
  input: { field: F; direction?: "ASC" | "DESC" | null } | null | undefined,
): {
  order: Order<F> | undefined;
  tag: string | undefined;
} {
  if (!input) return { order: undefined, tag: undefined };
  return { order: { field: input.field, descending: input.direction === "DESC" }, tag: input.field === "NAME" ? undefined : input.field };
}
