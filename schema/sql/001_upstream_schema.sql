-- The upstream Agentopia data model, as its last coherent pg_dump records it
-- (shared/reference/dtma-contract.md §1). Same tables, columns, enum values and constraint names.
-- Idempotent: every statement may run again on a database that already has it.

DO $$ BEGIN
  CREATE TYPE account_tool_environment_status_enum AS ENUM (
    'inactive','pending_creation','creating','active','error_creation','pending_deletion',
    'deleting','error_deletion','unresponsive','scaling',
    'pending_provision','provisioning','error_provisioning','pending_deprovision',
    'deprovisioning','deprovisioned','error_deprovisioning',
    'awaiting_heartbeat');
EXCEPTION WHEN duplicate_object THEN NULL; END $$;

DO $$ BEGIN
  CREATE TYPE account_tool_installation_status_enum AS ENUM (
    'pending_install','installing','active','error_install','pending_uninstall','uninstalling',
    'uninstalled','error_uninstall','pending_config','stopped','starting','stopping',
    'error_runtime','disabled',
    'pending_deploy','deploying','running','error','pending_delete','deleting');
EXCEPTION WHEN duplicate_object THEN NULL; END $$;

DO $$ BEGIN
  CREATE TYPE catalog_tool_status_enum AS ENUM ('available','beta','experimental','deprecated','archived');
EXCEPTION WHEN duplicate_object THEN NULL; END $$;

DO $$ BEGIN
  CREATE TYPE tool_packaging_type_enum AS ENUM ('docker_image');
EXCEPTION WHEN duplicate_object THEN NULL; END $$;

-- Upstream's timestamp trigger function, by its upstream name.
CREATE OR REPLACE FUNCTION trigger_set_timestamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at = now();
  RETURN NEW;
END $$;

-- user_id references auth.users(id) upstream; the FK is omitted so the schema runs without
-- Supabase's auth schema (on Supabase the upstream FK already exists).
CREATE TABLE IF NOT EXISTS account_tool_environments (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL,
  do_droplet_id bigint,
  public_ip_address inet,
  status account_tool_environment_status_enum NOT NULL DEFAULT 'inactive',
  region_slug text NOT NULL,
  size_slug text NOT NULL,
  image_slug text NOT NULL DEFAULT 'ubuntu-22-04-x64',
  last_heartbeat_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  name text,
  description text,
  dtma_bearer_token text,
  dtma_last_known_version text,
  dtma_health_details_json jsonb,
  provisioning_error_message text,
  do_droplet_name text,
  CONSTRAINT uq_do_droplet_id UNIQUE (do_droplet_id),
  CONSTRAINT account_tool_environments_dtma_bearer_token_key UNIQUE (dtma_bearer_token)
);
CREATE INDEX IF NOT EXISTS idx_ate_user_id ON account_tool_environments (user_id);
CREATE INDEX IF NOT EXISTS idx_ate_status ON account_tool_environments (status);
CREATE INDEX IF NOT EXISTS idx_ate_do_droplet_name ON account_tool_environments (do_droplet_name);

CREATE TABLE IF NOT EXISTS tool_catalog (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tool_name text NOT NULL UNIQUE,
  description text,
  developer_org_name text,
  categories text[],
  icon_url text,
  documentation_url text,
  packaging_type tool_packaging_type_enum NOT NULL DEFAULT 'docker_image',
  package_identifier text NOT NULL,
  version_info jsonb NOT NULL DEFAULT '{"default_version":"latest","available_versions":["latest"]}',
  default_config_template jsonb,
  required_secrets_schema jsonb DEFAULT '[]',
  resource_requirements jsonb,
  status catalog_tool_status_enum NOT NULL DEFAULT 'available',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  name text NOT NULL UNIQUE,
  docker_image_url text NOT NULL,
  category text,
  required_config_schema jsonb,
  required_capabilities_schema jsonb,
  provider text,
  version text NOT NULL DEFAULT '1.0.0',
  is_public boolean DEFAULT true,
  created_by uuid
);
CREATE INDEX IF NOT EXISTS idx_tool_catalog_categories ON tool_catalog USING gin (categories);

-- Renamed upstream from account_tool_environment_active_tools: its constraint names keep the old name.
CREATE TABLE IF NOT EXISTS account_tool_instances (
  id uuid DEFAULT gen_random_uuid(),
  account_tool_environment_id uuid NOT NULL,
  tool_catalog_id uuid NOT NULL,
  status_on_toolbox account_tool_installation_status_enum NOT NULL DEFAULT 'pending_install',
  config_values jsonb DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  instance_name_on_toolbox text,
  port_mapping_json jsonb,
  last_heartbeat_from_dtma timestamptz,
  version text,
  base_config_override_json jsonb,
  instance_error_message text,
  CONSTRAINT account_tool_environment_active_tools_pkey PRIMARY KEY (id),
  CONSTRAINT account_tool_environment_active_tools_account_tool_environment_id_fkey
    FOREIGN KEY (account_tool_environment_id) REFERENCES account_tool_environments(id) ON DELETE CASCADE,
  CONSTRAINT account_tool_environment_active_tools_tool_catalog_id_fkey
    FOREIGN KEY (tool_catalog_id) REFERENCES tool_catalog(id) ON DELETE RESTRICT,
  CONSTRAINT uq_account_env_tool UNIQUE (account_tool_environment_id, tool_catalog_id)
);
CREATE INDEX IF NOT EXISTS idx_ateat_account_tool_environment_id ON account_tool_instances (account_tool_environment_id);
CREATE INDEX IF NOT EXISTS idx_ateat_status ON account_tool_instances (status_on_toolbox);
CREATE INDEX IF NOT EXISTS idx_ateat_tool_catalog_id ON account_tool_instances (tool_catalog_id);

DROP TRIGGER IF EXISTS set_timestamp ON account_tool_environments;
CREATE TRIGGER set_timestamp BEFORE UPDATE ON account_tool_environments
  FOR EACH ROW EXECUTE FUNCTION trigger_set_timestamp();
DROP TRIGGER IF EXISTS set_timestamp ON account_tool_instances;
CREATE TRIGGER set_timestamp BEFORE UPDATE ON account_tool_instances
  FOR EACH ROW EXECUTE FUNCTION trigger_set_timestamp();
DROP TRIGGER IF EXISTS set_timestamp ON tool_catalog;
CREATE TRIGGER set_timestamp BEFORE UPDATE ON tool_catalog
  FOR EACH ROW EXECUTE FUNCTION trigger_set_timestamp();
