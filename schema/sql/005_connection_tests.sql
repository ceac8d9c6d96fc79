-- History of MCP connection tests (mcp-fleet's own table; upstream keeps none).
CREATE TABLE IF NOT EXISTS mcp_connection_tests (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  account_tool_instance_id uuid NOT NULL REFERENCES account_tool_instances(id) ON DELETE CASCADE,
  success boolean NOT NULL,
  error_kind text,
  error_message text,
  http_status int,
  latency_ms int NOT NULL,
  phases jsonb NOT NULL DEFAULT '[]',
  transport text,
  endpoint text,
  protocol_version text,
  server_info jsonb,
  capabilities text[] NOT NULL DEFAULT '{}',
  tools text[] NOT NULL DEFAULT '{}',
  tested_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS idx_mcp_connection_tests_server ON mcp_connection_tests (account_tool_instance_id, tested_at DESC, id DESC);

-- New results reach every replica's subscribers through the same change feed.
CREATE OR REPLACE FUNCTION mcp_fleet_notify_connection_test() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('mcp_fleet_changes', json_build_object(
    'table', TG_TABLE_NAME, 'op', TG_OP, 'id', NEW.id, 'environment_id', NULL)::text);
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS mcp_fleet_notify_change ON mcp_connection_tests;
CREATE TRIGGER mcp_fleet_notify_change AFTER INSERT ON mcp_connection_tests
  FOR EACH ROW EXECUTE FUNCTION mcp_fleet_notify_connection_test();
