import { filter, pipe } from '@graphql-yoga/subscription';
import { requireMember, requireStreams } from '../context.ts';
import { NotFound } from '../errors.ts';
import { rowKey } from '../tenancy/scope.ts';
import { builder } from './builder.ts';
import { encodeGlobalId, idOf } from './ids.ts';

/**
 * Subscriptions, over Server-Sent Events (GraphQL over SSE). Each one listens on its
 * organization's topic, which comes from the subscriber's Scope (src/events/bus.ts), never from an
 * argument. An event carries ids only; the row is read again through the subscriber's scoped
 * client before it is delivered, so a subscriber sees what a query would show it at that moment
 * (null once the row is gone). Each `subscribe` calls `requireMember` itself: the auth scopes
 * are checked when an event is resolved, and a subscription must not start without a member.
 *
 * Every stream is opened through `streams.open` and every event resolved through
 * `streams.read` (src/events/streams.ts): the member is checked again with each event, in the same
 * unit of work as the row, and the stream ends as soon as access does.
 */
builder.subscriptionType({});

const DeletedPost = builder.objectRef<{ id: string }>('DeletedPost').implement({
  description: 'A post that was deleted: its id, nothing else.',
  fields: (t) => ({ id: t.id({ resolve: (post) => encodeGlobalId('Post', post.id) }) }),
});

builder.subscriptionFields((t) => {
  /** A post event's field: the post, read again through the subscriber's scoped client. */
  const postEvent = (event: 'postCreated' | 'postUpdated', description: string) =>
    t.withAuth({ member: true }).prismaField({
      type: 'Post',
      nullable: true,
      description,
      subscribe: (_root, _args, ctx) =>
        requireStreams(ctx).open(requireMember(ctx).events.subscribe(event)),
      resolve: (query, payload, _args, ctx) =>
        requireStreams(ctx).read((db) =>
          db.post.findUnique({
            ...query,
            where: rowKey(ctx.scope, (payload as { id: string }).id),
          }),
        ),
    });
  return {
    postCreated: postEvent(
      'postCreated',
      "A post created in the signed-in user's organization (null if deleted since).",
    ),
    postUpdated: postEvent(
      'postUpdated',
      "A post updated in the signed-in user's organization (null if deleted since).",
    ),
    postDeleted: t.withAuth({ member: true }).field({
      type: DeletedPost,
      description: "A post deleted in the signed-in user's organization: its id only.",
      subscribe: (_root, _args, ctx) =>
        requireStreams(ctx).open(requireMember(ctx).events.subscribe('postDeleted')),
      resolve: (event, _args, ctx) => requireStreams(ctx).read(async () => event as { id: string }),
    }),
    commentAdded: t.withAuth({ member: true }).prismaField({
      type: 'Comment',
      nullable: true,
      description: "A comment added to one post of the signed-in user's organization.",
      args: { postId: t.arg.id() },
      subscribe: async (_root, args, context) => {
        const ctx = requireMember(context);
        // Checked once, when the subscription starts: another organization's post is NOT_FOUND,
        // exactly like a post that does not exist.
        const postId = idOf(args.postId, 'Post', 'postId');
        const post = await ctx.db.post.findUnique({
          where: rowKey(ctx.scope, postId),
          select: { id: true },
        });
        if (!post) throw new NotFound('Post');
        return requireStreams(ctx).open(
          pipe(
            ctx.events.subscribe('commentAdded'),
            filter((event) => event.postId === postId),
          ),
        );
      },
      resolve: (query, event, _args, ctx) =>
        requireStreams(ctx).read((db) =>
          db.comment.findUnique({
            ...query,
            where: rowKey(ctx.scope, (event as { id: string }).id),
          }),
        ),
    }),
  };
});
