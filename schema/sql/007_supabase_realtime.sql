-- On Supabase, the change feed comes from Realtime `postgres_changes`, which only sees tables in
-- the `supabase_realtime` publication. Elsewhere (plain Postgres, PGlite) there is no such
-- publication and this does nothing.
DO $$
DECLARE t text;
BEGIN
  IF EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'supabase_realtime') THEN
    FOREACH t IN ARRAY ARRAY['account_tool_instances', 'account_tool_environments', 'mcp_connection_tests'] LOOP
      BEGIN
        EXECUTE format('ALTER PUBLICATION supabase_realtime ADD TABLE %I', t);
      EXCEPTION WHEN duplicate_object THEN NULL; -- already published
      END;
    END LOOP;
  END IF;
END $$;
