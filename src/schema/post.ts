import { type MemberContext, requireMember } from '../context.ts';
import { Forbidden, NotFound } from '../errors.ts';
import { rowKey } from '../tenancy/scope.ts';
import { builder } from './builder.ts';
import { canEdit } from './can-edit.ts';
import { keysetConnection } from './connection.ts';
import { DeletePayload } from './delete-payload.ts';
import { idOf } from './ids.ts';
import { KEY_COLUMNS, tenantNode } from './node.ts';
import { NEWEST_FIRST, OLDEST_FIRST, PAGE_SIZE } from './pagination.ts';
import { tagKey } from './tag.ts';
import { rules } from './validation.ts';

builder.prismaNode('Post', {
  ...tenantNode,
  // Select mode: a row loads its key and the columns the query's fields ask for, nothing else
  // (the fields that read a column of their own say so with \`select\`).
  select: KEY_COLUMNS,
  fields: (t) => ({
    title: t.exposeString('title'),
    content: t.exposeString('content', { nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    author: t.relation('author'),
    commentCount: t.relationCount('comments'),
    comments: t.relatedConnection('comments', {
      cursor: 'organizationId_id',
      totalCount: true,
      description: 'Oldest first.',
      query: () => ({ orderBy: [...OLDEST_FIRST] }),
    }),
    viewerCanEdit: t.boolean({
      description: 'Whether the signed-in user may update or delete this post.',
      select: { authorId: true },
      resolve: (post, _args, ctx) => canEdit(ctx.scope?.user ?? null, post.authorId),
    }),
  }),
});

type PostPageShape = { page: number; pageSize: number };
const PostPage = builder.objectRef<PostPageShape>('PostPage').implement({
  description: 'One page of posts, newest first, for clients that page by number.',
  fields: (t) => ({
    page: t.exposeInt('page'),
    pageSize: t.exposeInt('pageSize'),
    totalCount: t.int({ resolve: (_page, _args, ctx) => requireMember(ctx).db.post.count() }),
    nodes: t.prismaField({
      type: ['Post'],
      resolve: (query, { page, pageSize }, _args, ctx) =>
        requireMember(ctx).db.post.findMany({
          ...query,
          orderBy: [...NEWEST_FIRST],
          skip: (page - 1) * pageSize,
          take: pageSize,
        }),
    }),
  }),
});

builder.queryFields((t) => ({
  posts: t.withAuth({ member: true }).prismaConnection({
    type: 'Post',
    cursor: 'organizationId_id',
    description: `The organization's posts, newest first (keyset cursors; ${PAGE_SIZE.default} by default, ${PAGE_SIZE.max} at most); with \`tag\`, only the posts carrying it.`,
    args: { tag: t.arg.id({ required: false }) },
    totalCount: async (_parent, args, ctx) =>
      ctx.db.post.count({ where: await taggedWith(ctx, args.tag) }),
    resolve: async (query, _root, args, ctx) => {
      const tagged = await taggedWith(ctx, args.tag);
      return keysetConnection(
        query,
        'desc',
        (where, select) => ctx.db.post.findUnique({ where, select }),
        (page) => ctx.db.post.findMany({ ...page, where: { ...page.where, ...tagged } }),
      );
    },
  }),
  postsPage: t.withAuth({ member: true }).field({
    type: PostPage,
    args: {
      page: t.arg.int({ required: false, defaultValue: 1, validate: rules.page }),
      pageSize: t.arg.int({
        required: false,
        defaultValue: PAGE_SIZE.default,
        validate: rules.pageSize,
      }),
    },
    resolve: (_root, args) => ({
      page: args.page ?? 1,
      pageSize: args.pageSize ?? PAGE_SIZE.default,
    }),
  }),
  post: t.withAuth({ member: true }).prismaField({
    type: 'Post',
    args: { id: t.arg.id() },
    resolve: async (query, _root, args, ctx) => {
      const post = await ctx.db.post.findUnique({
        ...query,
        where: rowKey(ctx.scope, idOf(args.id, 'Post')),
      });
      if (!post) throw new NotFound('Post');
      return post;
    },
  }),
}));

const CreatePostInput = builder.inputType('CreatePostInput', {
  fields: (t) => ({
    title: t.string({ validate: rules.title }),
    content: t.string({ required: false, validate: rules.content }),
  }),
});

const UpdatePostInput = builder.inputType('UpdatePostInput', {
  fields: (t) => ({
    id: t.id(),
    title: t.string({ required: false, validate: rules.title }),
    content: t.string({ required: false, validate: rules.content }),
  }),
});

/** The filter of `posts(tag:)`; a foreign or missing tag is NOT_FOUND (src/schema/tag.ts). */
async function taggedWith(ctx: MemberContext, tag: string | null | undefined) {
  if (tag == null) return {};
  const key = await tagKey(ctx, tag, 'tag');
  return { tags: { some: { tagId: key.organizationId_id.id } } };
}

/** Loads a post the user may edit: NOT_FOUND if absent or foreign, FORBIDDEN if not allowed. */
async function editablePost(ctx: MemberContext, globalId: string) {
  const key = rowKey(ctx.scope, idOf(globalId, 'Post'));
  const post = await ctx.db.post.findUnique({ where: key, select: { authorId: true } });
  if (!post) throw new NotFound('Post');
  if (!canEdit(ctx.scope.user, post.authorId))
    throw new Forbidden('Only the author or an admin can change this post');
  return key;
}

builder.mutationFields((t) => ({
  createPost: t.withAuth({ member: true }).prismaField({
    type: 'Post',
    args: { input: t.arg({ type: CreatePostInput }) },
    resolve: async (query, _root, { input }, ctx) => {
      const post = await ctx.db.post.create({
        ...query,
        data: {
          organizationId: ctx.scope.organizationId,
          authorId: ctx.scope.user.id,
          title: input.title,
          content: input.content ?? null,
        },
      });
      ctx.events.publish('postCreated', { id: post.id });
      return post;
    },
  }),
  updatePost: t.withAuth({ member: true }).prismaField({
    type: 'Post',
    description: 'The author, or an ADMIN/OWNER, may update a post.',
    args: { input: t.arg({ type: UpdatePostInput }) },
    resolve: async (query, _root, { input }, ctx) => {
      const where = await editablePost(ctx, input.id);
      const post = await ctx.db.post.update({
        ...query,
        where,
        data: {
          ...(input.title != null ? { title: input.title } : {}),
          ...(input.content !== undefined ? { content: input.content } : {}),
        },
      });
      ctx.events.publish('postUpdated', { id: post.id });
      return post;
    },
  }),
  deletePost: t.withAuth({ member: true }).field({
    type: DeletePayload,
    description: 'The author, or an ADMIN/OWNER, may delete a post (and its comments).',
    args: { id: t.arg.id() },
    resolve: async (_root, args, ctx) => {
      const where = await editablePost(ctx, args.id);
      await ctx.db.post.delete({ where });
      ctx.events.publish('postDeleted', { id: where.organizationId_id.id });
      return { deletedId: args.id };
    },
  }),
}));
