-- Deleted MCP servers, remembered for a week so a subscription resumed with `since` can replay
-- their removal (rows that are gone cannot be found by updated_at). One small row per deletion,
-- with the droplet's owner at the time, for tenant scoping. Older entries are pruned as new ones
-- are written; a `since` older than the window is refused by the API.
CREATE TABLE IF NOT EXISTS mcp_fleet_removed_servers (
  account_tool_instance_id uuid PRIMARY KEY,
  account_tool_environment_id uuid NOT NULL,
  user_id uuid,
  removed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS idx_mcp_fleet_removed_servers_removed_at ON mcp_fleet_removed_servers (removed_at, account_tool_instance_id);

CREATE OR REPLACE FUNCTION mcp_fleet_remember_removed_server() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.mcp_server_type IS NULL THEN RETURN NULL; END IF; -- not an MCP server: never listed
  -- Within a cascade from its droplet the droplet row is already gone; its own trigger (below)
  -- has recorded the owner then.
  INSERT INTO mcp_fleet_removed_servers AS r (account_tool_instance_id, account_tool_environment_id, user_id)
    VALUES (OLD.id, OLD.account_tool_environment_id,
            (SELECT e.user_id FROM account_tool_environments e WHERE e.id = OLD.account_tool_environment_id))
  ON CONFLICT (account_tool_instance_id) DO UPDATE SET removed_at = now(), user_id = coalesce(EXCLUDED.user_id, r.user_id);
  DELETE FROM mcp_fleet_removed_servers WHERE removed_at < now() - interval '7 days';
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION mcp_fleet_remember_removed_environment_servers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO mcp_fleet_removed_servers AS r (account_tool_instance_id, account_tool_environment_id, user_id)
    SELECT i.id, i.account_tool_environment_id, OLD.user_id FROM account_tool_instances i
    WHERE i.account_tool_environment_id = OLD.id AND i.mcp_server_type IS NOT NULL
  ON CONFLICT (account_tool_instance_id) DO UPDATE SET removed_at = now(), user_id = EXCLUDED.user_id;
  RETURN OLD;
END $$;

DROP TRIGGER IF EXISTS mcp_fleet_remember_removed ON account_tool_instances;
CREATE TRIGGER mcp_fleet_remember_removed AFTER DELETE ON account_tool_instances
  FOR EACH ROW EXECUTE FUNCTION mcp_fleet_remember_removed_server();
DROP TRIGGER IF EXISTS mcp_fleet_remember_removed ON account_tool_environments;
CREATE TRIGGER mcp_fleet_remember_removed BEFORE DELETE ON account_tool_environments
  FOR EACH ROW EXECUTE FUNCTION mcp_fleet_remember_removed_environment_servers();

-- A server that comes back under the same id is no longer removed.
CREATE OR REPLACE FUNCTION mcp_fleet_forget_removed_server() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM mcp_fleet_removed_servers WHERE account_tool_instance_id = NEW.id;
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS mcp_fleet_forget_removed ON account_tool_instances;
CREATE TRIGGER mcp_fleet_forget_removed AFTER INSERT ON account_tool_instances
  FOR EACH ROW EXECUTE FUNCTION mcp_fleet_forget_removed_server();
