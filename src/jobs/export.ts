import { EXPORT_RULES } from '../tenancy/export-rules.ts';
import { TENANT_KEY } from '../tenancy/models.ts';
import { rowKey } from '../tenancy/scope.ts';
import type { ScopedTx } from '../tenancy/scoped-client.ts';
import type { TenantJobHandler } from './tenant-job.ts';

/** How long a finished export can be downloaded. */
export const EXPORT_TTL_MS = 24 * 3600 * 1000;

export const EXPORT_FORMAT = 'scopegraph-ndjson/1';

/** Rows read per query, and the NDJSON text stored per chunk: together, the job's memory bound. */
export const EXPORT_BATCH_ROWS = 1000;
export const EXPORT_CHUNK_CHARS = 256 * 1024;

type Row = Record<string, unknown>;
type Reader = { findMany: (args: object) => Promise<Row[]> };

const delegateOf = (db: ScopedTx, model: string) =>
  (db as unknown as Record<string, Reader>)[
    model.charAt(0).toLowerCase() + model.slice(1)
  ] as Reader;

/**
 * Every row the organization may see, model by model as the registry lists them
 * (src/tenancy/export-rules.ts decides what is left out), written as NDJSON lines
 * (`{"model":"Post","row":{…}}` after a header line) into DataExportChunk rows. Rows are read in
 * keyset batches over the primary key (organization_id, id) through the scoped client, in the
 * job's one transaction (one snapshot); at most one batch and one chunk are held in memory.
 * Only a PENDING export is written, so a retried job does not redo a finished one, and a failed
 * attempt's chunks roll back with its transaction.
 */
export const exportOrganization: TenantJobHandler<'export-organization'> = async ({
  scope,
  db,
  job,
}) => {
  const { exportId } = job.data;
  const key = rowKey(scope, exportId);
  const request = await db.dataExport.findUnique({ where: key, select: { status: true } });
  if (request?.status !== 'PENDING') return undefined;
  const organizationId = scope.organizationId as string;
  await db.dataExportChunk.deleteMany({ where: { organizationId, exportId } });
  let seq = 0;
  let buffer = '';
  const flush = async () => {
    if (buffer === '') return;
    await db.dataExportChunk.create({ data: { organizationId, exportId, seq, content: buffer } });
    seq += 1;
    buffer = '';
  };
  const write = async (line: string) => {
    buffer += `${line}\n`;
    if (buffer.length >= EXPORT_CHUNK_CHARS) await flush();
  };
  const completedAt = new Date();
  await write(JSON.stringify({ format: EXPORT_FORMAT, exportedAt: completedAt, organizationId }));
  for (const { model, omit } of EXPORT_RULES) {
    const reader = delegateOf(db, model);
    const tenantOwned = model !== 'Organization';
    const orderBy = tenantOwned ? [{ [TENANT_KEY]: 'asc' }, { id: 'asc' }] : [{ id: 'asc' }];
    let after: unknown = null;
    for (;;) {
      const rows = await reader.findMany({
        ...(after === null ? {} : { where: { id: { gt: after } } }),
        orderBy,
        take: EXPORT_BATCH_ROWS,
        ...(Object.keys(omit).length > 0 ? { omit } : {}),
      });
      for (const row of rows) await write(JSON.stringify({ model, row }));
      if (rows.length < EXPORT_BATCH_ROWS) break;
      after = rows[rows.length - 1]?.id;
    }
  }
  await flush();
  const expiresAt = new Date(completedAt.getTime() + EXPORT_TTL_MS);
  await db.dataExport.update({ where: key, data: { status: 'READY', completedAt, expiresAt } });
  return {
    name: 'expire-export',
    data: { organizationId, exportId },
    options: { startAfter: expiresAt },
  };
};

/** Deletes an expired export's chunks; one that has not expired yet is left alone. */
export const expireExport: TenantJobHandler<'expire-export'> = async ({ scope, db, job }) => {
  const expired = await db.dataExport.findFirst({
    where: {
      ...rowKey(scope, job.data.exportId).organizationId_id,
      expiresAt: { lte: new Date() },
    },
    select: { id: true },
  });
  if (!expired) return undefined;
  await db.dataExportChunk.deleteMany({
    where: { organizationId: scope.organizationId as string, exportId: expired.id },
  });
  await db.dataExport.update({
    where: rowKey(scope, expired.id),
    data: { downloadTokenId: null },
  });
  return undefined;
};
