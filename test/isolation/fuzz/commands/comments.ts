import { Op, rawOf, record, type Step, same, text } from '../checks.ts';
import {
  type ActorRef,
  actorLabel,
  at,
  COMMENT_FIELDS,
  canEdit,
  commentShape,
  type IdRef,
  idRefLabel,
  liveComments,
  type MComment,
  type MPost,
  resolveActor,
  resolveId,
} from '../model.ts';
import { BODIES, marker, visible } from '../world.ts';

/** Commands on comments: create, update, delete. */

export class CreateComment extends Op {
  readonly name = 'createComment';
  constructor(
    readonly actor: ActorRef,
    readonly post: IdRef,
    readonly body: number,
  ) {
    super();
  }
  toString(): string {
    const body = JSON.stringify(at(BODIES, this.body));
    return `${actorLabel(this.actor)} createComment(on ${idRefLabel(this.post)}, ${body})`;
  }
  protected async exec(step: Step): Promise<void> {
    const { world, model } = step;
    const a = resolveActor(model, this.actor);
    const target = resolveId(world, model, a, this.post);
    const n = a.org.comments.length;
    const body = `${at(BODIES, this.body)}${marker(a.org.key)}`;
    step.describe(`${a.label} createComment(on ${target.label}, ${JSON.stringify(visible(body))})`);
    await step.targeted({
      actor: a,
      target,
      kind: 'Post',
      query: `mutation CreateComment($input: CreateCommentInput!) {
        createComment(input: $input) { ${COMMENT_FIELDS} post { id commentCount } }
      }`,
      variables: (postId) => ({ input: { postId, body } }),
      created: 'createComment',
      own: () => ({
        check: (data) => {
          const got = record(data.createComment, 'createComment');
          const id = text(got.id, 'createComment.id');
          const comment: MComment = {
            n,
            id,
            raw: rawOf(id),
            postId: target.id,
            authorId: a.user.id,
            body,
            createdAt: text(got.createdAt, 'createComment.createdAt'),
            deleted: false,
          };
          a.org.comments.push(comment);
          const post = target.row as MPost;
          same(
            got,
            {
              ...commentShape(comment, a.user),
              post: { id: post.id, commentCount: liveComments(a.org, post).length },
            },
            `createComment payload (${a.org.label}.comment#${n})`,
          );
        },
      }),
    });
  }
}

export class UpdateComment extends Op {
  readonly name = 'updateComment';
  constructor(
    readonly actor: ActorRef,
    readonly target: IdRef,
    readonly body: number,
  ) {
    super();
  }
  toString(): string {
    const body = JSON.stringify(at(BODIES, this.body));
    return `${actorLabel(this.actor)} updateComment(${idRefLabel(this.target)}, ${body})`;
  }
  protected async exec(step: Step): Promise<void> {
    const { world, model } = step;
    const a = resolveActor(model, this.actor);
    const target = resolveId(world, model, a, this.target);
    const body = `${at(BODIES, this.body)}${marker(a.org.key)}`;
    step.describe(`${a.label} updateComment(${target.label}, ${JSON.stringify(visible(body))})`);
    await step.targeted({
      actor: a,
      target,
      kind: 'Comment',
      query: `mutation UpdateComment($input: UpdateCommentInput!) {
        updateComment(input: $input) { ${COMMENT_FIELDS} }
      }`,
      variables: (id) => ({ input: { id, body } }),
      own: () => {
        const comment = target.row as MComment;
        if (!canEdit(a.user, comment.authorId)) return { error: 'FORBIDDEN' };
        return {
          check: (data) => {
            comment.body = body;
            same(data.updateComment, commentShape(comment, a.user), 'updateComment payload');
          },
        };
      },
    });
  }
}

export class DeleteComment extends Op {
  readonly name = 'deleteComment';
  constructor(
    readonly actor: ActorRef,
    readonly target: IdRef,
  ) {
    super();
  }
  toString(): string {
    return `${actorLabel(this.actor)} deleteComment(${idRefLabel(this.target)})`;
  }
  protected async exec(step: Step): Promise<void> {
    const { world, model } = step;
    const a = resolveActor(model, this.actor);
    const target = resolveId(world, model, a, this.target);
    step.describe(`${a.label} deleteComment(${target.label})`);
    await step.targeted({
      actor: a,
      target,
      kind: 'Comment',
      query: 'mutation DeleteComment($id: ID!) { deleteComment(id: $id) { deletedId } }',
      variables: (id) => ({ id }),
      own: () => {
        const comment = target.row as MComment;
        if (!canEdit(a.user, comment.authorId)) return { error: 'FORBIDDEN' };
        return {
          check: (data) => {
            same(data.deleteComment, { deletedId: comment.id }, 'deleteComment payload');
            comment.deleted = true;
          },
        };
      },
    });
  }
}
