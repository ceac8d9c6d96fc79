-- Early warning on the rows (#16): the risk level the early-warning watch (fleet/early-warning.ts)
-- last judged for each server and droplet, by the rules in domain/risk.ts, kept so it can be
-- filtered and its changes are events; written only when it changes, as EARLY_WARNING (a writer
-- migration 015's stamp already names).
ALTER TABLE account_tool_instances ADD COLUMN IF NOT EXISTS mcp_fleet_risk text
  CHECK (mcp_fleet_risk IN ('NONE', 'LOW', 'MEDIUM', 'HIGH'));
ALTER TABLE account_tool_environments ADD COLUMN IF NOT EXISTS mcp_fleet_risk text
  CHECK (mcp_fleet_risk IN ('NONE', 'LOW', 'MEDIUM', 'HIGH'));
