-- Hand-written: the row-level security block every tenant table needs, defined once.
-- `npm run db:migration` appends `SELECT enable_tenant_isolation('<table>');` for each tenant
-- table a new migration creates (append_only => true for APPEND_ONLY_MODELS). Idempotent: the
-- tables of earlier migrations keep their hand-written blocks, and calling it again changes nothing.
CREATE OR REPLACE FUNCTION refuse_update_or_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE OR REPLACE FUNCTION enable_tenant_isolation(target regclass, append_only boolean DEFAULT false)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  tenant_match text := 'organization_id = nullif(current_setting(''app.organization_id'', true), '''')::uuid';
BEGIN
  IF append_only THEN
    EXECUTE format('GRANT SELECT, INSERT ON %s TO scopegraph_app', target);
    IF NOT EXISTS (SELECT FROM pg_trigger WHERE tgrelid = target AND tgname = 'append_only') THEN
      EXECUTE format('CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON %s
        FOR EACH ROW EXECUTE FUNCTION refuse_update_or_delete()', target);
    END IF;
  ELSE
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO scopegraph_app', target);
  END IF;
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', target);
  EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', target);
  IF NOT EXISTS (SELECT FROM pg_policy WHERE polrelid = target AND polname = 'tenant_isolation') THEN
    EXECUTE format('CREATE POLICY tenant_isolation ON %s USING (%s) WITH CHECK (%s)',
      target, tenant_match, tenant_match);
  END IF;
END
$$;
