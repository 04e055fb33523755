import { BadUserInput, NotFound } from '../../errors.ts';
import type { Organization, Prisma } from '../../generated/prisma/client.ts';
import { OLDEST_FIRST } from '../../schema/pagination.ts';
import { isUuid } from '../../tenancy/ids.ts';
import type { AdminContext } from '../context.ts';
import { organizationIdOf, pageSize, reasonOf } from './args.ts';
import { AuditEntryRef, adminEntry, auditLog } from './audit.ts';
import { builder } from './builder.ts';

const WITH_COUNTS = {
  _count: { select: { users: true, posts: true } },
} as const satisfies Prisma.OrganizationInclude;

export type OrganizationRow = Organization & { _count: { users: number; posts: number } };

export const OrganizationRef = builder.objectRef<OrganizationRow>('Organization').implement({
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

builder.queryFields((t) => ({
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
        orderBy: [...OLDEST_FIRST],
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
}));

builder.mutationFields((t) => ({
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
            data: adminEntry(ctx, id, 'organization.suspended', { reason }),
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
          await tx.auditEntry.create({ data: adminEntry(ctx, id, 'organization.resumed') });
      });
      return loadOrganization(ctx, id);
    },
  }),
}));

export async function loadOrganization(ctx: AdminContext, id: string): Promise<OrganizationRow> {
  const organization = await ctx.system.organization.findUnique({
    where: { id },
    include: WITH_COUNTS,
  });
  if (!organization) throw new NotFound('Organization');
  return organization;
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
