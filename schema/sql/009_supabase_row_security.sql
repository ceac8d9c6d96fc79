-- On Supabase, every table in `public` is reachable through PostgREST with the project's anon key
-- unless row level security says otherwise. Upstream guards its own tables; these are mcp-fleet's.
-- Owners may read (and, for connection tests, record) rows of their own droplets' servers; the
-- service role bypasses RLS as always. Elsewhere (plain Postgres, PGlite: no auth.uid()) RLS stays
-- off and nothing changes.

-- The deletion log is written by triggers as whoever deletes a server: as its definer instead, so
-- RLS on the log never blocks a permitted delete.
ALTER FUNCTION mcp_fleet_remember_removed_server() SECURITY DEFINER SET search_path FROM CURRENT;
ALTER FUNCTION mcp_fleet_remember_removed_environment_servers() SECURITY DEFINER SET search_path FROM CURRENT;
ALTER FUNCTION mcp_fleet_forget_removed_server() SECURITY DEFINER SET search_path FROM CURRENT;

DO $$
BEGIN
  IF to_regprocedure('auth.uid()') IS NULL THEN RETURN; END IF;

  ALTER TABLE mcp_connection_tests ENABLE ROW LEVEL SECURITY;
  DROP POLICY IF EXISTS mcp_fleet_owner ON mcp_connection_tests;
  CREATE POLICY mcp_fleet_owner ON mcp_connection_tests
    USING (EXISTS (SELECT 1 FROM account_tool_instances i JOIN account_tool_environments e ON e.id = i.account_tool_environment_id
                   WHERE i.id = mcp_connection_tests.account_tool_instance_id AND e.user_id = auth.uid()))
    WITH CHECK (EXISTS (SELECT 1 FROM account_tool_instances i JOIN account_tool_environments e ON e.id = i.account_tool_environment_id
                   WHERE i.id = mcp_connection_tests.account_tool_instance_id AND e.user_id = auth.uid()));

  ALTER TABLE mcp_fleet_removed_servers ENABLE ROW LEVEL SECURITY;
  DROP POLICY IF EXISTS mcp_fleet_owner_reads ON mcp_fleet_removed_servers;
  CREATE POLICY mcp_fleet_owner_reads ON mcp_fleet_removed_servers FOR SELECT USING (user_id = auth.uid());

  -- mcp_fleet_migrations: nobody but the service role has business there.
  ALTER TABLE mcp_fleet_migrations ENABLE ROW LEVEL SECURITY;
END $$;
