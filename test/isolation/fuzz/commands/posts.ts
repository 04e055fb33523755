import { expectError, Op, okData, rawOf, record, type Step, same, text } from '../checks.ts';
import {
  type ActorRef,
  actorLabel,
  at,
  canEdit,
  type IdRef,
  idRefLabel,
  livePosts,
  type MPost,
  type OrgRef,
  POST_DETAIL,
  POST_FIELDS,
  postDetailShape,
  postShape,
  prefix,
  resolveActor,
  resolveId,
} from '../model.ts';
import { CONTENTS, marker, TITLES, visible } from '../world.ts';

/** Commands on posts: create, update, delete, and the reads (one, a connection, a page). */

export class CreatePost extends Op {
  readonly name = 'createPost';
  constructor(
    readonly actor: ActorRef,
    readonly title: number,
    readonly content: number | null,
    readonly blank: boolean,
  ) {
    super();
  }
  toString(): string {
    const title = this.blank ? 'a blank title' : JSON.stringify(at(TITLES, this.title));
    return `${actorLabel(this.actor)} createPost(${title})`;
  }
  protected async exec(step: Step): Promise<void> {
    const a = resolveActor(step.model, this.actor);
    const n = a.org.posts.length;
    const shown = JSON.stringify(at(TITLES, this.title));
    step.describe(
      this.blank
        ? `${a.label} createPost(a blank title)`
        : `${a.label} createPost(${shown}) = ${a.org.label}.post#${n}`,
    );
    const title = this.blank ? '   ' : `${at(TITLES, this.title)}${marker(a.org.key)}`;
    const content =
      this.content === null ? null : `${at(CONTENTS, this.content)}${marker(a.org.key)}`;
    const res = await step.call(
      a,
      `mutation CreatePost($input: CreatePostInput!) {
        createPost(input: $input) { ${POST_FIELDS} }
      }`,
      { input: { title, content } },
      'createPost',
    );
    if (this.blank) {
      expectError(res, 'BAD_USER_INPUT', 'createPost with a blank title');
      step.done('BAD_USER_INPUT');
      return;
    }
    const got = record(okData(res, 'createPost').createPost, 'createPost');
    const id = text(got.id, 'createPost.id');
    const post: MPost = {
      n,
      id,
      raw: rawOf(id),
      authorId: a.user.id,
      title,
      content,
      createdAt: text(got.createdAt, 'createPost.createdAt'),
      deleted: false,
    };
    a.org.posts.push(post);
    same(got, postShape(a.org, post, a.user), 'createPost payload');
    step.done('ok');
  }
}

/** `keep`: not sent; `null`: cleared; a number: one of CONTENTS. */
export type ContentChoice = 'keep' | null | number;

export class UpdatePost extends Op {
  readonly name = 'updatePost';
  constructor(
    readonly actor: ActorRef,
    readonly target: IdRef,
    readonly title: number | null,
    readonly content: ContentChoice,
  ) {
    super();
  }
  toString(): string {
    const title = this.title === null ? '' : `, title=${JSON.stringify(at(TITLES, this.title))}`;
    return `${actorLabel(this.actor)} updatePost(${idRefLabel(this.target)}${title})`;
  }
  protected async exec(step: Step): Promise<void> {
    const { world, model } = step;
    const a = resolveActor(model, this.actor);
    const target = resolveId(world, model, a, this.target);
    const title = this.title === null ? undefined : `${at(TITLES, this.title)}${marker(a.org.key)}`;
    const content =
      this.content === 'keep'
        ? undefined
        : this.content === null
          ? null
          : `${at(CONTENTS, this.content)}${marker(a.org.key)}`;
    const titled = title === undefined ? '' : `, title=${JSON.stringify(visible(title))}`;
    step.describe(`${a.label} updatePost(${target.label}${titled})`);
    await step.targeted({
      actor: a,
      target,
      kind: 'Post',
      query: `mutation UpdatePost($input: UpdatePostInput!) {
        updatePost(input: $input) { ${POST_FIELDS} }
      }`,
      variables: (id) => ({
        input: {
          id,
          ...(title === undefined ? {} : { title }),
          ...(content === undefined ? {} : { content }),
        },
      }),
      own: () => {
        const post = target.row as MPost;
        if (!canEdit(a.user, post.authorId)) return { error: 'FORBIDDEN' };
        return {
          check: (data) => {
            if (title !== undefined) post.title = title;
            if (content !== undefined) post.content = content;
            same(data.updatePost, postShape(a.org, post, a.user), 'updatePost payload');
          },
        };
      },
    });
  }
}

