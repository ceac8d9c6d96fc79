-- What wrote a fleet row, so its status history (and change events) can say: a lifecycle action
-- through this API, a droplet agent's report, the droplet monitor, or anything else (DATABASE).
-- The writer names itself for its own transaction: the SQL store with the setting
-- mcp_fleet.write_source (set_config(..., true), local to the transaction), the Supabase store with
-- the request header x-mcp-fleet-source, which PostgREST exposes as request.headers. Every other
-- write is stamped DATABASE, so a tag never outlives the write that set it.
ALTER TABLE account_tool_instances ADD COLUMN IF NOT EXISTS mcp_fleet_write_source text;
ALTER TABLE account_tool_environments ADD COLUMN IF NOT EXISTS mcp_fleet_write_source text;

CREATE OR REPLACE FUNCTION mcp_fleet_stamp_write_source() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  source text := nullif(current_setting('mcp_fleet.write_source', true), '');
BEGIN
  IF source IS NULL THEN
    BEGIN
      source := nullif(current_setting('request.headers', true), '')::json ->> 'x-mcp-fleet-source';
    EXCEPTION WHEN others THEN
      source := NULL;
    END;
  END IF;
  NEW.mcp_fleet_write_source := CASE WHEN source IN ('LIFECYCLE', 'AGENT_REPORT', 'MONITOR') THEN source ELSE 'DATABASE' END;
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS mcp_fleet_stamp_write_source ON account_tool_instances;
CREATE TRIGGER mcp_fleet_stamp_write_source BEFORE INSERT OR UPDATE ON account_tool_instances
  FOR EACH ROW EXECUTE FUNCTION mcp_fleet_stamp_write_source();
DROP TRIGGER IF EXISTS mcp_fleet_stamp_write_source ON account_tool_environments;
CREATE TRIGGER mcp_fleet_stamp_write_source BEFORE INSERT OR UPDATE ON account_tool_environments
  FOR EACH ROW EXECUTE FUNCTION mcp_fleet_stamp_write_source();
