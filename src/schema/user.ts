import { randomUUID } from 'node:crypto';
import { CREDENTIAL_OPERATION } from '../auth/credential-operations.ts';
import { BadUserInput, Conflict, Forbidden, NotFound } from '../errors.ts';
import { Role } from '../generated/prisma/enums.ts';
import { rowKey } from '../tenancy/scope.ts';
import { withAuditEntry } from './audit.ts';
import { builder } from './builder.ts';
import { keysetConnection } from './connection.ts';
import { DeletePayload } from './delete-payload.ts';
import { idOf } from './ids.ts';
import { tenantNode } from './node.ts';
import { NEWEST_FIRST } from './pagination.ts';
import { rules } from './validation.ts';

export const RoleEnum = builder.enumType(Role, { name: 'Role' });

/** Higher reaches further; typed over the enum, so a new role must be ranked. */
const RANK: Record<Role, number> = { OWNER: 2, ADMIN: 1, MEMBER: 0 };

builder.prismaNode('User', {
  ...tenantNode,
  // Select mode: a user is loaded with the columns its selected fields need, and nothing else.
  // A post's author (on every post of a list) no longer brings its password hash along.
  select: { id: true, organizationId: true },
  fields: (t) => ({
    name: t.exposeString('name'),
    email: t.exposeString('email'),
    role: t.expose('role', { type: RoleEnum }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    organization: t.relation('organization'),
    posts: t.relatedConnection('posts', {
      cursor: 'organizationId_id',
      totalCount: true,
      query: () => ({ orderBy: [...NEWEST_FIRST] }),
    }),
  }),
});

builder.queryFields((t) => ({
  viewer: t.withAuth({ member: true }).prismaField({
    type: 'User',
    description: 'The signed-in user.',
    resolve: (query, _root, _args, ctx) =>
      ctx.db.user.findUniqueOrThrow({
        ...query,
        where: rowKey(ctx.scope, ctx.scope.user.id),
      }),
  }),
  members: t.withAuth({ member: true }).prismaConnection({
    type: 'User',
    cursor: 'organizationId_id',
    description: "The members of the signed-in user's organization, oldest first.",
    totalCount: (_parent, _args, ctx) => ctx.db.user.count(),
    resolve: (query, _root, _args, ctx) =>
      keysetConnection(
        query,
        'asc',
        (where, select) => ctx.db.user.findUnique({ where, select }),
        (args) => ctx.db.user.findMany(args),
      ),
  }),
}));

const CreateMemberInput = builder.inputType('CreateMemberInput', {
  fields: (t) => ({
    email: t.string({ validate: rules.email }),
    name: t.string({ validate: rules.personName }),
    password: t.string({ validate: rules.password }),
    role: t.field({ type: RoleEnum, required: false, defaultValue: 'MEMBER' }),
  }),
});

const ChangeMemberRoleInput = builder.inputType('ChangeMemberRoleInput', {
  fields: (t) => ({
    userId: t.id(),
    role: t.field({ type: RoleEnum }),
  }),
});

const UpdateProfileInput = builder.inputType('UpdateProfileInput', {
  fields: (t) => ({
    name: t.string({ required: false, validate: rules.personName }),
    email: t.string({ required: false, validate: rules.email }),
  }),
});

builder.mutationFields((t) => ({
  createMember: t.withAuth({ admin: true }).prismaField({
    type: 'User',
    description: 'Adds a member to the organization (OWNER or ADMIN; only an OWNER adds ADMINs).',
    extensions: CREDENTIAL_OPERATION,
    args: { input: t.arg({ type: CreateMemberInput }) },
    resolve: async (query, _root, { input }, ctx) => {
      const role = input.role ?? 'MEMBER';
      if (role === 'OWNER') throw new BadUserInput('An organization has one owner', 'role');
      if (role === 'ADMIN' && ctx.scope.user.role !== 'OWNER') {
        throw new Forbidden('Only the owner can add admins');
      }
      const existing = await ctx.db.user.findFirst({
        where: { email: input.email },
        select: { id: true },
      });
      if (existing) throw new Conflict('A member with this email already exists', 'email');
      const id = randomUUID();
      const passwordHash = await ctx.accounts.newMemberPassword(ctx.scope, input.password);
      return withAuditEntry(
        ctx,
        {
          action: 'member.added',
          targetType: 'User',
          targetId: id,
          details: { email: input.email, role },
        },
        () =>
          ctx.db.user.create({
            ...query,
            data: {
              organizationId: ctx.scope.organizationId,
              id,
              email: input.email,
              name: input.name,
              role,
              passwordHash,
            },
          }),
      );
    },
  }),
  changeMemberRole: t.withAuth({ owner: true }).prismaField({
    type: 'User',
    description: "Changes a member's role (OWNER only).",
    args: { input: t.arg({ type: ChangeMemberRoleInput }) },
    resolve: async (query, _root, { input }, ctx) => {
      const id = idOf(input.userId, 'User', 'userId');
      if (input.role === 'OWNER') throw new BadUserInput('An organization has one owner', 'role');
      const key = rowKey(ctx.scope, id);
      const member = await ctx.db.user.findUnique({ where: key, select: { role: true } });
      if (!member) throw new NotFound('User');
      if (id === ctx.scope.user.id)
        throw new BadUserInput('The owner cannot change their own role', 'userId');
      if (member.role === input.role) {
        return ctx.db.user.findUniqueOrThrow({ ...query, where: key });
      }
      const changed = await withAuditEntry(
        ctx,
        {
          action: 'member.role_changed',
          targetType: 'User',
          targetId: id,
          details: { from: member.role, to: input.role },
        },
        () =>
          ctx.db.user.update({
            ...query,
            where: key,
            // A demotion ends the member's sessions: their tokens carried the old role's reach.
            data: {
              role: input.role,
              ...(RANK[input.role] < RANK[member.role] ? { tokensValidAfter: new Date() } : {}),
            },
          }),
      );
      // After the commit: the member's open streams re-check their access (src/events/streams.ts).
      ctx.events.publish('accessChanged', { userId: id, reason: 'role_changed' });
      return changed;
    },
  }),
  removeMember: t.withAuth({ admin: true }).field({
    type: DeletePayload,
    description:
      'Removes a member, and with them their posts and comments (OWNER or ADMIN; an ADMIN removes MEMBERs only; nobody removes themselves).',
    args: { userId: t.arg.id() },
    resolve: async (_root, args, ctx) => {
      const id = idOf(args.userId, 'User', 'userId');
      const key = rowKey(ctx.scope, id);
      const member = await ctx.db.user.findUnique({
        where: key,
        select: { email: true, role: true },
      });
      if (!member) throw new NotFound('User');
      if (id === ctx.scope.user.id) throw new BadUserInput('You cannot remove yourself', 'userId');
      if (member.role !== 'MEMBER' && ctx.scope.user.role !== 'OWNER') {
        throw new Forbidden('An admin can remove members only');
      }
      await withAuditEntry(
        ctx,
        {
          action: 'member.removed',
          targetType: 'User',
          targetId: id,
          details: { email: member.email, role: member.role },
        },
        () => ctx.db.user.delete({ where: key, select: { id: true } }),
      );
      // After the commit: the member's open streams end at once (src/events/streams.ts).
      ctx.events.publish('accessChanged', { userId: id, reason: 'member_removed' });
      return { deletedId: args.userId };
    },
  }),
  updateProfile: t.withAuth({ member: true }).prismaField({
    type: 'User',
    description: "Updates the signed-in user's name or email.",
    args: { input: t.arg({ type: UpdateProfileInput }) },
    resolve: async (query, _root, { input }, ctx) => {
      const key = rowKey(ctx.scope, ctx.scope.user.id);
      if (input.email) {
        const owner = await ctx.db.user.findFirst({
          where: { email: input.email },
          select: { id: true },
        });
        if (owner && owner.id !== ctx.scope.user.id) {
          throw new Conflict('A member with this email already exists', 'email');
        }
      }
      return ctx.db.user.update({
        ...query,
        where: key,
        data: {
          ...(input.name ? { name: input.name } : {}),
          ...(input.email ? { email: input.email } : {}),
        },
      });
    },
  }),
}));
