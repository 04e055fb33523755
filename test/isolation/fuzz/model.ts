import { encodeGlobalId } from '../../../src/schema/ids.ts';
import { BASE_LABELS, type Kind, type Person, UNOWNED, type World } from './world.ts';

/**
 * What each tenant should see during one run, the symbolic references commands are made of,
 * and the shapes the API must answer with.
 */

// ─── The model: what each tenant should see during one run ───────────────────────────────────

export type MPost = {
  n: number;
  id: string;
  raw: string;
  authorId: string;
  title: string;
  content: string | null;
  createdAt: string;
  deleted: boolean;
};

export type MComment = {
  n: number;
  id: string;
  raw: string;
  postId: string;
  authorId: string;
  body: string;
  createdAt: string;
  deleted: boolean;
};

export type MOrg = {
  key: number;
  label: string;
  slug: string;
  name: string;
  id: string;
  raw: string;
  /** Users commands can act as or target: the base people and members created in this run. */
  users: Person[];
  /** Members created by earlier runs: listed by `members`, never chosen by a command. */
  ghosts: Person[];
  /** Every post of this run, deleted ones included (their ids then behave as missing). */
  posts: MPost[];
  comments: MComment[];
  /** Cursors seen in responses, by post uuid. */
  cursors: Map<string, string>;
};

export type Model = { orgs: MOrg[]; base: number; story: string[] };

// ─── Symbolic references, resolved against the model when a command runs ─────────────────────

/** A base organization, or the k-th organization signed up in this run (else `fallback`). */
export type OrgRef = Readonly<{ base: number }> | Readonly<{ signup: number; fallback: number }>;
/** User 0 is the owner, 1 the admin, 2 the member, 3+ created members (modulo what exists). */
export type ActorRef = Readonly<{ org: OrgRef; user: number }>;
export type IdRef =
  | Readonly<{ t: 'row'; org: OrgRef | 'self'; kind: Kind; n: number; uuid: string }>
  | Readonly<{ t: 'missing'; kind: Kind; uuid: string }>
  | Readonly<{ t: 'malformed'; text: string }>
  | Readonly<{ t: 'unknownType'; uuid: string }>;

export function orgRefLabel(ref: OrgRef): string {
  return 'base' in ref ? (BASE_LABELS[ref.base] ?? `org${ref.base}`) : `new#${ref.signup}`;
}

/** `globex.` for another organization, nothing for the actor's own. */
export function prefix(org: OrgRef | 'self'): string {
  return org === 'self' ? '' : `${orgRefLabel(org)}.`;
}

export function actorLabel(ref: ActorRef): string {
  const user = (['owner', 'admin', 'member'] as const)[ref.user] ?? `user#${ref.user}`;
  return `${orgRefLabel(ref.org)}.${user}`;
}

export function idRefLabel(ref: IdRef): string {
  switch (ref.t) {
    case 'row': {
      const org = ref.org === 'self' ? '' : `${orgRefLabel(ref.org)}.`;
      return ref.kind === 'Organization'
        ? `${org || 'own '}org`
        : `${org}${ref.kind.toLowerCase()}#${ref.n}`;
    }
    case 'missing':
      return `missing ${ref.kind}`;
    case 'malformed':
      return `malformed ${JSON.stringify(ref.text)}`;
    case 'unknownType':
      return 'Invoice id';
  }
}

export type Actor = Readonly<{ org: MOrg; user: Person; label: string }>;

export type Resolved = Readonly<{
  id: string;
  label: string;
  kind: Kind | 'malformed' | 'unknownType';
  /** Whose row it is (null: nobody's). */
  org: MOrg | null;
  row: MPost | MComment | Person | MOrg | null;
  live: boolean;
  /** A made-up uuid of the same type: the missing id a foreign id is compared with. */
  uuid: string;
}>;

export function at<T>(list: readonly T[], index: number): T {
  const value = list[index];
  if (value === undefined) throw new Error(`no element ${index} of ${list.length}`);
  return value;
}

export function resolveOrg(model: Model, ref: OrgRef): MOrg {
  if ('base' in ref) return at(model.orgs, ref.base % model.base);
  return model.orgs[model.base + ref.signup] ?? at(model.orgs, ref.fallback % model.base);
}

export function resolveActor(model: Model, ref: ActorRef): Actor {
  const org = resolveOrg(model, ref.org);
  const user = org.users[ref.user] ?? at(org.users, ref.user % org.users.length);
  return { org, user, label: `${org.label}.${user.label}[${user.role}]` };
}

export function rowsOf(org: MOrg, kind: Kind): readonly (MPost | MComment | Person | MOrg)[] {
  switch (kind) {
    case 'Post':
      return org.posts;
    case 'Comment':
      return org.comments;
    case 'User':
      return org.users;
    case 'Organization':
      return [org];
  }
}

export function unowned(world: World, uuid: string): string {
  if (!world.owners.has(uuid)) world.owners.set(uuid, UNOWNED);
  return uuid;
}

