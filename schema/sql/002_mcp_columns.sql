-- The MCP columns of upstream migration 20250607000001, with their CHECK constraints and indexes.
ALTER TABLE account_tool_instances
  ADD COLUMN IF NOT EXISTS mcp_server_type text NULL,
  ADD COLUMN IF NOT EXISTS mcp_endpoint_path text NULL,
  ADD COLUMN IF NOT EXISTS mcp_transport_type text NULL,
  ADD COLUMN IF NOT EXISTS mcp_server_capabilities jsonb NULL,
  ADD COLUMN IF NOT EXISTS mcp_discovery_metadata jsonb NULL;

DO $$ BEGIN
  ALTER TABLE account_tool_instances ADD CONSTRAINT account_tool_instances_mcp_server_type_check
    CHECK (mcp_server_type IS NULL OR mcp_server_type IN ('standard_tool','mcp_server'));
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DO $$ BEGIN
  ALTER TABLE account_tool_instances ADD CONSTRAINT account_tool_instances_mcp_transport_type_check
    CHECK (mcp_transport_type IS NULL OR mcp_transport_type IN ('stdio','sse','websocket'));
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DO $$ BEGIN
  ALTER TABLE account_tool_instances ADD CONSTRAINT chk_mcp_server_required_fields
    CHECK (mcp_server_type IS NULL OR mcp_server_type = 'standard_tool'
      OR (mcp_server_type = 'mcp_server' AND mcp_transport_type IS NOT NULL));
EXCEPTION WHEN duplicate_object THEN NULL; END $$;

CREATE INDEX IF NOT EXISTS idx_account_tool_instances_mcp_server_type
  ON account_tool_instances (mcp_server_type) WHERE mcp_server_type = 'mcp_server';
CREATE INDEX IF NOT EXISTS idx_mcp_server_discovery
  ON account_tool_instances (account_tool_environment_id, mcp_server_type, status_on_toolbox);
