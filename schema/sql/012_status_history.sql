-- Status history: every state or health transition of a server, and every status change of a
-- droplet, once each. Written by the live fleet of every replica; the unique keys make the copies
-- of one transition (same row version or threshold moment) one row. Pruned past the retention as
-- new rows arrive (STATUS_HISTORY_DAYS).
CREATE TABLE IF NOT EXISTS mcp_fleet_status_history (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account_tool_instance_id uuid NOT NULL,
  account_tool_environment_id uuid NOT NULL,
  user_id uuid,
  at timestamptz NOT NULL,
  previous_state text,
  previous_health text,
  state text NOT NULL,
  health text NOT NULL,
  source text NOT NULL,
  CONSTRAINT uq_mcp_fleet_status_history UNIQUE (account_tool_instance_id, at, state, health)
);
CREATE INDEX IF NOT EXISTS idx_mcp_fleet_status_history_server ON mcp_fleet_status_history (account_tool_instance_id, at DESC, id DESC);
CREATE INDEX IF NOT EXISTS idx_mcp_fleet_status_history_at ON mcp_fleet_status_history (at);

CREATE TABLE IF NOT EXISTS mcp_fleet_environment_history (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account_tool_environment_id uuid NOT NULL,
  user_id uuid,
  at timestamptz NOT NULL,
  previous_status text,
  status text NOT NULL,
  source text NOT NULL,
  CONSTRAINT uq_mcp_fleet_environment_history UNIQUE (account_tool_environment_id, at, status)
);
CREATE INDEX IF NOT EXISTS idx_mcp_fleet_environment_history_env ON mcp_fleet_environment_history (account_tool_environment_id, at DESC, id DESC);
CREATE INDEX IF NOT EXISTS idx_mcp_fleet_environment_history_at ON mcp_fleet_environment_history (at);

DO $$
BEGIN
  IF to_regprocedure('auth.uid()') IS NULL THEN RETURN; END IF;
  ALTER TABLE mcp_fleet_status_history ENABLE ROW LEVEL SECURITY;
  DROP POLICY IF EXISTS mcp_fleet_owner_reads ON mcp_fleet_status_history;
  CREATE POLICY mcp_fleet_owner_reads ON mcp_fleet_status_history FOR SELECT USING (user_id = auth.uid());
  ALTER TABLE mcp_fleet_environment_history ENABLE ROW LEVEL SECURITY;
  DROP POLICY IF EXISTS mcp_fleet_owner_reads ON mcp_fleet_environment_history;
  CREATE POLICY mcp_fleet_owner_reads ON mcp_fleet_environment_history FOR SELECT USING (user_id = auth.uid());
END $$;
