-- At most one PENDING export per organization: a second request returns the pending one
-- (src/schema/data-export.ts). Enforced here so that two concurrent requests cannot both
-- insert one. A partial index: Prisma's schema cannot state it, so it lives only in SQL.
CREATE UNIQUE INDEX "data_exports_one_pending_per_organization"
    ON "data_exports" ("organization_id") WHERE "status" = 'PENDING';