export class DeletePost extends Op {
  readonly name = 'deletePost';
  constructor(
    readonly actor: ActorRef,
    readonly target: IdRef,
  ) {
    super();
  }
  toString(): string {
    return `${actorLabel(this.actor)} deletePost(${idRefLabel(this.target)})`;
  }
  protected async exec(step: Step): Promise<void> {
    const { world, model } = step;
    const a = resolveActor(model, this.actor);
    const target = resolveId(world, model, a, this.target);
    step.describe(`${a.label} deletePost(${target.label})`);
    await step.targeted({
      actor: a,
      target,
      kind: 'Post',
      query: 'mutation DeletePost($id: ID!) { deletePost(id: $id) { deletedId } }',
      variables: (id) => ({ id }),
      own: () => {
        const post = target.row as MPost;
        if (!canEdit(a.user, post.authorId)) return { error: 'FORBIDDEN' };
        return {
          check: (data) => {
            same(data.deletePost, { deletedId: post.id }, 'deletePost payload');
            post.deleted = true;
            // Its comments go with it.
            for (const c of a.org.comments) if (c.postId === post.id) c.deleted = true;
          },
        };
      },
    });
  }
}

export class ReadPost extends Op {
  readonly name = 'post';
  constructor(
    readonly actor: ActorRef,
    readonly target: IdRef,
  ) {
    super();
  }
  toString(): string {
    return `${actorLabel(this.actor)} post(${idRefLabel(this.target)})`;
  }
  protected async exec(step: Step): Promise<void> {
    const { world, model } = step;
    const a = resolveActor(model, this.actor);
    const target = resolveId(world, model, a, this.target);
    step.describe(`${a.label} post(${target.label})`);
    await step.targeted({
      actor: a,
      target,
      kind: 'Post',
      query: `query Post($id: ID!) { post(id: $id) { ${POST_DETAIL} } }`,
      variables: (id) => ({ id }),
      own: () => ({
        check: (data) =>
          same(data.post, postDetailShape(a.org, target.row as MPost, a.user), 'post(id)'),
      }),
    });
  }
}

/** Where a `posts` walk starts: the top, after a post's cursor (own or not), or a bad cursor. */
export type CursorChoice =
  | null
  | Readonly<{ org: OrgRef | 'self'; n: number }>
  | Readonly<{ garbage: string }>;

