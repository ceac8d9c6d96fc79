// mcp-fleet with its live fleet, for bench:live; reports subscribers and heap over IPC.
import { answerStats, serveMcpFleet } from "./processes.ts";

const services = await serveMcpFleet();
answerStats(() => services.live!.serverEvents.size);
