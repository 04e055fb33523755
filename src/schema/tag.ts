import { type MemberContext, requireMember } from '../context.ts';
import { Conflict, Forbidden, NotFound } from '../errors.ts';
import { rowKey } from '../tenancy/scope.ts';
import { builder } from './builder.ts';
import { canEdit } from './can-edit.ts';
import { keysetConnection } from './connection.ts';
import { DeletePayload } from './delete-payload.ts';
import { idOf } from './ids.ts';
import { tenantNode } from './node.ts';
import { PAGE_SIZE } from './pagination.ts';
import { rules } from './validation.ts';

builder.prismaNode('Tag', {
  ...tenantNode,
  description: "A label on the organization's posts; its name is unique in the organization.",
  fields: (t) => ({
    name: t.exposeString('name'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    postCount: t.relationCount('posts'),
  }),
});

// Post.tags lives here, beside the join it reads; the Post type is in post.ts.
builder.prismaObjectField('Post', 'tags', (t) =>
  t.prismaConnection({
    type: 'Tag',
    cursor: 'organizationId_id',
    description: "The post's tags, the oldest tag first.",
    totalCount: (post, _args, ctx) =>
      requireMember(ctx).db.postTag.count({ where: { postId: post.id } }),
    resolve: (query, post, _args, ctx) => {
      const { db } = requireMember(ctx);
      return keysetConnection(
        query,
        'asc',
        (where, select) => db.tag.findUnique({ where, select }),
        (page) =>
          db.tag.findMany({
            ...page,
            where: { ...page.where, posts: { some: { postId: post.id } } },
          }),
      );
    },
  }),
);

builder.queryFields((t) => ({
  tags: t.withAuth({ member: true }).prismaConnection({
    type: 'Tag',
    cursor: 'organizationId_id',
    description: `The organization's tags, oldest first (keyset cursors; ${PAGE_SIZE.default} by default, ${PAGE_SIZE.max} at most).`,
    totalCount: (_parent, _args, ctx) => ctx.db.tag.count(),
    resolve: (query, _root, _args, ctx) =>
      keysetConnection(
        query,
        'asc',
        (where, select) => ctx.db.tag.findUnique({ where, select }),
        (page) => ctx.db.tag.findMany(page),
      ),
  }),
}));

/** The tag of a global id, through the member's scope: NOT_FOUND if absent or foreign. */
export async function tagKey(ctx: MemberContext, globalId: string, field = 'id') {
  const key = rowKey(ctx.scope, idOf(globalId, 'Tag', field));
  const tag = await ctx.db.tag.findUnique({ where: key, select: { id: true } });
  if (!tag) throw new NotFound('Tag');
  return key;
}

const duplicateName = () => new Conflict('A tag with this name already exists', 'name');

/** Refuses a name another tag of the organization has; the unique key settles a race. */
async function assertNameFree(ctx: MemberContext, name: string, except?: string) {
  const holder = await ctx.db.tag.findFirst({ where: { name }, select: { id: true } });
  if (holder && holder.id !== except) throw duplicateName();
}

const onDuplicate = (error: unknown): never => {
  if ((error as { code?: unknown } | null)?.code === 'P2002') throw duplicateName();
  throw error;
};

const CreateTagInput = builder.inputType('CreateTagInput', {
  fields: (t) => ({ name: t.string({ validate: rules.tagName }) }),
});

const RenameTagInput = builder.inputType('RenameTagInput', {
  fields: (t) => ({ id: t.id(), name: t.string({ validate: rules.tagName }) }),
});

const PostTagInput = builder.inputType('PostTagInput', {
  fields: (t) => ({ postId: t.id(), tagId: t.id() }),
});

/** The post and tag of a tagPost/untagPost: each NOT_FOUND if absent or foreign. */
async function postAndTag(ctx: MemberContext, input: { postId: string; tagId: string }) {
  // Both ids are checked before either is looked up: a malformed one is BAD_USER_INPUT always.
  const postKey = rowKey(ctx.scope, idOf(input.postId, 'Post', 'postId'));
  const tagId = idOf(input.tagId, 'Tag', 'tagId');
  const post = await ctx.db.post.findUnique({ where: postKey, select: { authorId: true } });
  if (!post) throw new NotFound('Post');
  const tag = await ctx.db.tag.findUnique({
    where: rowKey(ctx.scope, tagId),
    select: { id: true },
  });
  if (!tag) throw new NotFound('Tag');
  if (!canEdit(ctx.scope.user, post.authorId)) {
    throw new Forbidden('Only the author or an admin can tag this post');
  }
  return { postKey, postId: postKey.organizationId_id.id, tagId };
}

builder.mutationFields((t) => ({
  createTag: t.withAuth({ member: true }).prismaField({
    type: 'Tag',
    description: 'Creates a tag; CONFLICT if the organization has one of that name.',
    args: { input: t.arg({ type: CreateTagInput }) },
    resolve: async (query, _root, { input }, ctx) => {
      await assertNameFree(ctx, input.name);
      return ctx.db.tag
        .create({ ...query, data: { organizationId: ctx.scope.organizationId, name: input.name } })
        .catch(onDuplicate);
    },
  }),
  renameTag: t.withAuth({ admin: true }).prismaField({
    type: 'Tag',
    description: 'Renames a tag (ADMIN/OWNER: it changes every post that carries it).',
    args: { input: t.arg({ type: RenameTagInput }) },
    resolve: async (query, _root, { input }, ctx) => {
      const where = await tagKey(ctx, input.id);
      await assertNameFree(ctx, input.name, where.organizationId_id.id);
      return ctx.db.tag.update({ ...query, where, data: { name: input.name } }).catch(onDuplicate);
    },
  }),
  deleteTag: t.withAuth({ admin: true }).field({
    type: DeletePayload,
    description: 'Deletes a tag and takes it off every post (ADMIN/OWNER).',
    args: { id: t.arg.id() },
    resolve: async (_root, args, ctx) => {
      await ctx.db.tag.delete({ where: await tagKey(ctx, args.id), select: { id: true } });
      return { deletedId: args.id };
    },
  }),
  tagPost: t.withAuth({ member: true }).prismaField({
    type: 'Post',
    description: 'Puts a tag on a post (its author, or an ADMIN/OWNER); tagging twice is a no-op.',
    args: { input: t.arg({ type: PostTagInput }) },
    resolve: async (query, _root, { input }, ctx) => {
      const { postKey, postId, tagId } = await postAndTag(ctx, input);
      const row = { organizationId: ctx.scope.organizationId, postId, tagId };
      await ctx.db.postTag.createMany({ data: [row], skipDuplicates: true });
      ctx.events.publish('postUpdated', { id: postId });
      return ctx.db.post.findUniqueOrThrow({ ...query, where: postKey });
    },
  }),
  untagPost: t.withAuth({ member: true }).prismaField({
    type: 'Post',
    description: 'Takes a tag off a post (its author, or an ADMIN/OWNER); a no-op if it has none.',
    args: { input: t.arg({ type: PostTagInput }) },
    resolve: async (query, _root, { input }, ctx) => {
      const { postKey, postId, tagId } = await postAndTag(ctx, input);
      await ctx.db.postTag.deleteMany({ where: { postId, tagId } });
      ctx.events.publish('postUpdated', { id: postId });
      return ctx.db.post.findUniqueOrThrow({ ...query, where: postKey });
    },
  }),
}));