export class ReadPosts extends Op {
  readonly name = 'posts';
  constructor(
    readonly actor: ActorRef,
    readonly first: number,
    readonly pages: number,
    readonly after: CursorChoice,
  ) {
    super();
  }
  toString(): string {
    const after =
      this.after === null
        ? ''
        : 'garbage' in this.after
          ? `, after=${JSON.stringify(this.after.garbage)}`
          : `, after the cursor of ${prefix(this.after.org)}post#${this.after.n}`;
    return `${actorLabel(this.actor)} posts(first=${this.first}${after}, ${this.pages} page(s))`;
  }
  protected async exec(step: Step): Promise<void> {
    const { world, model } = step;
    const a = resolveActor(model, this.actor);
    const live = livePosts(a.org);
    let cursor: string | null = null;
    let start: number | null = 0; // null: the cursor points at no visible row, so nothing follows
    let from = '';
    let outcome = 'ok';
    if (this.after && 'garbage' in this.after) {
      step.describe(
        `${a.label} posts(first=${this.first}, after=${JSON.stringify(this.after.garbage)})`,
      );
      const res = await step.call(a, POSTS_QUERY, { first: this.first, after: this.after.garbage });
      expectError(res, 'BAD_USER_INPUT', 'posts with a garbage cursor');
      step.done('BAD_USER_INPUT');
      return;
    }
    if (this.after) {
      const ref: IdRef = {
        t: 'row',
        org: this.after.org,
        kind: 'Post',
        n: this.after.n,
        uuid: ZERO,
      };
      const target = resolveId(world, model, a, ref);
      const post = target.row as MPost | null;
      const seen = post && target.org ? target.org.cursors.get(post.raw) : undefined;
      if (seen) {
        cursor = seen;
        const own = target.org === a.org;
        start = own && target.live ? live.indexOf(post as MPost) + 1 : null;
        from = `, after the cursor of ${target.label}`;
        if (!own) outcome = 'ok (foreign cursor: empty)';
        else if (start === null) outcome = 'ok (stale cursor: empty)';
      } else {
        from = `, after ${target.label}'s cursor (none seen yet: from the top)`;
      }
    }
    step.describe(`${a.label} posts(first=${this.first}${from}, ${this.pages} page(s))`);
    for (let page = 0; page < this.pages; page += 1) {
      const res = await step.call(a, POSTS_QUERY, { first: this.first, after: cursor });
      const got = record(okData(res, 'posts').posts, 'posts');
      const expected = start === null ? [] : live.slice(start, start + this.first);
      const hasNextPage = start !== null && live.length > start + this.first;
      const edges = Array.isArray(got.edges) ? (got.edges as unknown[]) : [];
      const cursors = edges.map((edge, i) =>
        text(record(edge, 'edge').cursor, `edges[${i}].cursor`),
      );
      same(
        got,
        {
          totalCount: live.length,
          pageInfo: { hasNextPage, endCursor: cursors.at(-1) ?? null },
          edges: expected.map((post, i) => ({
            cursor: cursors[i],
            node: postShape(a.org, post, a.user),
          })),
        },
        `posts page ${page + 1} (first=${this.first}${from})`,
      );
      for (const [i, post] of expected.entries()) a.org.cursors.set(post.raw, at(cursors, i));
      if (!hasNextPage || start === null) break;
      cursor = cursors.at(-1) ?? null;
      start += this.first;
    }
    step.done(outcome);
  }
}

export const ZERO = '00000000-0000-4000-8000-000000000000';
export const POSTS_QUERY = `query Posts($first: Int!, $after: String) {
  posts(first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { cursor node { ${POST_FIELDS} } }
  }
}`;

export class ReadPostsPage extends Op {
  readonly name = 'postsPage';
  constructor(
    readonly actor: ActorRef,
    readonly page: number,
    readonly pageSize: number,
  ) {
    super();
  }
  toString(): string {
    return `${actorLabel(this.actor)} postsPage(page=${this.page}, pageSize=${this.pageSize})`;
  }
  protected async exec(step: Step): Promise<void> {
    const a = resolveActor(step.model, this.actor);
    step.describe(`${a.label} postsPage(page=${this.page}, pageSize=${this.pageSize})`);
    const res = await step.call(
      a,
      `query PostsPage($page: Int!, $pageSize: Int!) {
        postsPage(page: $page, pageSize: $pageSize) {
          page pageSize totalCount nodes { ${POST_FIELDS} }
        }
      }`,
      { page: this.page, pageSize: this.pageSize },
    );
    const live = livePosts(a.org);
    const from = (this.page - 1) * this.pageSize;
    same(
      okData(res, 'postsPage').postsPage,
      {
        page: this.page,
        pageSize: this.pageSize,
        totalCount: live.length,
        nodes: live.slice(from, from + this.pageSize).map((p) => postShape(a.org, p, a.user)),
      },
      'postsPage',
    );
    step.done('ok');
  }
}
