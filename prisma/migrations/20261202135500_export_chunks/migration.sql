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

-- Row-level security for the tenant tables above (written by db:migration).
SELECT enable_tenant_isolation('"data_export_chunks"');
