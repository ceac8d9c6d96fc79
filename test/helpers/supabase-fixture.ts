// Fixture rows written through supabase-js (service role), for the live Supabase contract run.
import type { SupabaseClient } from "@supabase/supabase-js";
import { USER_A, type Fixture } from "../../fixtures/fleet.ts";

export function supabaseFixture(client: SupabaseClient): Fixture & { cleanup(): Promise<void> } {
  const environments: string[] = [];
  const tools: string[] = [];
  const must = <T>(r: { data: T | null; error: { message: string } | null }) => {
    if (r.error) throw new Error(r.error.message);
    return r.data as T;
  };
  return {
    async environment(spec) {
      const row = must(
        await client
          .from("account_tool_environments")
          .insert({
            user_id: USER_A,
            name: spec.name,
            status: spec.status ?? "active",
            public_ip_address: spec.publicIp ?? null,
            private_ip_address: spec.privateIp ?? null,
            region_slug: "nyc3",
            size_slug: "s-1vcpu-1gb",
            image_slug: "ubuntu-22-04-x64",
            dtma_health_details_json: spec.metrics ?? null,
            do_droplet_id: spec.dropletId ?? null,
            dtma_bearer_token: `secret-token-${crypto.randomUUID()}`,
          })
          .select("id")
          .single<{ id: string }>(),
      );
      environments.push(row.id);
      return row.id;
    },
    async server(spec) {
      const toolName = `contract-tool-${crypto.randomUUID()}`;
      const tool = must(
        await client
          .from("tool_catalog")
          .insert({ tool_name: toolName, name: toolName, package_identifier: "img", docker_image_url: "img" })
          .select("id")
          .single<{ id: string }>(),
      );
      tools.push(tool.id);
      const row = must(
        await client
          .from("account_tool_instances")
          .insert({
            account_tool_environment_id: spec.env,
            tool_catalog_id: tool.id,
            status_on_toolbox: spec.status,
            instance_name_on_toolbox: spec.name,
            last_heartbeat_from_dtma: spec.heartbeatSecondsAgo == null ? null : new Date(Date.now() - spec.heartbeatSecondsAgo * 1000).toISOString(),
            last_started_at: spec.startedSecondsAgo == null ? null : new Date(Date.now() - spec.startedSecondsAgo * 1000).toISOString(),
            mcp_server_type: spec.serverType === undefined ? "mcp_server" : spec.serverType,
            mcp_transport_type: spec.transport === undefined ? "sse" : spec.transport,
            port_mapping_json: spec.portMapping ?? null,
            instance_error_message: spec.error ?? null,
            mcp_endpoint_path: "/mcp",
          })
          .select("id")
          .single<{ id: string }>(),
      );
      return row.id;
    },
    async cleanup() {
      if (environments.length) await client.from("account_tool_environments").delete().in("id", environments);
      if (tools.length) await client.from("tool_catalog").delete().in("id", tools);
    },
  };
}
