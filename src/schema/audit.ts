import { auditEntry } from '../audit/entries.ts';
import type { MemberContext } from '../context.ts';
import { Unauthenticated } from '../errors.ts';
import type { Prisma } from '../generated/prisma/client.ts';
import { AuditActor } from '../generated/prisma/enums.ts';
import { rowKey } from '../tenancy/scope.ts';
import type { ScopedTx } from '../tenancy/scoped-client.ts';
import { builder } from './builder.ts';
import { keysetConnection } from './connection.ts';
import { encodeGlobalId } from './ids.ts';
import { ownerOnlyNode } from './node.ts';

/**
 * The organization's audit log: who did what to whom, from where. Written by sensitive member
 * actions (src/schema/user.ts) and by platform admins (src/admin/schema/audit.ts); append-only
 * (src/tenancy/models.ts, and a trigger in the database); read by the OWNER only.
 */
const AuditActorEnum = builder.enumType(AuditActor, { name: 'AuditActor' });

builder.prismaNode('AuditEntry', {
  // The OWNER's to read: through `node(id)` anyone else finds nothing.
  ...ownerOnlyNode,
  fields: (t) => ({
    action: t.exposeString('action', { description: 'e.g. member.role_changed.' }),
    actorType: t.expose('actorType', { type: AuditActorEnum }),
    actorId: t.id({
      nullable: true,
      description: 'The member who acted (a User id, kept after the user is removed).',
      resolve: (entry) => (entry.actorId ? encodeGlobalId('User', entry.actorId) : null),
    }),
    actorLabel: t.exposeString('actorLabel', {
      description: "The member's email or the platform admin's name, as it was then.",
    }),
    targetType: t.exposeString('targetType', { nullable: true }),
    targetId: t.id({
      nullable: true,
      resolve: (entry) =>
        entry.targetType && entry.targetId
          ? encodeGlobalId(entry.targetType, entry.targetId)
          : entry.targetId,
    }),
    details: t.string({
      nullable: true,
      description: 'JSON text, e.g. {"from":"MEMBER","to":"ADMIN"}.',
      resolve: (entry) => (entry.details == null ? null : JSON.stringify(entry.details)),
    }),
    ipAddress: t.exposeString('ipAddress', { nullable: true }),
    requestId: t.exposeString('requestId', { nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

builder.queryField('auditLog', (t) =>
  t.withAuth({ owner: true }).prismaConnection({
    type: 'AuditEntry',
    cursor: 'organizationId_id',
    description: "The organization's audit log, newest first (OWNER only).",
    totalCount: (_parent, _args, ctx) => ctx.db.auditEntry.count(),
    resolve: (query, _root, _args, ctx) =>
      keysetConnection(
        query,
        'desc',
        (where, select) => ctx.db.auditEntry.findUnique({ where, select }),
        (args) => ctx.db.auditEntry.findMany(args),
      ),
  }),
);

export type AuditRecord = Readonly<{
  action: string;
  targetType: string;
  targetId: string;
  details?: Prisma.InputJsonObject;
}>;

/**
 * Runs `change` and writes its audit entry in one transaction, through the member's scoped
 * client: both happen or neither does. `change` must return an unawaited Prisma operation.
 */
export async function withAuditEntry<T>(
  ctx: MemberContext,
  record: AuditRecord,
  change: () => PromiseLike<T>,
): Promise<T> {
  const actor = await ctx.db.user.findUnique({
    where: rowKey(ctx.scope, ctx.scope.user.id),
    select: { email: true },
  });
  if (!actor) throw new Unauthenticated();
  const entry = ctx.db.auditEntry.create({
    data: auditEntry({
      organizationId: ctx.scope.organizationId,
      actor: { type: 'MEMBER', id: ctx.scope.user.id, label: actor.email },
      ...record,
      request: ctx,
    }),
    select: { id: true },
  });
  const [result] = await atomically(ctx.db, [change(), entry]);
  return result as T;
}

/**
 * Outside a unit of work, `ctx.db` is a scoped client whose batch `$transaction` runs the
 * operations in one transaction; a unit of work's client (a mutation operation's) runs them in
 * order in the transaction it already is.
 */
function atomically(db: ScopedTx, operations: PromiseLike<unknown>[]): Promise<unknown[]> {
  const batch = db as ScopedTx & { $transaction?: (operations: unknown[]) => Promise<unknown[]> };
  if (typeof batch.$transaction === 'function') return batch.$transaction(operations);
  return operations.reduce<Promise<unknown[]>>(
    async (done, operation) => [...(await done), await operation],
    Promise.resolve([]),
  );
}
