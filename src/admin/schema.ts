import { randomUUID } from 'node:crypto';
import SchemaBuilder from '@pothos/core';
import { lexicographicSortSchema } from 'graphql';
import { BadUserInput, Conflict, NotFound, ServiceUnavailable } from '../errors.ts';
import type { AuditEntry, Organization, Prisma } from '../generated/prisma/client.ts';
import { AuditActor } from '../generated/prisma/enums.ts';
import type { DeadLetter, JobQueue } from '../jobs/queue.ts';
import { DATE_TIME_SCALAR } from '../schema/scalars.ts';
import { isUuid } from '../tenancy/ids.ts';
import type { AdminContext } from './context.ts';

/**
 * The platform administration schema, served at /admin/graphql (src/admin/endpoint.ts). Its own
 * builder: nothing here is part of the tenant schema, and nothing of the tenant schema is here.
 * Organizations are named by their plain UUID. Every action on an organization is written to its
 * audit log in the same transaction as the change.
 */
type AdminTypes = {
  Context: AdminContext;
  DefaultFieldNullability: false;
  DefaultInputFieldRequiredness: true;
  Scalars: { DateTime: { Input: Date; Output: Date }; ID: { Input: string; Output: string } };
};

// Pothos declares plugin options globally, so the tenant builder's plugins (prisma, scopeAuth)
// are required options for every builder in the program, this one too, which uses none.
const builder = new SchemaBuilder<AdminTypes>({
  defaultFieldNullability: false,
  defaultInputFieldRequiredness: true,
} as ConstructorParameters<typeof SchemaBuilder<AdminTypes>>[0]);

const PAGE = { default: 25, max: 100 } as const;
const MAX_REASON = 500;

builder.scalarType('DateTime', DATE_TIME_SCALAR);

const WITH_COUNTS = {
  _count: { select: { users: true, posts: true } },
} as const satisfies Prisma.OrganizationInclude;

type OrganizationRow = Organization & { _count: { users: number; posts: number } };

const AuditActorEnum = builder.enumType(AuditActor, { name: 'AuditActor' });

const AuditEntryRef = builder.objectRef<AuditEntry>('AuditEntry').implement({
  description: 'One entry of an organization’s audit log; entries are never changed or removed.',
  fields: (t) => ({
    id: t.exposeID('id'),
    organizationId: t.exposeID('organizationId'),
    actorType: t.expose('actorType', { type: AuditActorEnum }),
    actorId: t.exposeID('actorId', { nullable: true, description: 'The member, if one acted.' }),
    actorLabel: t.exposeString('actorLabel', {
      description: 'The member’s email or the platform admin’s name, as it was then.',
    }),
    action: t.exposeString('action'),
    targetType: t.exposeString('targetType', { nullable: true }),
    targetId: t.exposeID('targetId', { nullable: true }),
    details: t.string({
      nullable: true,
      description: 'JSON text.',
      resolve: (entry) => (entry.details == null ? null : JSON.stringify(entry.details)),
    }),
    ipAddress: t.exposeString('ipAddress', { nullable: true }),
    requestId: t.exposeString('requestId', { nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

const OrganizationRef = builder.objectRef<OrganizationRow>('Organization').implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    slug: t.exposeString('slug'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    suspendedAt: t.expose('suspendedAt', { type: 'DateTime', nullable: true }),
    deletionRequestedAt: t.expose('deletionRequestedAt', { type: 'DateTime', nullable: true }),
    memberCount: t.int({ resolve: (organization) => organization._count.users }),
    postCount: t.int({ resolve: (organization) => organization._count.posts }),
    auditLog: t.field({
      type: [AuditEntryRef],
      description: 'Newest first.',
      args: { first: t.arg.int({ required: false }) },
      resolve: (organization, args, ctx) => auditLog(ctx, organization.id, args.first),
    }),
  }),
});

type OrganizationPage = Readonly<{
  nodes: OrganizationRow[];
  endCursor: string | null;
  hasNextPage: boolean;
}>;

const OrganizationPageRef = builder.objectRef<OrganizationPage>('OrganizationPage').implement({
  description: 'Organizations, oldest first; pass `endCursor` as `after` for the next page.',
  fields: (t) => ({
    nodes: t.field({ type: [OrganizationRef], resolve: (page) => page.nodes }),
    endCursor: t.exposeString('endCursor', { nullable: true }),
    hasNextPage: t.exposeBoolean('hasNextPage'),
    totalCount: t.int({ resolve: (_page, _args, ctx) => ctx.system.organization.count() }),
  }),
});

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

builder.queryType({
  fields: (t) => ({
    organizations: t.field({
      type: OrganizationPageRef,
      args: { first: t.arg.int({ required: false }), after: t.arg.string({ required: false }) },
      resolve: async (_root, args, ctx) => {
        const first = pageSize(args.first, 'first');
        const after = args.after == null ? null : parseCursor(args.after);
        const rows = await ctx.system.organization.findMany({
          // (createdAt, id) past the cursor, spelled as src/schema/pagination.ts explains.
          ...(after
            ? {
                where: {
                  createdAt: { gte: after.createdAt },
                  OR: [{ createdAt: { gt: after.createdAt } }, { id: { gt: after.id } }],
                },
              }
            : {}),
          orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
          take: first + 1,
          include: WITH_COUNTS,
        });
        const nodes = rows.slice(0, first);
        const last = nodes.at(-1);
        return { nodes, hasNextPage: rows.length > first, endCursor: last ? cursorOf(last) : null };
      },
    }),
    organization: t.field({
      type: OrganizationRef,
      args: { id: t.arg.id() },
      resolve: (_root, args, ctx) => loadOrganization(ctx, organizationIdOf(args.id)),
    }),
    auditLog: t.field({
      type: [AuditEntryRef],
      description:
        'An organization’s audit log, newest first; still there after the organization is deleted.',
      args: { organizationId: t.arg.id(), first: t.arg.int({ required: false }) },
      resolve: (_root, args, ctx) =>
        auditLog(ctx, organizationIdOf(args.organizationId, 'organizationId'), args.first),
    }),
    deadLetterJobs: t.field({
      type: [DeadLetterJob],
      description: 'Jobs that failed all of their attempts, newest first.',
      args: { limit: t.arg.int({ required: false }) },
      resolve: (_root, args, ctx) => queueOf(ctx).deadLetters(pageSize(args.limit, 'limit')),
    }),
  }),
});

builder.mutationType({
  fields: (t) => ({
    suspendOrganization: t.field({
      type: OrganizationRef,
      description:
        'Every token of its members stops working at once, until resumed. Suspending a suspended organization changes nothing.',
      args: { id: t.arg.id(), reason: t.arg.string() },
      resolve: async (_root, args, ctx) => {
        const id = organizationIdOf(args.id);
        const reason = reasonOf(args.reason);
        await ctx.system.$transaction(async (tx) => {
          const { count } = await tx.organization.updateMany({
            where: { id, suspendedAt: null },
            data: { suspendedAt: new Date() },
          });
          if (count > 0) {
            await tx.auditEntry.create({
              data: entry(ctx, id, 'organization.suspended', { reason }),
            });
          }
        });
        // After the commit, so that the streams' re-check sees it; sent again on a repeat, for
        // an instance that missed the first (a lost event costs nothing more than a re-check).
        ctx.accessChanged(id, { reason: 'organization_suspended' });
        return loadOrganization(ctx, id);
      },
    }),
    resumeOrganization: t.field({
      type: OrganizationRef,
      args: { id: t.arg.id() },
      resolve: async (_root, args, ctx) => {
        const id = organizationIdOf(args.id);
        await ctx.system.$transaction(async (tx) => {
          const { count } = await tx.organization.updateMany({
            where: { id, suspendedAt: { not: null } },
            data: { suspendedAt: null },
          });
          if (count > 0)
            await tx.auditEntry.create({ data: entry(ctx, id, 'organization.resumed') });
        });
        return loadOrganization(ctx, id);
      },
    }),
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
            await tx.auditEntry.create({ data: entry(ctx, id, 'organization.deletion_requested') });
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
            data: entry(ctx, id, 'organization.export_requested', { exportId }),
          });
        });
        const jobId = await queue.send('export-organization', { organizationId: id, exportId });
        return { exportId, jobId };
      },
    }),
  }),
});

