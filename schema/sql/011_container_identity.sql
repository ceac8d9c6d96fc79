-- The container a server's row created: the droplet agent's container id from its deploy answer.
-- Lifecycle calls address containers by name; a row acts on the container of that name only when it
-- is this one, so a row can never start, stop or delete another row's container.
ALTER TABLE account_tool_instances ADD COLUMN IF NOT EXISTS mcp_fleet_container_id text;
