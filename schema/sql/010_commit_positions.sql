-- Gap-free resume: each fleet row records the transaction that last wrote it (a 64-bit xid8, which
-- never wraps). A client's cursor holds a database snapshot; a change is replayed exactly when its
-- transaction is not visible in that snapshot, i.e. committed after the cursor was issued, however
-- early the transaction began (updated_at = now() is the transaction's start, which is not).
ALTER TABLE account_tool_instances ADD COLUMN IF NOT EXISTS mcp_fleet_xid xid8;
ALTER TABLE account_tool_environments ADD COLUMN IF NOT EXISTS mcp_fleet_xid xid8;
ALTER TABLE mcp_fleet_removed_servers ADD COLUMN IF NOT EXISTS mcp_fleet_xid xid8;

CREATE OR REPLACE FUNCTION mcp_fleet_stamp_xid() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.mcp_fleet_xid := pg_current_xact_id();
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS mcp_fleet_stamp_xid ON account_tool_instances;
CREATE TRIGGER mcp_fleet_stamp_xid BEFORE INSERT OR UPDATE ON account_tool_instances
  FOR EACH ROW EXECUTE FUNCTION mcp_fleet_stamp_xid();
DROP TRIGGER IF EXISTS mcp_fleet_stamp_xid ON account_tool_environments;
CREATE TRIGGER mcp_fleet_stamp_xid BEFORE INSERT OR UPDATE ON account_tool_environments
  FOR EACH ROW EXECUTE FUNCTION mcp_fleet_stamp_xid();
DROP TRIGGER IF EXISTS mcp_fleet_stamp_xid ON mcp_fleet_removed_servers;
CREATE TRIGGER mcp_fleet_stamp_xid BEFORE INSERT OR UPDATE ON mcp_fleet_removed_servers
  FOR EACH ROW EXECUTE FUNCTION mcp_fleet_stamp_xid();

-- Rows written before this migration have no xid: they are older than any cursor.
CREATE INDEX IF NOT EXISTS idx_mcp_fleet_servers_xid ON account_tool_instances (mcp_fleet_xid) WHERE mcp_fleet_xid IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_mcp_fleet_environments_xid ON account_tool_environments (mcp_fleet_xid) WHERE mcp_fleet_xid IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_mcp_fleet_removed_servers_xid ON mcp_fleet_removed_servers (mcp_fleet_xid) WHERE mcp_fleet_xid IS NOT NULL;

-- Deleted droplets, remembered for a week like deleted servers, so environmentChanged can replay
-- their removal.
CREATE TABLE IF NOT EXISTS mcp_fleet_removed_environments (
  account_tool_environment_id uuid PRIMARY KEY,
  user_id uuid,
  removed_at timestamptz NOT NULL DEFAULT now(),
  mcp_fleet_xid xid8
);
CREATE INDEX IF NOT EXISTS idx_mcp_fleet_removed_environments_removed_at ON mcp_fleet_removed_environments (removed_at, account_tool_environment_id);
CREATE INDEX IF NOT EXISTS idx_mcp_fleet_removed_environments_xid ON mcp_fleet_removed_environments (mcp_fleet_xid) WHERE mcp_fleet_xid IS NOT NULL;
DROP TRIGGER IF EXISTS mcp_fleet_stamp_xid ON mcp_fleet_removed_environments;
CREATE TRIGGER mcp_fleet_stamp_xid BEFORE INSERT OR UPDATE ON mcp_fleet_removed_environments
  FOR EACH ROW EXECUTE FUNCTION mcp_fleet_stamp_xid();

CREATE OR REPLACE FUNCTION mcp_fleet_remember_removed_environment() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO mcp_fleet_removed_environments AS r (account_tool_environment_id, user_id) VALUES (OLD.id, OLD.user_id)
  ON CONFLICT (account_tool_environment_id) DO UPDATE SET removed_at = now(), user_id = EXCLUDED.user_id;
  DELETE FROM mcp_fleet_removed_environments WHERE removed_at < now() - interval '7 days';
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS mcp_fleet_remember_removed_environment ON account_tool_environments;
CREATE TRIGGER mcp_fleet_remember_removed_environment AFTER DELETE ON account_tool_environments
  FOR EACH ROW EXECUTE FUNCTION mcp_fleet_remember_removed_environment();

-- A droplet that comes back under the same id is no longer removed.
CREATE OR REPLACE FUNCTION mcp_fleet_forget_removed_environment() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM mcp_fleet_removed_environments WHERE account_tool_environment_id = NEW.id;
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS mcp_fleet_forget_removed_environment ON account_tool_environments;
CREATE TRIGGER mcp_fleet_forget_removed_environment AFTER INSERT ON account_tool_environments
  FOR EACH ROW EXECUTE FUNCTION mcp_fleet_forget_removed_environment();

-- As in 009: the log is written as its definer, and on Supabase owners read only their own rows.
ALTER FUNCTION mcp_fleet_remember_removed_environment() SECURITY DEFINER SET search_path FROM CURRENT;
ALTER FUNCTION mcp_fleet_forget_removed_environment() SECURITY DEFINER SET search_path FROM CURRENT;
DO $$
BEGIN
  IF to_regprocedure('auth.uid()') IS NULL THEN RETURN; END IF;
  ALTER TABLE mcp_fleet_removed_environments ENABLE ROW LEVEL SECURITY;
  DROP POLICY IF EXISTS mcp_fleet_owner_reads ON mcp_fleet_removed_environments;
  CREATE POLICY mcp_fleet_owner_reads ON mcp_fleet_removed_environments FOR SELECT USING (user_id = auth.uid());
END $$;
