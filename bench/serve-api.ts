// mcp-fleet itself, on Postgres, for the benchmark (run in its own process).
import { serveMcpFleet } from "./processes.ts";

await serveMcpFleet();
