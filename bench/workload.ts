// What each scenario sends to each contender, and what the answer must be. The expected data
// comes from the seed's formulas (an oracle independent of every contender), and every
// contender's answer is normalized to one shape before it is compared with it.
import { randomUUID } from 'node:crypto';
import type { TokenService } from '../src/auth/tokens.ts';
import { encodeGlobalId } from '../src/schema/ids.ts';
import type { Contender, LoadScenario, Scenario } from './options.ts';
import { commentsOf, postId, postTitle, type TenantPlan, userId, userName } from './seed.ts';

export const SCENARIO_NAMES: Record<Scenario, string> = {
  1: 'nested list: posts(first: 20) → author, comments(first: 10) → author',
  2: 'one post by id (title, content, author)',
  3: 'createPost mutation (returns title, author)',
  4: "scenario 1's list for the big tenant (--big-posts, 100k by default), after: a cursor 80-95% deep",
  5: "sign-in flood: a signed-in member's { viewer { id } } idle, then while bad sign-ins flood (scopegraph contenders only)",
};

/** Titles of posts the write scenario creates; the runner deletes them after each measurement. */
export const WRITE_MARKER = '[bench-write]';

const FEED_SELECTION = `edges { node { title author { name }
  comments(first: 10) { edges { node { body author { name } } } } } }`;
const PGL_FEED_SELECTION = `nodes { title userByOrganizationIdAndAuthorId { name }
  commentsByOrganizationIdAndPostId(first: 10, orderBy: [CREATED_AT_ASC, ROW_ID_ASC]) {
    nodes { body userByOrganizationIdAndAuthorId { name } } } }`;
const PGL_ORDER = 'orderBy: [CREATED_AT_DESC, ROW_ID_DESC]';

/** scopegraph's documents: the unscoped server and the raw handler take the same bodies. */
const SCOPEGRAPH_DOCS: Record<LoadScenario, string> = {
  1: `query Feed { posts(first: 20) { ${FEED_SELECTION} } }`,
  2: 'query OnePost($id: ID!) { post(id: $id) { title content author { name } } }',
  3: `mutation CreatePost($input: CreatePostInput!) {
    createPost(input: $input) { title author { name } } }`,
  4: `query DeepFeed($after: String!) { posts(first: 20, after: $after) { ${FEED_SELECTION} } }`,
};

/** PostGraphile's equivalents (Amber preset naming, checked against its introspection). */
const POSTGRAPHILE_DOCS: Record<LoadScenario, string> = {
  1: `query Feed { allPosts(first: 20, ${PGL_ORDER}) { ${PGL_FEED_SELECTION} } }`,
  2: `query OnePost($org: UUID!, $id: UUID!) { postByOrganizationIdAndRowId(organizationId: $org, rowId: $id) {
    title content userByOrganizationIdAndAuthorId { name } } }`,
  3: `mutation CreatePost($input: CreatePostInput!) {
    createPost(input: $input) { post { title userByOrganizationIdAndAuthorId { name } } } }`,
  4: `query DeepFeed($after: Cursor!) { allPosts(first: 20, after: $after, ${PGL_ORDER}) {
    ${PGL_FEED_SELECTION} } }`,
};

const OPERATION: Record<LoadScenario, string> = {
  1: 'Feed',
  2: 'OnePost',
  3: 'CreatePost',
  4: 'DeepFeed',
};

export type Target = Readonly<{
  tenant: TenantPlan;
  token: string;
  /** Scenario 2: the post's index in its tenant; scenario 4: the page starts after row `depth`. */
  post?: number;
  depth?: number;
  /** Scenario 4: the cursors of that row, per cursor format. */
  cursors?: Readonly<{ scopegraph: string; postgraphile: string | null }>;
}>;

export type HttpRequest = Readonly<{ headers: Record<string, string>; body: string }>;

let writes = 0;

/** The request `contender` gets for `target` (scenario 3 makes a new one every call). */
export function requestFor(
  contender: Contender,
  scenario: LoadScenario,
  target: Target,
): HttpRequest {
  const pgl = contender === 'postgraphile';
  const query = (pgl ? POSTGRAPHILE_DOCS : SCOPEGRAPH_DOCS)[scenario];
  const { tenant } = target;
  let variables: Record<string, unknown> = {};
  if (scenario === 2) {
    const id = postId(tenant.idx, target.post ?? 0);
    variables = pgl ? { org: tenant.id, id } : { id: encodeGlobalId('Post', id) };
  } else if (scenario === 3) {
    const title = `${WRITE_MARKER} ${++writes}`;
    const content = 'Written by the benchmark.';
    variables = pgl
      ? {
          input: {
            // PostGraphile exposes the table as it is: no id or updated_at default in the
            // database (Prisma makes them), and the organization and author are columns the
            // client fills in; RLS's WITH CHECK refuses another organization.
            post: {
              organizationId: tenant.id,
              rowId: randomUUID(),
              authorId: userId(tenant.idx, 0),
              title,
              content,
              updatedAt: new Date().toISOString(),
            },
          },
        }
      : { input: { title, content } };
  } else if (scenario === 4) {
    const cursor = pgl ? target.cursors?.postgraphile : target.cursors?.scopegraph;
    if (!cursor) throw new Error(`no ${contender} cursor for scenario 4`);
    variables = { after: cursor };
  }
  return {
    headers: { 'content-type': 'application/json', authorization: `Bearer ${target.token}` },
    body: JSON.stringify({ query, operationName: OPERATION[scenario], variables }),
  };
}

