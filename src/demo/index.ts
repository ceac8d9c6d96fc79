// `npm run demo`: the API on a fresh in-memory embedded database, with one simulated droplet agent
// per droplet (loopback addresses), heartbeats flowing in, and MCP servers deployed through the
// real deploy path, so every query, mutation and subscription works in one command.
import { randomBytes } from "node:crypto";
import type { Config } from "../config.ts";
import { openApp } from "../app/index.ts";
import { startBackground } from "../app/background.ts";
import { DEMO_USER_ID } from "../data/seed.ts";
import type { SqlStore } from "../data/sql-store.ts";
import { DtmaSimulator } from "./simulator.ts";
import { deployServer, operationDeps } from "../fleet/operations.ts";
import type { Logger } from "../log.ts";
import { freePort } from "./sample-servers.ts";
import { startServer, type HttpServer } from "../http/server.ts";

// Linux routes all of 127.0.0.0/8 to loopback, so each droplet can have its own address on the
// same DTMA port, like real droplets. Elsewhere only 127.0.0.1 is certain: one droplet.
const DROPLETS =
  process.platform === "linux"
    ? [
        { name: "Demo Toolbox NYC", region: "nyc3", ip: "127.0.0.2", servers: ["weather", "github-tools", "calendar"] },
        { name: "Demo Toolbox AMS", region: "ams3", ip: "127.0.0.3", servers: ["search", "notes"] },
        { name: "Demo Toolbox SFO", region: "sfo3", ip: "127.0.0.4", servers: ["translator"] },
      ]
    : [{ name: "Demo Toolbox", region: "nyc3", ip: "127.0.0.1", servers: ["weather", "search", "notes"] }];

export interface Demo {
  app: HttpServer;
  simulators: DtmaSimulator[];
  close(): Promise<void>;
}

export interface DemoOptions {
  heartbeatMs?: number;
  graphiqlHeaders?: Record<string, string>;
  /** The scripted faults: `weather` exits after `crashAfterSeconds`, `search` answers each request after `slowMs` (0: none). */
  crashAfterSeconds?: number;
  slowMs?: number;
}

/** The servers the scripted faults hit. */
export const DEMO_FAULTS = { crashes: "weather", slow: "search" } as const;

/** `config` should be the embedded store in memory, with a DTMA_API_KEY (main.ts arranges both). */
export async function startDemo(config: Config, logger: Logger, options: DemoOptions = {}): Promise<Demo> {
  const { heartbeatMs = 15_000, graphiqlHeaders, crashAfterSeconds = 60, slowMs = 1000 } = options;
  const services = await openApp(config, logger, { graphiqlHeaders });
  const app = await startServer(services);
  const store = services.store as SqlStore;
  const { dtma } = services;
  const heartbeatUrl = app.url.replace(/\/graphql$/, "/dtma/heartbeat");
  const simulators: DtmaSimulator[] = [];
  try {
    // A small catalog: the sample MCP servers the simulator runs, deployed from it below.
    const catalog = new Map<string, string>();
    for (const name of new Set(DROPLETS.flatMap((d) => d.servers))) {
      const [tool] = await store.db.query<{ id: string }>(
        `INSERT INTO tool_catalog (tool_name, name, description, categories, package_identifier, docker_image_url, version_info, default_config_template)
         VALUES ($1, $1, $2, ARRAY['demo', 'sample'], $3, $3, '{"default_version":"1.0.0","available_versions":["1.0.0","latest"]}', '{"containerPort":8080,"endpointPath":"/mcp","env":{"LOG_LEVEL":"info"}}')
         ON CONFLICT (tool_name) DO UPDATE SET description = EXCLUDED.description RETURNING id`,
        [name, `Sample MCP server "${name}" (the official SDK), run by the demo's simulated droplets`, `ghcr.io/example/${name}`],
      );
      catalog.set(name, tool.id);
    }
    for (const [i, d] of DROPLETS.entries()) {
      const token = randomBytes(32).toString("hex");
      const [env] = await store.db.query<{ id: string }>(
        `INSERT INTO account_tool_environments (user_id, name, description, status, public_ip_address, region_slug, size_slug, do_droplet_id, do_droplet_name, dtma_bearer_token)
         VALUES ($1, $2, 'Simulated by npm run demo', 'awaiting_heartbeat', $3::inet, $4, 's-2vcpu-4gb', $5, $6, $7) RETURNING id`,
        [DEMO_USER_ID, d.name, d.ip, d.region, 500000000 + i, `demo-${d.region}`, token],
      );
      const sim = await new DtmaSimulator({
        shape: "A",
        apiKey: config.dtma.apiKey,
        host: d.ip,
        port: config.dtmaPort,
        mcpServers: true,
        heartbeat: { url: heartbeatUrl, token, intervalMs: heartbeatMs },
      }).start();
      simulators.push(sim);
      for (const name of d.servers) {
        await deployServer(
          // The simulated droplets live on loopback addresses.
          operationDeps({ ...config, allowPrivateTargets: true }, { store, dtma, logger }),
          {
            environmentId: env.id,
            image: null,
            catalogToolId: catalog.get(name),
            name,
            env: [],
            ports: [{ containerPort: 8080, hostPort: await freePort(d.ip) }],
            transport: "sse",
            endpointPath: "/mcp",
          },
        );
      }
      await sim.sendHeartbeat();
    }
  } catch (error) {
    await Promise.all(simulators.map((s) => s.stop()));
    await app.close();
    throw error;
  }
  // Faults to watch the fleet look after itself (README, Demo): a crash recovered, a slow server flagged.
  for (const sim of simulators) {
    if (crashAfterSeconds > 0 && sim.containers.has(DEMO_FAULTS.crashes))
      sim.injectFault(DEMO_FAULTS.crashes, { kind: "exit-after", seconds: crashAfterSeconds });
    if (slowMs > 0 && sim.containers.has(DEMO_FAULTS.slow)) sim.injectFault(DEMO_FAULTS.slow, { kind: "slow", delayMs: slowMs });
  }
  const background = startBackground(services);
  return {
    app,
    simulators,
    async close() {
      await Promise.all(background.map((task) => task.stop()));
      await Promise.all(simulators.map((s) => s.stop()));
      await app.close();
    },
  };
}

export const DEMO_GUIDE = (url: string, config: Config) => `
  mcp-fleet demo: GraphiQL at ${url}

  ${DROPLETS.length} simulated droplet(s); every server is a real MCP server (official SDK).
  Try, in GraphiQL:
    subscription { serverStatusChanged { server { name } current { state health reachability recovery } source } }
  and in another tab:
    { servers(first: 10) { edges { node { id name status { state health reachability } recovery { status reason } endpoint } } } }
    mutation { stopServer(id: "<id>") { rawStatus } }
    mutation { testServerConnection(id: "<id>") { success latency tools serverInfo { name } } }

  The fleet looks after itself: "${DEMO_FAULTS.crashes}" crashes a minute from now and automatic recovery
  starts it again (source AUTO_RECOVERY); "${DEMO_FAULTS.slow}" answers slowly and the prober flags it SLOW.
  Inject a fault yourself (the simulator's control route, on the server's droplet), e.g.:
    curl -X POST http://${DROPLETS[0].ip}:${config.dtmaPort}/_sim/faults/${DROPLETS[0].servers.at(-1)} -d '{"kind":"crash"}'
  kinds: crash, hang, {"kind":"slow","delayMs":1000} (per request), {"kind":"exit-after","seconds":30}; droplets:
${DROPLETS.map((d) => `    ${d.ip}: ${d.servers.join(", ")}`).join("\n")}
  Ctrl-C stops everything.
`;