export const adminSchema = lexicographicSortSchema(builder.toSchema());

async function loadOrganization(ctx: AdminContext, id: string): Promise<OrganizationRow> {
  const organization = await ctx.system.organization.findUnique({
    where: { id },
    include: WITH_COUNTS,
  });
  if (!organization) throw new NotFound('Organization');
  return organization;
}

function auditLog(ctx: AdminContext, organizationId: string, first: number | null | undefined) {
  return ctx.system.auditEntry.findMany({
    where: { organizationId },
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    take: pageSize(first, 'first'),
  });
}

/** A platform admin's entry in `organizationId`'s audit log. */
function entry(
  ctx: AdminContext,
  organizationId: string,
  action: string,
  details?: Prisma.InputJsonObject,
): Prisma.AuditEntryUncheckedCreateInput {
  return {
    organizationId,
    actorType: 'PLATFORM_ADMIN',
    actorId: null,
    actorLabel: ctx.admin.name,
    action,
    targetType: 'Organization',
    targetId: organizationId,
    ...(details ? { details } : {}),
    ipAddress: ctx.client.address,
    requestId: ctx.requestId,
  };
}

function queueOf(ctx: AdminContext): JobQueue {
  if (!ctx.jobs) throw new ServiceUnavailable();
  return ctx.jobs;
}

function organizationIdOf(id: string, field = 'id'): string {
  if (!isUuid(id)) throw new BadUserInput('Invalid organization id', field);
  return id.toLowerCase();
}

function pageSize(value: number | null | undefined, field: string): number {
  const size = value ?? PAGE.default;
  if (size < 1 || size > PAGE.max) {
    throw new BadUserInput(`${field} must be between 1 and ${PAGE.max}`, field);
  }
  return size;
}

function reasonOf(reason: string): string {
  const trimmed = reason.trim();
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are the point
  const printable = !/[\u0000-\u0008\u000b-\u001f\u007f]/.test(trimmed);
  if (!trimmed || trimmed.length > MAX_REASON || !printable) {
    throw new BadUserInput(`A reason of 1 to ${MAX_REASON} printable characters`, 'reason');
  }
  return trimmed;
}

function cursorOf(organization: Organization): string {
  return Buffer.from(
    JSON.stringify([organization.createdAt.toISOString(), organization.id]),
  ).toString('base64url');
}

function parseCursor(cursor: string): { createdAt: Date; id: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parsed = null;
  }
  const [at, id] = Array.isArray(parsed) && parsed.length === 2 ? parsed : [];
  const createdAt = typeof at === 'string' ? new Date(at) : null;
  if (!createdAt || Number.isNaN(createdAt.getTime()) || !isUuid(id)) {
    throw new BadUserInput('Invalid cursor', 'after');
  }
  return { createdAt, id };
}
