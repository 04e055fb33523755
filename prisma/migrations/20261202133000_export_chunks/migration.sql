-- Exports are written as NDJSON chunks (src/jobs/export.ts) instead of one text column.
ALTER TABLE "data_exports" DROP COLUMN "content",
ADD COLUMN "download_token_id" UUID;

-- CreateTable
CREATE TABLE "data_export_chunks" (
    "organization_id" UUID NOT NULL,
    "id" UUID NOT NULL,
    "export_id" UUID NOT NULL,
    "seq" INTEGER NOT NULL,
    "content" TEXT NOT NULL,

    CONSTRAINT "data_export_chunks_pkey" PRIMARY KEY ("organization_id","id")
);

-- CreateIndex
CREATE UNIQUE INDEX "data_export_chunks_organization_id_export_id_seq_key" ON "data_export_chunks"("organization_id", "export_id", "seq");

-- AddForeignKey
ALTER TABLE "data_export_chunks" ADD CONSTRAINT "data_export_chunks_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "data_export_chunks" ADD CONSTRAINT "data_export_chunks_organization_id_export_id_fkey" FOREIGN KEY ("organization_id", "export_id") REFERENCES "data_exports"("organization_id", "id") ON DELETE CASCADE ON UPDATE CASCADE;

-- ---- Hand-written: row-level security, as on every tenant table ------------------------------
GRANT SELECT, INSERT, UPDATE, DELETE ON "data_export_chunks" TO scopegraph_app;
ALTER TABLE "data_export_chunks" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "data_export_chunks" FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "data_export_chunks"
  USING ("organization_id" = nullif(current_setting('app.organization_id', true), '')::uuid)
  WITH CHECK ("organization_id" = nullif(current_setting('app.organization_id', true), '')::uuid);
