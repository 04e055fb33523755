import { rowKey } from '../tenancy/scope.ts';
import type { TenantJobHandler } from './tenant-job.ts';

/** How long a finished export can be downloaded. */
export const EXPORT_TTL_MS = 24 * 3600 * 1000;

export const EXPORT_FORMAT = 'scopegraph-export/1';

/**
 * Every row of the organization, as JSON, in one snapshot (the job's one transaction), read
 * through the scoped client: the export cannot contain another organization's row even if the
 * code below forgot a filter. Password hashes are never exported. A finished export is left as
 * it is, so a retried job does not redo it; its content is cleared when it expires.
 */
export const exportOrganization: TenantJobHandler<'export-organization'> = async ({
  scope,
  db,
  job,
}) => {
  const key = rowKey(scope, job.data.exportId);
  const request = await db.dataExport.findUnique({ where: key, select: { status: true } });
  if (request?.status !== 'PENDING') return undefined;
  const byCreation = [{ createdAt: 'asc' as const }, { id: 'asc' as const }];
  // One after another: they share the job's one transaction (and so one snapshot).
  const organization = await db.organization.findUniqueOrThrow({
    where: { id: scope.organizationId },
    select: { id: true, name: true, slug: true, createdAt: true },
  });
  const users = await db.user.findMany({
    orderBy: byCreation,
    select: { id: true, email: true, name: true, role: true, createdAt: true, updatedAt: true },
  });
  const posts = await db.post.findMany({ orderBy: byCreation });
  const comments = await db.comment.findMany({ orderBy: byCreation });
  const notifications = await db.notification.findMany({ orderBy: byCreation });
  const auditLog = await db.auditEntry.findMany({ orderBy: byCreation });
  const completedAt = new Date();
  const content = JSON.stringify({
    format: EXPORT_FORMAT,
    exportedAt: completedAt,
    organization,
    users,
    posts,
    comments,
    notifications,
    auditLog,
  });
  const expiresAt = new Date(completedAt.getTime() + EXPORT_TTL_MS);
  await db.dataExport.update({
    where: key,
    data: { status: 'READY', content, completedAt, expiresAt },
  });
  return {
    name: 'expire-export',
    data: { organizationId: scope.organizationId, exportId: job.data.exportId },
    options: { startAfter: expiresAt },
  };
};

/** Clears an expired export's content; one that has not expired yet is left alone. */
export const expireExport: TenantJobHandler<'expire-export'> = async ({ scope, db, job }) => {
  await db.dataExport.updateMany({
    where: {
      ...rowKey(scope, job.data.exportId).organizationId_id,
      expiresAt: { lte: new Date() },
    },
    data: { content: null },
  });
  return undefined;
};
