import type { MemberContext } from '../context.ts';
import { Forbidden, NotFound } from '../errors.ts';
import { rowKey } from '../tenancy/scope.ts';
import { builder } from './builder.ts';
import { canEdit } from './can-edit.ts';
import { DeletePayload } from './delete-payload.ts';
import { idOf } from './ids.ts';
import { KEY_COLUMNS, tenantNode } from './node.ts';
import { rules } from './validation.ts';

builder.prismaNode('Comment', {
  ...tenantNode,
  // Select mode: a row loads its key and the columns the query's fields ask for, nothing else
  // (the fields that read a column of their own say so with \`select\`).
  select: KEY_COLUMNS,
  fields: (t) => ({
    body: t.exposeString('body'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    author: t.relation('author'),
    post: t.relation('post'),
    viewerCanEdit: t.boolean({
      select: { authorId: true },
      resolve: (comment, _args, ctx) => canEdit(ctx.scope?.user ?? null, comment.authorId),
    }),
  }),
});

const CreateCommentInput = builder.inputType('CreateCommentInput', {
  fields: (t) => ({
    postId: t.id(),
    body: t.string({ validate: rules.body }),
  }),
});

const UpdateCommentInput = builder.inputType('UpdateCommentInput', {
  fields: (t) => ({
    id: t.id(),
    body: t.string({ validate: rules.body }),
  }),
});

async function editableComment(ctx: MemberContext, globalId: string) {
  const key = rowKey(ctx.scope, idOf(globalId, 'Comment'));
  const comment = await ctx.db.comment.findUnique({ where: key, select: { authorId: true } });
  if (!comment) throw new NotFound('Comment');
  if (!canEdit(ctx.scope.user, comment.authorId)) {
    throw new Forbidden('Only the author or an admin can change this comment');
  }
  return key;
}

builder.mutationFields((t) => ({
  createComment: t.withAuth({ member: true }).prismaField({
    type: 'Comment',
    args: { input: t.arg({ type: CreateCommentInput }) },
    resolve: async (query, _root, { input }, ctx) => {
      const postId = idOf(input.postId, 'Post', 'postId');
      const post = await ctx.db.post.findUnique({
        where: rowKey(ctx.scope, postId),
        select: { id: true },
      });
      if (!post) throw new NotFound('Post');
      const comment = await ctx.db.comment.create({
        ...query,
        data: {
          organizationId: ctx.scope.organizationId,
          postId,
          authorId: ctx.scope.user.id,
          body: input.body,
        },
      });
      ctx.events.publish('commentAdded', { id: comment.id, postId });
      // The post's author hears of it through the outbox (src/jobs/notifications.ts). The
      // comment is saved already: a queue that cannot take the job costs a logged notification,
      // not the comment or the answer.
      await ctx.jobs?.sendOrLog('notify-comment', { commentId: comment.id });
      return comment;
    },
  }),
  updateComment: t.withAuth({ member: true }).prismaField({
    type: 'Comment',
    description: 'The author, or an ADMIN/OWNER, may update a comment.',
    args: { input: t.arg({ type: UpdateCommentInput }) },
    resolve: async (query, _root, { input }, ctx) =>
      ctx.db.comment.update({
        ...query,
        where: await editableComment(ctx, input.id),
        data: { body: input.body },
      }),
  }),
  deleteComment: t.withAuth({ member: true }).field({
    type: DeletePayload,
    description: 'The author, or an ADMIN/OWNER, may delete a comment.',
    args: { id: t.arg.id() },
    resolve: async (_root, args, ctx) => {
      await ctx.db.comment.delete({ where: await editableComment(ctx, args.id) });
      return { deletedId: args.id };
    },
  }),
}));
