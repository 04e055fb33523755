-- Row-level security: the database's own guarantee that one organization never sees or
-- touches another's rows, whatever the code above it does. Hand-written (Prisma does not
-- manage roles or policies); `prisma migrate diff` ignores everything here.
--
-- The application connects as the owner (or any role that is a member of scopegraph_app)
-- and, inside every transaction, switches to scopegraph_app and sets app.organization_id
-- transaction-locally (src/tenancy/binding.ts). With no setting, every policy matches no
-- row: reads return nothing and writes are refused.

-- Roles are cluster-wide: another database on the same server (a shadow database, a test
-- database) may have created it already.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'scopegraph_app') THEN
    CREATE ROLE scopegraph_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
  END IF;
END
$$;

-- The role that runs the migrations (and the system client) may switch to the app role.
GRANT scopegraph_app TO CURRENT_USER;

GRANT USAGE ON SCHEMA public TO scopegraph_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON "users", "posts", "comments" TO scopegraph_app;
-- Organizations are created and deleted by the platform; a tenant may read and rename its own.
GRANT SELECT ON "organizations" TO scopegraph_app;
GRANT UPDATE ("name", "updated_at") ON "organizations" TO scopegraph_app;

ALTER TABLE "organizations" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "organizations" FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "organizations"
  USING ("id" = nullif(current_setting('app.organization_id', true), '')::uuid)
  WITH CHECK ("id" = nullif(current_setting('app.organization_id', true), '')::uuid);

ALTER TABLE "users" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "users" FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "users"
  USING ("organization_id" = nullif(current_setting('app.organization_id', true), '')::uuid)
  WITH CHECK ("organization_id" = nullif(current_setting('app.organization_id', true), '')::uuid);

ALTER TABLE "posts" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "posts" FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "posts"
  USING ("organization_id" = nullif(current_setting('app.organization_id', true), '')::uuid)
  WITH CHECK ("organization_id" = nullif(current_setting('app.organization_id', true), '')::uuid);

ALTER TABLE "comments" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "comments" FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "comments"
  USING ("organization_id" = nullif(current_setting('app.organization_id', true), '')::uuid)
  WITH CHECK ("organization_id" = nullif(current_setting('app.organization_id', true), '')::uuid);
