import { auditEntry } from '../../audit/entries.ts';
import type { AuditEntry, Prisma } from '../../generated/prisma/client.ts';
import { AuditActor } from '../../generated/prisma/enums.ts';
import { NEWEST_FIRST } from '../../schema/pagination.ts';
import type { AdminContext } from '../context.ts';
import { organizationIdOf, pageSize } from './args.ts';
import { builder } from './builder.ts';

const AuditActorEnum = builder.enumType(AuditActor, { name: 'AuditActor' });

export const AuditEntryRef = builder.objectRef<AuditEntry>('AuditEntry').implement({
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

builder.queryField('auditLog', (t) =>
  t.field({
    type: [AuditEntryRef],
    description:
      'An organization’s audit log, newest first; still there after the organization is deleted.',
    args: { organizationId: t.arg.id(), first: t.arg.int({ required: false }) },
    resolve: (_root, args, ctx) =>
      auditLog(ctx, organizationIdOf(args.organizationId, 'organizationId'), args.first),
  }),
);

export function auditLog(
  ctx: AdminContext,
  organizationId: string,
  first: number | null | undefined,
) {
  return ctx.system.auditEntry.findMany({
    where: { organizationId },
    orderBy: [...NEWEST_FIRST],
    take: pageSize(first, 'first'),
  });
}

/** A platform admin's entry in `organizationId`'s audit log. */
export function adminEntry(
  ctx: AdminContext,
  organizationId: string,
  action: string,
  details?: Prisma.InputJsonObject,
): Prisma.AuditEntryUncheckedCreateInput {
  return auditEntry({
    organizationId,
    actor: { type: 'PLATFORM_ADMIN', label: ctx.admin.name },
    action,
    targetType: 'Organization',
    targetId: organizationId,
    ...(details ? { details } : {}),
    request: ctx,
  });
}
