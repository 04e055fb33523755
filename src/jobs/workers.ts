import { auditEntry } from '../audit/entries.ts';
import type { SystemClient } from '../db/system.ts';
import type { Logger } from '../logging.ts';
import type { ScopedClients } from '../tenancy/scoped-client.ts';
import { expireExport, exportOrganization } from './export.ts';
import { notifyComment } from './notifications.ts';
import type { JobHandlers, JobQueue } from './queue.ts';
import { type TenantJobRunner, tenantJob } from './tenant-job.ts';

/**
 * Every job's handler. Tenant jobs rebuild their Scope and work through the scoped client
 * (src/jobs/tenant-job.ts); organization deletion is the platform's and uses the system client.
 */
export function jobHandlers(
  deps: Readonly<{ queue: JobQueue; system: SystemClient; scoped: ScopedClients; logger: Logger }>,
): JobHandlers {
  const { queue, system, logger } = deps;
  const runner: TenantJobRunner = {
    system,
    scoped: deps.scoped,
    send: ({ name, data, options }) => queue.send(name, data as never, options),
  };
  const exportJob = tenantJob(runner, exportOrganization);
  return {
    'notify-comment': tenantJob(runner, notifyComment),
    'export-organization': async (job) => {
      try {
        await exportJob(job);
      } catch (error) {
        // Out of retries: say so on the export, so that its owner is not left waiting.
        if (job.lastAttempt) await markExportFailed(system, job.data);
        throw error;
      }
    },
    'expire-export': tenantJob(runner, expireExport),
    'delete-organization': async (job) => {
      const { organizationId, requestedBy } = job.data;
      // Only an organization whose deletion an admin requested; its foreign keys cascade to every
      // tenant row. The audit log has none, so the record of the deletion stays. A retry after a
      // deletion that went through finds nothing and deletes nothing.
      const { count } = await system.organization.deleteMany({
        where: { id: organizationId, deletionRequestedAt: { not: null } },
      });
      if (count > 0) {
        await system.auditEntry.create({
          data: auditEntry({
            organizationId,
            actor: { type: 'PLATFORM_ADMIN', label: requestedBy },
            action: 'organization.deleted',
            targetType: 'Organization',
            targetId: organizationId,
          }),
        });
      }
      logger.info({ organizationId, deleted: count > 0 }, 'organization deletion job');
    },
  };
}

async function markExportFailed(
  system: SystemClient,
  { organizationId, exportId }: { organizationId: string; exportId: string },
): Promise<void> {
  await system.dataExport
    .updateMany({
      where: { organizationId, id: exportId, status: 'PENDING' },
      data: { status: 'FAILED' },
    })
    .catch(() => {});
}
