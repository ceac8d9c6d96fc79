-- Early warning on the rows (#16): the risk level the early-warning watch (fleet/early-warning.ts)
-- last judged for each server and droplet, by the rules in domain/risk.ts, kept so it can be
-- filtered and its changes are events; written only when it changes, as EARLY_WARNING.
ALTER TABLE account_tool_instances ADD COLUMN IF NOT EXISTS mcp_fleet_risk text
  CHECK (mcp_fleet_risk IN ('NONE', 'LOW', 'MEDIUM', 'HIGH'));
ALTER TABLE account_tool_environments ADD COLUMN IF NOT EXISTS mcp_fleet_risk text
  CHECK (mcp_fleet_risk IN ('NONE', 'LOW', 'MEDIUM', 'HIGH'));

CREATE OR REPLACE FUNCTION mcp_fleet_stamp_write_source() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  source text := nullif(current_setting('mcp_fleet.write_source', true), '');
BEGIN
  IF source IS NULL THEN
    BEGIN
      source := nullif(current_setting('request.headers', true), '')::json ->> 'x-mcp-fleet-source';
    EXCEPTION WHEN others THEN
      source := NULL;
    END;
  END IF;
  NEW.mcp_fleet_write_source := CASE
    WHEN source IN ('LIFECYCLE', 'AGENT_REPORT', 'MONITOR', 'AUTO_RECOVERY', 'PROBE', 'EARLY_WARNING') THEN source ELSE 'DATABASE' END;
  RETURN NEW;
END $$;
