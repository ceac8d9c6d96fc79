-- The newest entries of many servers' (or droplets') status history in one call, at most
-- `per_key` each, before `before_at` when given: one index range per key. Both stores read
-- through these, the Supabase store as one PostgREST RPC (PostgREST has no window functions,
-- and history has no foreign key to embed through: it outlives what it describes). They run as
-- the caller, so row-level security applies.
CREATE OR REPLACE FUNCTION mcp_fleet_status_history_of(server_ids uuid[], per_key int, before_at timestamptz DEFAULT NULL)
RETURNS SETOF mcp_fleet_status_history LANGUAGE sql STABLE AS $$
  SELECT h.* FROM unnest(server_ids) AS k(id)
  CROSS JOIN LATERAL (
    SELECT * FROM mcp_fleet_status_history s
    WHERE s.account_tool_instance_id = k.id AND (before_at IS NULL OR s.at < before_at)
    ORDER BY s.at DESC, s.id DESC LIMIT per_key) h
$$;

CREATE OR REPLACE FUNCTION mcp_fleet_environment_history_of(environment_ids uuid[], per_key int, before_at timestamptz DEFAULT NULL)
RETURNS SETOF mcp_fleet_environment_history LANGUAGE sql STABLE AS $$
  SELECT h.* FROM unnest(environment_ids) AS k(id)
  CROSS JOIN LATERAL (
    SELECT * FROM mcp_fleet_environment_history s
    WHERE s.account_tool_environment_id = k.id AND (before_at IS NULL OR s.at < before_at)
    ORDER BY s.at DESC, s.id DESC LIMIT per_key) h
$$;
