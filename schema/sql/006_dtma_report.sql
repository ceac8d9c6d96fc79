-- Applies a DTMA report (a status refresh or a heartbeat) to an environment and its instances in
-- one statement. A function so the Supabase store can call it too (PostgREST rpc), atomically.
-- p_instances: [{"id": uuid|null, "name": text|null, "status": account_tool_installation_status_enum value}]
CREATE OR REPLACE FUNCTION mcp_fleet_apply_dtma_report(
  p_environment_id uuid, p_at timestamptz, p_version text, p_metrics jsonb, p_instances jsonb, p_missing_message text
) RETURNS int LANGUAGE sql AS $$
  WITH env AS (
    UPDATE account_tool_environments SET last_heartbeat_at = p_at,
      dtma_last_known_version = COALESCE(p_version, dtma_last_known_version),
      dtma_health_details_json = COALESCE(p_metrics, dtma_health_details_json),
      status = CASE WHEN status IN ('provisioning','awaiting_heartbeat','unresponsive') THEN 'active'::account_tool_environment_status_enum ELSE status END
    WHERE id = p_environment_id RETURNING id),
  reported AS (SELECT * FROM jsonb_to_recordset(p_instances) AS r(id uuid, name text, status text)),
  matched AS (
    UPDATE account_tool_instances s SET status_on_toolbox = r.status::account_tool_installation_status_enum,
      last_heartbeat_from_dtma = p_at,
      instance_error_message = CASE WHEN r.status LIKE 'error%' THEN s.instance_error_message ELSE NULL END
    FROM reported r, env
    WHERE s.account_tool_environment_id = env.id AND (s.id = r.id OR (r.id IS NULL AND s.instance_name_on_toolbox = r.name))
    RETURNING s.id),
  missing AS (
    UPDATE account_tool_instances s SET status_on_toolbox = 'error', instance_error_message = p_missing_message
    FROM env
    WHERE p_missing_message IS NOT NULL AND s.account_tool_environment_id = env.id AND s.status_on_toolbox IN ('running','active','starting')
      AND NOT EXISTS (SELECT 1 FROM reported r WHERE s.id = r.id OR (r.id IS NULL AND s.instance_name_on_toolbox = r.name))
    RETURNING s.id)
  SELECT ((SELECT count(*) FROM matched) + (SELECT count(*) FROM missing))::int
$$;
