import { randomUUID } from 'node:crypto';
import { Conflict, NotFound, ServiceUnavailable } from '../../errors.ts';
import type { DeadLetter, JobQueue } from '../../jobs/queue.ts';
import type { AdminContext } from '../context.ts';
import { organizationIdOf, pageSize } from './args.ts';
import { adminEntry } from './audit.ts';
import { builder } from './builder.ts';
import { loadOrganization, OrganizationRef, type OrganizationRow } from './organizations.ts';

const DeleteOrganizationPayload = builder
  .objectRef<{ organization: OrganizationRow; jobId: string }>('DeleteOrganizationPayload')
  .implement({
    fields: (t) => ({
      organization: t.field({ type: OrganizationRef, resolve: (payload) => payload.organization }),
      jobId: t.exposeID('jobId', { description: 'The delete-organization job.' }),
    }),
  });

const ExportOrganizationPayload = builder
  .objectRef<{ exportId: string; jobId: string }>('ExportOrganizationPayload')
  .implement({
    fields: (t) => ({
      exportId: t.exposeID('exportId', { description: 'The DataExport row the job fills.' }),
      jobId: t.exposeID('jobId', { description: 'The export-organization job.' }),
    }),
  });

const DeadLetterJob = builder.objectRef<DeadLetter>('DeadLetterJob').implement({
  description: 'A job that failed all of its attempts.',
  fields: (t) => ({
    id: t.exposeID('id'),
    queue: t.exposeString('queue'),
    data: t.string({ description: 'JSON text.', resolve: (job) => JSON.stringify(job.data) }),
    retries: t.exposeInt('retries'),
    error: t.exposeString('error', { nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    failedAt: t.expose('failedAt', { type: 'DateTime' }),
  }),
});

builder.queryField('deadLetterJobs', (t) =>
  t.field({
    type: [DeadLetterJob],
    description: 'Jobs that failed all of their attempts, newest first.',
    args: { limit: t.arg.int({ required: false }) },
    resolve: (_root, args, ctx) => queueOf(ctx).deadLetters(pageSize(args.limit, 'limit')),
  }),
);

builder.mutationFields((t) => ({
  deleteOrganization: t.field({
    type: DeleteOrganizationPayload,
    description:
      'Marks the organization for deletion (its tokens stop working at once) and sends the delete-organization job, which removes every row of it except its audit log. A second call changes and records nothing; it sends the job again, which deletes what is left, if anything.',
    args: { id: t.arg.id() },
    resolve: async (_root, args, ctx) => {
      const id = organizationIdOf(args.id);
      const queue = queueOf(ctx);
      await ctx.system.$transaction(async (tx) => {
        const { count } = await tx.organization.updateMany({
          where: { id, deletionRequestedAt: null },
          data: { deletionRequestedAt: new Date() },
        });
        if (count > 0) {
          await tx.auditEntry.create({
            data: adminEntry(ctx, id, 'organization.deletion_requested'),
          });
        }
      });
      ctx.accessChanged(id, { reason: 'deletion_requested' });
      const organization = await loadOrganization(ctx, id);
      // After the commit: on the embedded database the queue shares the one connection.
      const jobId = await queue.send('delete-organization', {
        organizationId: id,
        requestedBy: ctx.admin.name,
      });
      return { organization, jobId };
    },
  }),
  exportOrganization: t.field({
    type: ExportOrganizationPayload,
    description: 'Creates a data export of every row of the organization, filled by a job.',
    args: { id: t.arg.id() },
    resolve: async (_root, args, ctx) => {
      const id = organizationIdOf(args.id);
      const queue = queueOf(ctx);
      const exportId = randomUUID();
      await ctx.system.$transaction(async (tx) => {
        const organization = await tx.organization.findUnique({
          where: { id },
          select: { deletionRequestedAt: true },
        });
        if (!organization) throw new NotFound('Organization');
        if (organization.deletionRequestedAt) {
          throw new Conflict('The organization is being deleted', 'id');
        }
        await tx.dataExport.create({ data: { organizationId: id, id: exportId } });
        await tx.auditEntry.create({
          data: adminEntry(ctx, id, 'organization.export_requested', { exportId }),
        });
      });
      const jobId = await queue.send('export-organization', { organizationId: id, exportId });
      return { exportId, jobId };
    },
  }),
}));

function queueOf(ctx: AdminContext): JobQueue {
  if (!ctx.jobs) throw new ServiceUnavailable();
  return ctx.jobs;
}