/** OWNER (user 0) of each tenant. */
export async function tokenFor(tokens: TokenService, tenant: TenantPlan): Promise<string> {
  return tokens.issue({ userId: userId(tenant.idx, 0), organizationId: tenant.id });
}

/**
 * scopegraph's cursor for a post: Pothos' prisma cursor over the primary key
 * (organizationId, id), base64 of `GPC:T:["S:<org>","S:<id>"]`. The correctness check proves
 * it against the server before anything is measured.
 */
export function scopegraphCursor(tenant: TenantPlan, post: number): string {
  const tuple = JSON.stringify([`S:${tenant.id}`, `S:${postId(tenant.idx, post)}`]);
  return Buffer.from(`GPC:T:${tuple}`).toString('base64');
}

/** PostGraphile's cursor of the row at `depth` (1-based, newest first), asked of the server. */
export async function postgraphileCursor(
  url: string,
  token: string,
  depth: number,
): Promise<string> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({
      query: `query Cursor($offset: Int!) { allPosts(first: 1, offset: $offset, ${PGL_ORDER}) {
        edges { cursor } } }`,
      variables: { offset: depth - 1 },
    }),
  });
  const json = (await response.json()) as {
    data?: { allPosts?: { edges?: { cursor?: string }[] } };
  };
  const cursor = json.data?.allPosts?.edges?.[0]?.cursor;
  if (!cursor)
    throw new Error(`PostGraphile gave no cursor at depth ${depth}: ${JSON.stringify(json)}`);
  return cursor;
}

// --- The oracle and the normalized answers --------------------------------------------------

type Person = { name: string } | null;
export type FeedItem = {
  title: string;
  author: string | null;
  comments: { body: string; author: string | null }[];
};
export type Normalized =
  | FeedItem[]
  | { title: string; content?: string | null; author: string | null }
  | null;

/** The page of a tenant's feed that starts after row `depth` (0: the first page). */
export function expectedFeed(tenant: TenantPlan, depth = 0): FeedItem[] {
  const items: FeedItem[] = [];
  for (let row = depth; row < Math.min(depth + 20, tenant.posts); row++) {
    const i = tenant.posts - 1 - row;
    const comments = [];
    for (let k = 1; k <= Math.min(10, commentsOf(tenant.idx, i)); k++) {
      comments.push({
        body: `[o${tenant.idx}] Comment ${k} on post ${i}`,
        author: userName(tenant.idx, (i + k) % tenant.users),
      });
    }
    items.push({
      title: postTitle(tenant.idx, i),
      author: userName(tenant.idx, i % tenant.users),
      comments,
    });
  }
  return items;
}

export function expectedPost(tenant: TenantPlan, i: number): Normalized {
  return {
    title: postTitle(tenant.idx, i),
    content: `Body of post ${i}. Lorem ipsum dolor sit amet.`,
    author: userName(tenant.idx, i % tenant.users),
  };
}

/** The data of a response in one shape for every contender; throws on GraphQL errors. */
export function normalize(contender: Contender, scenario: LoadScenario, json: unknown): Normalized {
  const response = json as { data?: Record<string, unknown>; errors?: unknown };
  if (response.errors) throw new Error(`GraphQL errors: ${JSON.stringify(response.errors)}`);
  const data = response.data ?? {};
  const name = (p: unknown) => (p as Person)?.name ?? null;
  if (contender === 'postgraphile') {
    type Node = Record<string, unknown>;
    const feed = (c: unknown): FeedItem[] =>
      ((c as { nodes: Node[] }).nodes ?? []).map((n) => ({
        title: n.title as string,
        author: name(n.userByOrganizationIdAndAuthorId),
        comments: (n.commentsByOrganizationIdAndPostId as { nodes: Node[] }).nodes.map((m) => ({
          body: m.body as string,
          author: name(m.userByOrganizationIdAndAuthorId),
        })),
      }));
    if (scenario === 1 || scenario === 4) return feed(data.allPosts);
    const post = (
      scenario === 2
        ? data.postByOrganizationIdAndRowId
        : (data.createPost as { post: unknown } | null)?.post
    ) as Node | null;
    if (!post) return null;
    const base = {
      title: post.title as string,
      author: name(post.userByOrganizationIdAndAuthorId),
    };
    return scenario === 2 ? { ...base, content: post.content as string | null } : base;
  }
  type Edge = { node: Record<string, unknown> };
  const feed = (c: unknown): FeedItem[] =>
    ((c as { edges: Edge[] }).edges ?? []).map(({ node: n }) => ({
      title: n.title as string,
      author: name(n.author),
      comments: (n.comments as { edges: Edge[] }).edges.map(({ node: m }) => ({
        body: m.body as string,
        author: name(m.author),
      })),
    }));
  if (scenario === 1 || scenario === 4) return feed(data.posts);
  const post = (scenario === 2 ? data.post : data.createPost) as Record<string, unknown> | null;
  if (!post) return null;
  const base = { title: post.title as string, author: name(post.author) };
  return scenario === 2 ? { ...base, content: post.content as string | null } : base;
}
