// Type references shared across schema files, so the files can refer to each other freely.
import type { EnvironmentRow, ServerRow } from "../data/rows.ts";
import { builder } from "./builder.ts";

export const ServerRef = builder.objectRef<ServerRow>("MCPServer");
export const EnvironmentRef = builder.objectRef<EnvironmentRow>("Environment");
