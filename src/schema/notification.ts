import { requireMember } from '../context.ts';
import { isUuid } from '../tenancy/ids.ts';
import { builder } from './builder.ts';
import { keysetConnection } from './connection.ts';
import { tenantNode } from './node.ts';

// A Node whose lookup also names the recipient: a notification is its recipient's alone, so a
// colleague's id resolves through `node(id)` like a missing one.
builder.prismaNode('Notification', {
  ...tenantNode,
  findUnique: (id, ctx) => ({
    ...tenantNode.findUnique(id, ctx),
    recipientId: requireMember(ctx).scope.user.id,
  }),
  description: "A row of the signed-in user's outbox, written by a background job.",
  fields: (t) => ({
    kind: t.exposeString('kind', { description: 'COMMENT_ON_YOUR_POST' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    readAt: t.expose('readAt', { type: 'DateTime', nullable: true }),
    comment: t.relation('comment'),
  }),
});

builder.queryFields((t) => ({
  notifications: t.withAuth({ member: true }).prismaConnection({
    type: 'Notification',
    cursor: 'organizationId_id',
    description: "The signed-in user's notifications, newest first.",
    args: { unreadOnly: t.arg.boolean({ required: false, defaultValue: false }) },
    totalCount: (_parent, args, ctx) =>
      ctx.db.notification.count({
        where: { recipientId: ctx.scope.user.id, ...(args.unreadOnly ? { readAt: null } : {}) },
      }),
    resolve: (query, _root, args, ctx) =>
      keysetConnection(
        query,
        'desc',
        (cursor, select) => {
          // Named, not spread into the filter: only the row's id comes from the client's cursor,
          // and only as a UUID (src/schema/complexity.ts refuses any other cursor before
          // resolvers run).
          const id = cursor.organizationId_id?.id;
          if (!isUuid(id)) return Promise.resolve(null);
          return ctx.db.notification.findFirst({
            where: { id, recipientId: ctx.scope.user.id },
            select,
          });
        },
        (page) =>
          ctx.db.notification.findMany({
            ...page,
            where: {
              ...page.where,
              recipientId: ctx.scope.user.id,
              ...(args.unreadOnly ? { readAt: null } : {}),
            },
          }),
      ),
  }),
}));

builder.mutationFields((t) => ({
  markNotificationsRead: t.withAuth({ member: true }).int({
    description: "Marks the signed-in user's unread notifications read; returns how many.",
    resolve: async (_root, _args, ctx) => {
      const { count } = await ctx.db.notification.updateMany({
        where: { recipientId: ctx.scope.user.id, readAt: null },
        data: { readAt: new Date() },
      });
      return count;
    },
  }),
}));