export function resolveId(world: World, model: Model, actor: Actor, ref: IdRef): Resolved {
  const nobody = { org: null, row: null, live: false } as const;
  switch (ref.t) {
    case 'malformed':
      return { ...nobody, id: ref.text, label: idRefLabel(ref), kind: 'malformed', uuid: ref.text };
    case 'unknownType':
      unowned(world, ref.uuid);
      return {
        ...nobody,
        id: encodeGlobalId('Invoice', ref.uuid),
        label: idRefLabel(ref),
        kind: 'unknownType',
        uuid: ref.uuid,
      };
    case 'missing':
      unowned(world, ref.uuid);
      return {
        ...nobody,
        id: encodeGlobalId(ref.kind, ref.uuid),
        label: idRefLabel(ref),
        kind: ref.kind,
        uuid: ref.uuid,
      };
    case 'row': {
      const org = ref.org === 'self' ? actor.org : resolveOrg(model, ref.org);
      const rows = rowsOf(org, ref.kind);
      unowned(world, ref.uuid);
      if (rows.length === 0) {
        return {
          ...nobody,
          id: encodeGlobalId(ref.kind, ref.uuid),
          label: `${org.label}.${ref.kind.toLowerCase()}#${ref.n} (none yet: a missing id)`,
          kind: ref.kind,
          uuid: ref.uuid,
        };
      }
      const index = ref.n < rows.length ? ref.n : ref.n % rows.length;
      const row = at(rows, index);
      const live = !('deleted' in row && row.deleted);
      const name =
        ref.kind === 'Organization'
          ? `${org.label}.org`
          : ref.kind === 'User'
            ? `${org.label}.${(row as Person).label}`
            : `${org.label}.${ref.kind.toLowerCase()}#${index}`;
      return {
        id: row.id,
        label: `${name}${live ? '' : ' (deleted)'}`,
        kind: ref.kind,
        org,
        row,
        live,
        uuid: ref.uuid,
      };
    }
  }
}

/** What an id means to `actor` for an operation that takes an id of `kind`. */
export function classify(r: Resolved, kind: Kind, actor: Actor): 'own' | 'absent' | 'invalid' {
  if (r.kind !== kind) return 'invalid';
  return r.org === actor.org && r.live ? 'own' : 'absent';
}

export function isForeign(r: Resolved, actor: Actor): boolean {
  return r.org !== null && r.org !== actor.org;
}

// ─── Expected shapes ─────────────────────────────────────────────────────────────────────────

export const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Newest first, as the API orders posts: (createdAt, id) descending. */
export function livePosts(org: MOrg, authorId?: string): MPost[] {
  return org.posts
    .filter((p) => !p.deleted && (authorId === undefined || p.authorId === authorId))
    .sort((a, b) => cmp(b.createdAt, a.createdAt) || cmp(b.raw, a.raw));
}

/** Oldest first: (createdAt, id) ascending. */
export function liveComments(org: MOrg, post: MPost): MComment[] {
  return org.comments
    .filter((c) => !c.deleted && c.postId === post.id)
    .sort((a, b) => cmp(a.createdAt, b.createdAt) || cmp(a.raw, b.raw));
}

export function members(org: MOrg): Person[] {
  return [...org.users, ...org.ghosts].sort(
    (a, b) => cmp(a.createdAt, b.createdAt) || cmp(a.raw, b.raw),
  );
}

export function canEdit(user: Person, authorId: string): boolean {
  return user.id === authorId || user.role === 'OWNER' || user.role === 'ADMIN';
}

export const POST_FIELDS = 'id title content createdAt author { id } commentCount viewerCanEdit';
export const COMMENT_FIELDS = 'id body createdAt author { id } post { id } viewerCanEdit';
export const COMMENTS_PAGE = 50;
export const POST_DETAIL = `${POST_FIELDS}
  comments(first: ${COMMENTS_PAGE}) { totalCount edges { node { ${COMMENT_FIELDS} } } }`;
export const MEMBER_FIELDS = 'id name email role createdAt';
export const ORG_FIELDS = 'id slug name memberCount';
export const NODE_FIELDS = `__typename id
  ... on Post { title author { id } }
  ... on Comment { body post { id } }
  ... on User { name role }
  ... on Organization { slug memberCount }`;

export function postShape(org: MOrg, post: MPost, viewer: Person) {
  return {
    id: post.id,
    title: post.title,
    content: post.content,
    createdAt: post.createdAt,
    author: { id: post.authorId },
    commentCount: liveComments(org, post).length,
    viewerCanEdit: canEdit(viewer, post.authorId),
  };
}

export function commentShape(comment: MComment, viewer: Person) {
  return {
    id: comment.id,
    body: comment.body,
    createdAt: comment.createdAt,
    author: { id: comment.authorId },
    post: { id: comment.postId },
    viewerCanEdit: canEdit(viewer, comment.authorId),
  };
}

export function postDetailShape(org: MOrg, post: MPost, viewer: Person) {
  const comments = liveComments(org, post);
  return {
    ...postShape(org, post, viewer),
    comments: {
      totalCount: comments.length,
      edges: comments.slice(0, COMMENTS_PAGE).map((c) => ({ node: commentShape(c, viewer) })),
    },
  };
}

export function memberShape(person: Person) {
  const { id, name, email, role, createdAt } = person;
  return { id, name, email, role, createdAt };
}

export function orgShape(org: MOrg) {
  return {
    id: org.id,
    slug: org.slug,
    name: org.name,
    memberCount: org.users.length + org.ghosts.length,
  };
}

export function nodeShape(r: Resolved): Record<string, unknown> {
  const { org, row } = r;
  if (!org || !row) throw new Error(`no row behind ${r.label}`);
  switch (r.kind) {
    case 'Post': {
      const post = row as MPost;
      return { __typename: 'Post', id: post.id, title: post.title, author: { id: post.authorId } };
    }
    case 'Comment': {
      const comment = row as MComment;
      return {
        __typename: 'Comment',
        id: comment.id,
        body: comment.body,
        post: { id: comment.postId },
      };
    }
    case 'User': {
      const user = row as Person;
      return { __typename: 'User', id: user.id, name: user.name, role: user.role };
    }
    case 'Organization': {
      const { id, slug, memberCount } = orgShape(org);
      return { __typename: 'Organization', id, slug, memberCount };
    }
    default:
      throw new Error(`no node shape for ${r.kind}`);
  }
}
