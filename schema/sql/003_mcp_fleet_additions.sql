-- mcp-fleet's own additions. Nullable columns only: upstream readers and writers are unaffected.

-- The seed's design reads a private address for each droplet.
ALTER TABLE account_tool_environments ADD COLUMN IF NOT EXISTS private_ip_address inet NULL;

-- When the instance last entered a running state, so uptime is real, not heartbeat age.
-- Kept by a trigger, so every writer (DTMA heartbeat, upstream code, this API) keeps it right.
ALTER TABLE account_tool_instances ADD COLUMN IF NOT EXISTS last_started_at timestamptz NULL;

CREATE OR REPLACE FUNCTION mcp_fleet_track_started_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status_on_toolbox IN ('running','active')
     AND (TG_OP = 'INSERT' OR OLD.status_on_toolbox NOT IN ('running','active')) THEN
    NEW.last_started_at = COALESCE(NEW.last_started_at, now());
    IF TG_OP = 'UPDATE' AND NEW.last_started_at IS NOT DISTINCT FROM OLD.last_started_at THEN
      NEW.last_started_at = now();
    END IF;
  END IF;
  RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS mcp_fleet_track_started_at ON account_tool_instances;
CREATE TRIGGER mcp_fleet_track_started_at BEFORE INSERT OR UPDATE OF status_on_toolbox ON account_tool_instances
  FOR EACH ROW EXECUTE FUNCTION mcp_fleet_track_started_at();

-- The list query: MCP rows in (name, id) order, for keyset pagination.
CREATE INDEX IF NOT EXISTS idx_mcp_fleet_servers_by_name
  ON account_tool_instances (instance_name_on_toolbox COLLATE "C", id) WHERE mcp_server_type IS NOT NULL;
