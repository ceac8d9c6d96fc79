-- The change feed: every insert, update and delete on the fleet tables notifies 'mcp_fleet_changes'
-- with a small payload; listeners reload the rows themselves (payloads stay far below 8000 bytes).
CREATE OR REPLACE FUNCTION mcp_fleet_notify_instance_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE r record; -- not %ROWTYPE: that would resolve through the writer's search_path
BEGIN
  IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
  PERFORM pg_notify('mcp_fleet_changes', json_build_object(
    'table', TG_TABLE_NAME, 'op', TG_OP, 'id', r.id, 'environment_id', r.account_tool_environment_id)::text);
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION mcp_fleet_notify_environment_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
  PERFORM pg_notify('mcp_fleet_changes', json_build_object(
    'table', TG_TABLE_NAME, 'op', TG_OP, 'id', r.id, 'environment_id', r.id)::text);
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS mcp_fleet_notify_change ON account_tool_instances;
CREATE TRIGGER mcp_fleet_notify_change AFTER INSERT OR UPDATE OR DELETE ON account_tool_instances
  FOR EACH ROW EXECUTE FUNCTION mcp_fleet_notify_instance_change();
DROP TRIGGER IF EXISTS mcp_fleet_notify_change ON account_tool_environments;
CREATE TRIGGER mcp_fleet_notify_change AFTER INSERT OR UPDATE OR DELETE ON account_tool_environments
  FOR EACH ROW EXECUTE FUNCTION mcp_fleet_notify_environment_change();

-- Resuming a subscription reads rows changed since a cursor.
CREATE INDEX IF NOT EXISTS idx_mcp_fleet_servers_updated_at ON account_tool_instances (updated_at) WHERE mcp_server_type IS NOT NULL;
