-- Active health (#16): what the user wants of each server, whether its MCP endpoint answers, and
-- automatic recovery.
--
-- mcp_fleet_desired_state: RUNNING or STOPPED, what someone last asked for. It follows the intent
-- a write states, whoever makes it (this API, upstream's manager, SQL by hand): a status that means
-- "run" (pending_deploy, deploying, starting, installing...) sets RUNNING, one that means "stop"
-- (stopping, stopped, disabled, uninstalling, pending_delete...) sets STOPPED. A droplet agent's
-- report never does (a container that exited was not asked to stop) and neither does automatic
-- recovery's own start. Error statuses say nothing of intent and keep it. A row with none yet
-- (created before this migration) is given one from its status.
--
-- mcp_fleet_recovery: automatic recovery's record (attempts in the window, backoff, an open
-- circuit and why). A person's (or another writer's) start or stop clears it: that is acting.
--
-- mcp_fleet_reachability: REACHABLE, SLOW or UNREACHABLE, the reachability axis as the last
-- connection test left it (domain/reachability.ts), kept on the row so it can be filtered and its
-- changes are events; written only when it changes.
ALTER TABLE account_tool_instances ADD COLUMN IF NOT EXISTS mcp_fleet_desired_state text
  CHECK (mcp_fleet_desired_state IN ('RUNNING', 'STOPPED'));
ALTER TABLE account_tool_instances ADD COLUMN IF NOT EXISTS mcp_fleet_auto_recovery boolean NOT NULL DEFAULT true;
ALTER TABLE account_tool_instances ADD COLUMN IF NOT EXISTS mcp_fleet_probe_budget_ms int
  CHECK (mcp_fleet_probe_budget_ms BETWEEN 1000 AND 300000);
ALTER TABLE account_tool_instances ADD COLUMN IF NOT EXISTS mcp_fleet_recovery jsonb;
ALTER TABLE account_tool_instances ADD COLUMN IF NOT EXISTS mcp_fleet_reachability text
  CHECK (mcp_fleet_reachability IN ('REACHABLE', 'SLOW', 'UNREACHABLE'));

-- A recovery attempt or outcome says what it did; a plain transition has none.
ALTER TABLE mcp_fleet_status_history ADD COLUMN IF NOT EXISTS detail text;

CREATE OR REPLACE FUNCTION mcp_fleet_intent_of(status text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN status IN ('pending_deploy', 'deploying', 'starting', 'pending_install', 'installing', 'running', 'active') THEN 'RUNNING'
    WHEN status IN ('stopping', 'stopped', 'disabled', 'pending_uninstall', 'uninstalling', 'uninstalled', 'pending_delete', 'deleting') THEN 'STOPPED'
  END
$$;

UPDATE account_tool_instances SET mcp_fleet_desired_state = mcp_fleet_intent_of(status_on_toolbox::text)
  WHERE mcp_fleet_desired_state IS NULL AND mcp_fleet_intent_of(status_on_toolbox::text) IS NOT NULL;

-- Runs after mcp_fleet_stamp_write_source (triggers fire in name order), so the source is known.
CREATE OR REPLACE FUNCTION mcp_fleet_track_intent() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  intent text;
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.status_on_toolbox IS NOT DISTINCT FROM OLD.status_on_toolbox THEN RETURN NEW; END IF;
  IF NEW.mcp_fleet_write_source = 'AGENT_REPORT' THEN RETURN NEW; END IF;
  intent := mcp_fleet_intent_of(NEW.status_on_toolbox::text);
  IF NEW.mcp_fleet_write_source = 'AUTO_RECOVERY' THEN
    -- Recovery's own writes state no new intent, but the first wish of a row is kept.
    IF NEW.mcp_fleet_desired_state IS NULL THEN NEW.mcp_fleet_desired_state := intent; END IF;
    RETURN NEW;
  END IF;
  IF intent IS NOT NULL THEN
    NEW.mcp_fleet_desired_state := intent;
    -- Someone acted: an open circuit closes, and recovery starts afresh.
    IF TG_OP = 'UPDATE' AND NEW.status_on_toolbox::text IN ('starting', 'stopping', 'pending_deploy', 'deploying', 'pending_delete') THEN
      NEW.mcp_fleet_recovery := NULL;
    END IF;
  END IF;
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS mcp_fleet_track_intent ON account_tool_instances;
CREATE TRIGGER mcp_fleet_track_intent BEFORE INSERT OR UPDATE ON account_tool_instances
  FOR EACH ROW EXECUTE FUNCTION mcp_fleet_track_intent();

-- Three more writers name themselves: automatic recovery, the prober (reachability, discovery),
-- and the early-warning watch (risk levels, migration 016).
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
