import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { TokenService } from '../../src/auth/tokens.ts';
import type { Organization } from '../../src/generated/prisma/client.ts';
import type { Api } from '../../src/http/yoga.ts';
import { encodeGlobalId } from '../../src/schema/ids.ts';
import { forOrganization } from '../../src/tenancy/scope.ts';
import type { ScopedClients, ScopedDb } from '../../src/tenancy/scoped-client.ts';

/**
 * The isolation load scenario shared by the pooled and the PgBouncer tests: many tenants whose
 * every text carries the tenant's marker, a deterministic mix of reads, writes and writes that
 * fail half-way (through GraphQL and through the scoped client), many in flight at once over a
 * small pool; then every response is scanned for another tenant's marker or id, and the
 * database for what failed writes might have left behind.
 *
 * Seeding and the checks afterwards use plain pg clients on the server database (the test
 * connects as a superuser, which row-level security does not apply to): that keeps the system
 * client out of the tests and 50 sign-ups (scrypt) out of the run time.
 */

export type LoadTenant = Readonly<{
  index: number;
  /** In every text this tenant owns: another tenant's marker in a response is a leak. */
  marker: string;
  organization: Organization;
  users: Readonly<Record<'owner' | 'admin' | 'member', Readonly<{ id: string; email: string }>>>;
  tokens: Readonly<Record<'owner' | 'admin' | 'member', string>>;
  postIds: readonly string[];
  commentIds: readonly string[];
}>;

const POSTS_PER_TENANT = 5;
const COMMENTS_PER_POST = 2;
const MARKER = /@@T(\d+)@@/g;
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
/** Tokens written by the scenario: OK-… must exist afterwards, NOPE-… must not. */
const WRITE_TOKEN = /\b(OK|NOPE)-\d+[a-z]\b/g;

export const markerOf = (index: number) => `@@T${String(index).padStart(3, '0')}@@`;

/** Look-alike tenants (same emails, same shapes): only ids and markers tell them apart. */
export async function seedTenants(
  databaseUrl: string,
  count: number,
  tokens: TokenService,
): Promise<LoadTenant[]> {
  const rows = { orgs: [] as unknown[][], users: [] as unknown[][], posts: [] as unknown[][] };
  const comments: unknown[][] = [];
  const base = Date.now() - 3_600_000;
  const seeded = Array.from({ length: count }, (_, index) => {
    const marker = markerOf(index);
    const at = new Date(base + index * 1_000);
    const organization: Organization = {
      id: randomUUID(),
      name: `Org ${marker}`,
      slug: `iso-t${String(index).padStart(3, '0')}`,
      createdAt: at,
      updatedAt: at,
      suspendedAt: null,
      deletionRequestedAt: null,
    };
    rows.orgs.push([organization.id, organization.name, organization.slug, at]);
    const user = (role: 'OWNER' | 'ADMIN' | 'MEMBER', name: string) => {
      const id = randomUUID();
      const email = `${role.toLowerCase()}@example.com`;
      rows.users.push([organization.id, id, email, `${name} ${marker}`, role, at]);
      return { id, email };
    };
    const users = {
      owner: user('OWNER', 'Olive Owner'),
      admin: user('ADMIN', 'Adam Admin'),
      member: user('MEMBER', 'Mia Member'),
    };
    const authors = [users.owner.id, users.admin.id, users.member.id];
    const postIds: string[] = [];
    const commentIds: string[] = [];
    for (let p = 0; p < POSTS_PER_TENANT; p++) {
      const postId = randomUUID();
      postIds.push(postId);
      const postAt = new Date(at.getTime() + p * 10);
      rows.posts.push([
        organization.id,
        postId,
        authors[p % 3],
        `${marker} post ${p}`,
        `${marker} content ${p}`,
        postAt,
      ]);
      for (let c = 0; c < COMMENTS_PER_POST; c++) {
        const commentId = randomUUID();
        commentIds.push(commentId);
        comments.push([
          organization.id,
          commentId,
          postId,
          authors[(p + c + 1) % 3],
          `${marker} comment ${p}.${c}`,
          new Date(postAt.getTime() + c + 1),
        ]);
      }
    }
    return { index, marker, organization, users, postIds, commentIds };
  });

  await withClient(databaseUrl, async (client) => {
    const columns = (table: unknown[][]) =>
      table[0]?.map((_, column) => table.map((row) => row[column])) ?? [];
    await client.query('BEGIN');
    await client.query(
      `INSERT INTO organizations (id, name, slug, created_at, updated_at)
       SELECT id, name, slug, at, at
       FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[]) AS t(id, name, slug, at)`,
      columns(rows.orgs),
    );
    await client.query(
      `INSERT INTO users (organization_id, id, email, name, role, created_at, updated_at)
       SELECT org, id, email, name, role::"Role", at, at
       FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])
         AS t(org, id, email, name, role, at)`,
      columns(rows.users),
    );
    await client.query(
      `INSERT INTO posts (organization_id, id, author_id, title, content, created_at, updated_at)
       SELECT org, id, author, title, content, at, at
       FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::timestamptz[])
         AS t(org, id, author, title, content, at)`,
      columns(rows.posts),
    );
    await client.query(
      `INSERT INTO comments (organization_id, id, post_id, author_id, body, created_at, updated_at)
       SELECT org, id, post, author, body, at, at
       FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::timestamptz[])
         AS t(org, id, post, author, body, at)`,
      columns(comments),
    );
    await client.query('COMMIT');
  });

  return Promise.all(
    seeded.map(async (tenant) => {
      const token = (role: 'owner' | 'admin' | 'member') =>
        tokens.issue({ userId: tenant.users[role].id, organizationId: tenant.organization.id });
      const [owner, admin, member] = await Promise.all([
        token('owner'),
        token('admin'),
        token('member'),
      ]);
      return Object.freeze({ ...tenant, tokens: { owner, admin, member } });
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// The load

type Kind = (typeof KINDS)[number][0];

/** What runs, and how often (weights). Every kind has an expected outcome, checked per call. */
const KINDS = [
  ['read-feed', 24], // posts → comments → authors, viewer, organization
  ['read-nodes', 10], // own and foreign global ids mixed: foreign ones must be null
  ['read-foreign-post', 5], // post(id: foreign): NOT_FOUND
  ['read-pages', 6], // postsPage, members
  ['create-post', 10],
  ['create-comment', 8],
  ['update-own-post', 5],
  ['foreign-writes', 5], // updatePost + deleteComment on foreign ids: NOT_FOUND, nothing changed
  ['mutation-fails-midway', 7], // a: createPost ok, b: createComment(foreign post) fails, c skipped
  ['conflict', 3], // updateProfile to a colleague's email: CONFLICT, name unchanged
  ['tx-fails-midway', 8], // scoped $transaction: post, then a comment on a foreign post (FK)
  ['tx-throws', 3], // scoped $transaction: post, then the callback throws
  ['batch-fails-midway', 3], // scoped batch $transaction: post, then a comment on a foreign post
  ['tx-ok', 3], // scoped $transaction: post and a comment on it
] as const;

export type LoadReport = Readonly<{
  operations: number;
  /** HTTP requests among them (the rest go through the scoped client directly). */
  requests: number;
  byKind: Readonly<Record<string, number>>;
  /** Calls in flight at once (at most). */
  concurrency: number;
  /** Calls that failed only because the pool could not serve them in time (see OVERLOAD). */
  overloaded: number;
  /** Markers and ids found in responses and checked against their owner. */
  checked: number;
  /** Calls whose outcome was not the expected one, other than overload. */
  unexpected: string[];
  /** Foreign markers or ids found in responses, or ids the database does not know. */
  leaks: string[];
  /** Left behind by failed writes, or missing after successful ones. */
  residue: string[];
  durationMs: number;
}>;

type Outcome = { tenant: LoadTenant; kind: Kind; payload: unknown; problem: string | null };

/** An overloaded write may or may not have happened: its OK- tokens prove nothing either way. */
function forgetWrites(expected: Map<string, number>, i: number) {
  expected.delete(`OK-${i}a`);
  expected.delete(`OK-${i}b`);
}

export type LoadOptions = Readonly<{
  api: Api;
  scoped: ScopedClients;
  tenants: readonly LoadTenant[];
  /** The server database itself (not through a pooler), for the checks afterwards. */
  databaseUrl: string;
  operations: number;
  /** How many calls are in flight at once; all of them unless given. */
  concurrency?: number;
  /** The plan's PRNG seed (deterministic by default, so a failing plan can be replayed). */
  seed?: number;
}>;

let tokenBase = 0;

export async function runLoad(options: LoadOptions): Promise<LoadReport> {
  const { tenants, operations } = options;
  // Token numbers go on across runs in one process, so two runs on one database never clash.
  const base = tokenBase;
  tokenBase += operations;
  const random = mulberry32(options.seed ?? 20_261_123 + base);
  const dbs = new Map(
    tenants.map((t) => [t.index, options.scoped.scopedDb(forOrganization(t.organization))]),
  );
  const expected = new Map<string, number>(); // OK token → tenant index
  const plan = Array.from({ length: operations }, (_, slot) => {
    const i = base + slot;
    const tenant = tenants[i % tenants.length] as LoadTenant;
    const other = (tenant.index + 1 + Math.floor(random() * (tenants.length - 1))) % tenants.length;
    return {
      slot,
      i,
      tenant,
      foreign: tenants[other] as LoadTenant,
      kind: pick(random()),
      pick: random(),
    };
  });
  const byKind: Record<string, number> = {};
  for (const step of plan) byKind[step.kind] = (byKind[step.kind] ?? 0) + 1;

  const counter = { requests: 0 };
  const gql = client(options.api, counter);
  const started = performance.now();
  const outcomes: Outcome[] = new Array(operations);
  let next = 0;
  const worker = async () => {
    while (next < plan.length) {
      const step = plan[next++];
      if (!step) break;
      const db = dbs.get(step.tenant.index) as ScopedDb;
      const outcome = await runStep({ ...step, gql, db, expected });
      if (outcome.problem === OVERLOAD) forgetWrites(expected, step.i);
      outcomes[step.slot] = outcome;
    }
  };
  const concurrency = Math.min(options.concurrency ?? operations, operations);
  await Promise.all(Array.from({ length: concurrency }, worker));
  const durationMs = performance.now() - started;

  const unexpected = outcomes
    .filter((o) => o.problem && o.problem !== OVERLOAD)
    .map((o) => `${o.kind} as ${o.tenant.marker}: ${o.problem}`);
  const overloaded = outcomes.filter((o) => o.problem === OVERLOAD).length;
  const owners = await ownersOf(options.databaseUrl);
  const tally = { checked: 0 };
  const leaks = outcomes.flatMap((o) =>
    leaksIn(o.payload, o.tenant, owners, tenants, tally).map((leak) => `${o.kind}: ${leak}`),
  );
  const residue = await residueOf(options.databaseUrl, tenants, expected);
  return {
    operations,
    requests: counter.requests,
    concurrency,
    byKind,
    overloaded,
    checked: tally.checked,
    unexpected,
    leaks,
    residue,
    durationMs,
  };
}

type Step = {
  i: number;
  tenant: LoadTenant;
  foreign: LoadTenant;
  kind: Kind;
  pick: number;
  gql: Gql;
  db: ScopedDb;
  expected: Map<string, number>;
};

type Gql = (
  query: string,
  variables: Record<string, unknown>,
  token: string,
) => Promise<GraphQLBody & { status: number }>;

async function runStep(step: Step): Promise<Outcome> {
  const { kind, tenant } = step;
  try {
    const [payload, problem] = await STEPS[kind](step);
    return { tenant, kind, payload, problem };
  } catch (error) {
    return { tenant, kind, payload: null, problem: `threw ${explain(error)}` };
  }
}

type StepResult = [payload: unknown, problem: string | null];

const gid = {
  post: (id: string) => encodeGlobalId('Post', id),
  comment: (id: string) => encodeGlobalId('Comment', id),
  user: (id: string) => encodeGlobalId('User', id),
};

const FEED = `query Feed {
  viewer { id name email role organization { id name slug } }
  organization { id name memberCount }
  posts(first: 10) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node {
      id title content commentCount viewerCanEdit author { id name }
      comments(first: 5) { totalCount edges { cursor node { id body author { id name } post { id } } } }
    } }
  }
}`;

const PAGES = `query Pages($page: Int!) {
  postsPage(page: $page, pageSize: 4) { totalCount nodes { id title author { id email } } }
  members(first: 10) { totalCount edges { cursor node { id name email posts(first: 2) { edges { node { id } } } } } }
}`;

const STEPS: Record<Kind, (step: Step) => Promise<StepResult>> = {
  'read-feed': async ({ gql, tenant, pick }) => {
    const response = await gql(FEED, {}, tokenOf(tenant, pick));
    const viewer = (response.data?.viewer ?? null) as { id?: string } | null;
    const ids = Object.values(tenant.users).map((u) => gid.user(u.id));
    return [
      response,
      errorsOf(response) ??
        (viewer?.id && ids.includes(viewer.id) ? null : 'the viewer is not one of ours'),
    ];
  },
  'read-nodes': async ({ gql, tenant, foreign, pick }) => {
    const own = [gid.post(at(tenant.postIds, pick)), gid.comment(at(tenant.commentIds, pick))];
    const ids = [
      own[0],
      gid.post(at(foreign.postIds, pick)),
      own[1],
      gid.comment(at(foreign.commentIds, pick)),
      gid.user(foreign.users.member.id),
    ];
    const response = await gql(
      `query Nodes($ids: [ID!]!) { nodes(ids: $ids) { id __typename
        ... on Post { title author { id name } }
        ... on Comment { body post { id title } }
        ... on User { name } } }`,
      { ids },
      tokenOf(tenant, pick),
    );
    const nodes = ((response.data?.nodes ?? []) as ({ id: string } | null)[]).map((n) => n?.id);
    const want = [ids[0], null, ids[2], null, null];
    return [
      response,
      errorsOf(response) ??
        (JSON.stringify(nodes) === JSON.stringify(want) ? null : `nodes ${JSON.stringify(nodes)}`),
    ];
  },
  'read-foreign-post': async ({ gql, tenant, foreign, pick }) => {
    const response = await gql(
      `query Post($id: ID!) { post(id: $id) { id title comments(first: 5) { edges { node { id body } } } } }`,
      { id: gid.post(at(foreign.postIds, pick)) },
      tokenOf(tenant, pick),
    );
    return [response, codesAre(response, ['NOT_FOUND'])];
  },
  'read-pages': async ({ gql, tenant, pick }) => {
    const response = await gql(PAGES, { page: 1 + Math.floor(pick * 2) }, tokenOf(tenant, pick));
    return [response, errorsOf(response)];
  },
  'create-post': async ({ gql, tenant, pick, i, expected }) => {
    const title = `${tenant.marker} OK-${i}a`;
    expected.set(`OK-${i}a`, tenant.index);
    const response = await gql(
      `mutation Create($input: CreatePostInput!) { createPost(input: $input) { id title content author { id name } } }`,
      { input: { title, content: `${tenant.marker} body ${i}` } },
      tokenOf(tenant, pick),
    );
    return [response, errorsOf(response)];
  },
  'create-comment': async ({ gql, tenant, pick, i, expected }) => {
    expected.set(`OK-${i}a`, tenant.index);
    const response = await gql(
      `mutation Comment($input: CreateCommentInput!) { createComment(input: $input) { id body post { id title } author { id name } } }`,
      { input: { postId: gid.post(at(tenant.postIds, pick)), body: `${tenant.marker} OK-${i}a` } },
      tokenOf(tenant, pick),
    );
    return [response, errorsOf(response)];
  },
  'update-own-post': async ({ gql, tenant, pick, i }) => {
    const response = await gql(
      `mutation Update($input: UpdatePostInput!) { updatePost(input: $input) { id title } }`,
      { input: { id: gid.post(at(tenant.postIds, pick)), title: `${tenant.marker} edited ${i}` } },
      tenant.tokens.owner,
    );
    return [response, errorsOf(response)];
  },
  'foreign-writes': async ({ gql, tenant, foreign, pick, i }) => {
    // Two requests: in one document the first non-null failure would stop the second field.
    const update = await gql(
      `mutation Foreign($input: UpdatePostInput!) { updatePost(input: $input) { id title } }`,
      { input: { id: gid.post(at(foreign.postIds, pick)), title: `${tenant.marker} NOPE-${i}a` } },
      tenant.tokens.owner,
    );
    const remove = await gql(
      `mutation Foreign($id: ID!) { deleteComment(id: $id) { deletedId } }`,
      { id: gid.comment(at(foreign.commentIds, pick)) },
      tenant.tokens.admin,
    );
    return [
      [update, remove],
      worst(codesAre(update, ['NOT_FOUND']), codesAre(remove, ['NOT_FOUND'])),
    ];
  },
  'mutation-fails-midway': async ({ gql, tenant, foreign, pick, i, expected }) => {
    // Root mutation fields run one after another and are not one transaction: `a` stays,
    // `b` fails (the post is foreign: NOT_FOUND), and `c` never runs since `b` is non-null.
    expected.set(`OK-${i}a`, tenant.index);
    const response = await gql(
      `mutation Midway($a: CreatePostInput!, $b: CreateCommentInput!, $c: CreatePostInput!) {
        a: createPost(input: $a) { id title }
        b: createComment(input: $b) { id body }
        c: createPost(input: $c) { id title }
      }`,
      {
        a: { title: `${tenant.marker} OK-${i}a` },
        b: { postId: gid.post(at(foreign.postIds, pick)), body: `${tenant.marker} NOPE-${i}b` },
        c: { title: `${tenant.marker} NOPE-${i}c` },
      },
      tokenOf(tenant, pick),
    );
    return [response, codesAre(response, ['NOT_FOUND'])];
  },
  conflict: async ({ gql, tenant, i }) => {
    const response = await gql(
      `mutation Profile($input: UpdateProfileInput!) { updateProfile(input: $input) { id name email } }`,
      { input: { name: `${tenant.marker} NOPE-${i}a`, email: tenant.users.admin.email } },
      tenant.tokens.member,
    );
    return [response, codesAre(response, ['CONFLICT'])];
  },
  'tx-fails-midway': async ({ db, tenant, foreign, pick, i }) => {
    const outcome = await settle(
      db.$transaction(async (tx) => {
        const post = await tx.post.create({
          data: {
            organizationId: tenant.organization.id,
            authorId: tenant.users.owner.id,
            title: `${tenant.marker} NOPE-${i}a`,
          },
        });
        // The composite foreign key (organization_id, post_id) has no row to point at.
        const comment = await tx.comment.create({
          data: {
            organizationId: tenant.organization.id,
            postId: at(foreign.postIds, pick),
            authorId: tenant.users.member.id,
            body: `${tenant.marker} NOPE-${i}b`,
          },
        });
        return { post, comment };
      }),
    );
    return [outcome.payload, rejectedWith(outcome, 'P2003')];
  },
  'tx-throws': async ({ db, tenant, i }) => {
    const outcome = await settle(
      db.$transaction(async (tx) => {
        await tx.post.create({
          data: {
            organizationId: tenant.organization.id,
            authorId: tenant.users.admin.id,
            title: `${tenant.marker} NOPE-${i}a`,
          },
        });
        throw new Error('abort: roll back');
      }),
    );
    return [outcome.payload, rejectedWith(outcome, 'abort: roll back')];
  },
  'batch-fails-midway': async ({ db, tenant, foreign, pick, i }) => {
    const outcome = await settle(
      db.$transaction([
        db.post.create({
          data: {
            organizationId: tenant.organization.id,
            authorId: tenant.users.owner.id,
            title: `${tenant.marker} NOPE-${i}a`,
          },
        }),
        db.comment.create({
          data: {
            organizationId: tenant.organization.id,
            postId: at(foreign.postIds, pick),
            authorId: tenant.users.owner.id,
            body: `${tenant.marker} NOPE-${i}b`,
          },
        }),
      ]),
    );
    return [outcome.payload, rejectedWith(outcome, 'P2003')];
  },
  'tx-ok': async ({ db, tenant, i, expected }) => {
    expected.set(`OK-${i}a`, tenant.index);
    expected.set(`OK-${i}b`, tenant.index);
    const outcome = await settle(
      db.$transaction(async (tx) => {
        const post = await tx.post.create({
          data: {
            organizationId: tenant.organization.id,
            authorId: tenant.users.member.id,
            title: `${tenant.marker} OK-${i}a`,
          },
        });
        const comment = await tx.comment.create({
          data: {
            organizationId: tenant.organization.id,
            postId: post.id,
            authorId: tenant.users.owner.id,
            body: `${tenant.marker} OK-${i}b`,
          },
        });
        const posts = await tx.post.findMany({ include: { comments: true, author: true } });
        return { post, comment, posts };
      }),
    );
    if (outcome.ok) return [outcome.payload, null];
    return [
      outcome.payload,
      isOverload(outcome.error) ? OVERLOAD : `rejected: ${explain(outcome.error)}`,
    ];
  },
};

function pick(value: number): Kind {
  const total = KINDS.reduce((sum, [, weight]) => sum + weight, 0);
  let left = value * total;
  for (const [kind, weight] of KINDS) {
    left -= weight;
    if (left < 0) return kind;
  }
  return KINDS[0][0];
}

function at<T>(list: readonly T[], pick: number): T {
  return list[Math.floor(pick * list.length) % list.length] as T;
}

function tokenOf(tenant: LoadTenant, pick: number): string {
  const roles = ['owner', 'admin', 'member'] as const;
  return tenant.tokens[at(roles, pick)];
}

type GraphQLBody = {
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: { code?: string } }[];
};

/** One HTTP request through Yoga, in-process; `counter.requests` counts them. */
function client(api: Api, counter: { requests: number }): Gql {
  return async (query, variables, token) => {
    counter.requests++;
    const response = await api.yoga.fetch('http://yoga/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    });
    return { status: response.status, ...((await response.json()) as GraphQLBody) };
  };
}

/**
 * A call that failed only because the pool could not serve it in time. Not an isolation
 * failure: the test decides whether it may happen (a burst) or not (a paced run).
 */
export const OVERLOAD = 'overload';
/** What an overloaded call answers: masked (today), or the retryable code. */
const OVERLOAD_CODES = new Set(['INTERNAL_SERVER_ERROR', 'SERVICE_UNAVAILABLE']);
/** Prisma: a transaction could not start within maxWait; a pool timeout. */
const OVERLOAD_PRISMA_CODES = new Set(['P2028', 'P2024']);

function errorsOf(response: GraphQLBody & { status: number }): string | null {
  if (!response.errors?.length && response.status === 200) return null;
  if (overloaded(response)) return OVERLOAD;
  return `HTTP ${response.status} errors ${JSON.stringify(response.errors)}`;
}

function codesAre(response: GraphQLBody & { status: number }, codes: string[]): string | null {
  const got = (response.errors ?? []).map((e) => e.extensions?.code);
  if (JSON.stringify(got) === JSON.stringify(codes)) return null;
  if (overloaded(response)) return OVERLOAD;
  return `expected ${codes.join(', ')}, got ${JSON.stringify(response.errors ?? response.data)}`;
}

function overloaded(response: GraphQLBody & { status: number }): boolean {
  const errors = response.errors ?? [];
  return errors.length > 0 && errors.every((e) => OVERLOAD_CODES.has(e.extensions?.code ?? ''));
}

function isOverload(error: unknown): boolean {
  return OVERLOAD_PRISMA_CODES.has(String((error as { code?: unknown } | null)?.code));
}

/** The first real problem; an overload only when there is nothing worse. */
function worst(...problems: (string | null)[]): string | null {
  return (
    problems.find((p) => p !== null && p !== OVERLOAD) ??
    problems.find((p) => p === OVERLOAD) ??
    null
  );
}

type Settled = { ok: true; payload: unknown } | { ok: false; payload: unknown; error: unknown };

async function settle(promise: Promise<unknown>): Promise<Settled> {
  try {
    return { ok: true, payload: await promise };
  } catch (error) {
    return { ok: false, payload: { error: explain(error) }, error };
  }
}

/** The rejection must be the intended one (a Prisma code or our own message), not, say, a timeout. */
function rejectedWith(outcome: Settled, expected: string): string | null {
  if (outcome.ok) return 'resolved, but should have failed half-way';
  const { code, message } = outcome.error as { code?: unknown; message?: unknown };
  if (code === expected || message === expected) return null;
  return isOverload(outcome.error)
    ? OVERLOAD
    : `expected ${expected}, got ${explain(outcome.error)}`;
}

function explain(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  return `${error.name}${code ? ` ${String(code)}` : ''}: ${error.message.split('\n').slice(-3).join(' ').slice(0, 300)}`;
}

// ---------------------------------------------------------------------------------------------
// The checks

/** Every id in the database (organizations, users, posts, comments) → its organization. */
async function ownersOf(databaseUrl: string): Promise<Map<string, string>> {
  return withClient(databaseUrl, async (client) => {
    const { rows } = await client.query<{ id: string; org: string }>(
      `SELECT id::text, id::text AS org FROM organizations
       UNION ALL SELECT id::text, organization_id::text FROM users
       UNION ALL SELECT id::text, organization_id::text FROM posts
       UNION ALL SELECT id::text, organization_id::text FROM comments`,
    );
    return new Map(rows.map((row) => [row.id, row.org]));
  });
}

/**
 * Another tenant's marker, or an id (raw, or inside a global id or a cursor) that belongs to
 * another organization or to none at all, anywhere in a payload (data and errors alike).
 */
export function leaksIn(
  payload: unknown,
  tenant: LoadTenant,
  owners: ReadonlyMap<string, string>,
  tenants: readonly LoadTenant[],
  tally: { checked: number } = { checked: 0 },
): string[] {
  const found: string[] = [];
  const own = tenant.organization.id;
  for (const text of stringsOf(payload)) {
    for (const [, index] of text.matchAll(MARKER)) {
      tally.checked++;
      if (Number(index) !== tenant.index) {
        found.push(`${tenant.marker} saw ${markerOf(Number(index))} in ${JSON.stringify(text)}`);
      }
    }
    const decoded = /^[A-Za-z0-9_+/-]{8,}={0,2}$/.test(text)
      ? Buffer.from(text, 'base64').toString('utf8')
      : '';
    for (const candidate of [text, decoded]) {
      for (const [id] of candidate.matchAll(UUID)) {
        tally.checked++;
        const owner = owners.get(id.toLowerCase());
        if (owner === own) continue;
        const whose = tenants.find((t) => t.organization.id === owner)?.marker ?? 'no tenant';
        found.push(`${tenant.marker} saw id ${id} of ${whose} in ${JSON.stringify(text)}`);
      }
    }
  }
  return found;
}

/** The seeded rows' owners, without asking the database (for checking the checker). */
export function seededOwners(tenants: readonly LoadTenant[]): Map<string, string> {
  return new Map(
    tenants.flatMap((t) =>
      [
        t.organization.id,
        ...Object.values(t.users).map((u) => u.id),
        ...t.postIds,
        ...t.commentIds,
      ].map((id) => [id, t.organization.id] as const),
    ),
  );
}

function stringsOf(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const item of value) stringsOf(item, out);
  else if (value instanceof Date) return out;
  else if (value && typeof value === 'object') {
    for (const item of Object.values(value)) stringsOf(item, out);
  }
  return out;
}

/**
 * What the database holds after the run: every text carries its own organization's marker
 * only, no NOPE- token of a failed write exists, every OK- token of a successful one exists
 * once in its tenant, and the seeded rows foreign writes aimed at are still there.
 */
async function residueOf(
  databaseUrl: string,
  tenants: readonly LoadTenant[],
  expected: ReadonlyMap<string, number>,
): Promise<string[]> {
  const problems: string[] = [];
  const byOrg = new Map(tenants.map((t) => [t.organization.id, t]));
  const { rows, seededComments } = await withClient(databaseUrl, async (client) => {
    const texts = await client.query<{ kind: string; org: string; text: string }>(
      `SELECT 'organization' AS kind, id::text AS org, name AS text FROM organizations
       UNION ALL SELECT 'user', organization_id::text, name FROM users
       UNION ALL SELECT 'post', organization_id::text, title || ' | ' || coalesce(content, '') FROM posts
       UNION ALL SELECT 'comment', organization_id::text, body FROM comments`,
    );
    const comments = await client.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM comments WHERE id = ANY($1::uuid[])',
      [tenants.flatMap((t) => t.commentIds)],
    );
    return { rows: texts.rows, seededComments: comments.rows[0]?.n ?? 0 };
  });
  const seen = new Map<string, string[]>();
  for (const row of rows) {
    const tenant = byOrg.get(row.org);
    if (!tenant) {
      problems.push(`a ${row.kind} of an unknown organization ${row.org}: ${row.text}`);
      continue;
    }
    for (const [, index] of row.text.matchAll(MARKER)) {
      if (Number(index) !== tenant.index) {
        problems.push(
          `${tenant.marker}'s ${row.kind} carries ${markerOf(Number(index))}: ${row.text}`,
        );
      }
    }
    for (const [token, verdict] of row.text.matchAll(WRITE_TOKEN)) {
      if (verdict === 'NOPE') {
        problems.push(
          `a failed write left ${token} behind: ${tenant.marker}'s ${row.kind} ${row.text}`,
        );
      }
      const list = seen.get(token) ?? [];
      list.push(tenant.marker);
      seen.set(token, list);
    }
  }
  for (const [token, index] of expected) {
    const where = seen.get(token) ?? [];
    if (where.length !== 1 || where[0] !== markerOf(index)) {
      problems.push(`${token} (written by ${markerOf(index)}) found in ${JSON.stringify(where)}`);
    }
  }
  const total = tenants.reduce((sum, t) => sum + t.commentIds.length, 0);
  if (seededComments !== total) {
    problems.push(`${total - seededComments} seeded comments vanished (foreign deletes?)`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Pooled connections

/** What a session carries between transactions; `leftoversOf` says what would be a leak. */
export type SessionState = Readonly<{
  pid: number;
  organization: string | null;
  currentUser: string;
  sessionUser: string;
  role: string;
  /** A transaction left open: this statement did not start it. */
  inTransaction: boolean;
}>;

export const SESSION_STATE_SQL = `SELECT pg_backend_pid() AS pid,
  current_setting('app.organization_id', true) AS organization,
  current_user::text AS "currentUser", session_user::text AS "sessionUser",
  current_setting('role') AS role, now() <> statement_timestamp() AS "inTransaction"`;

/**
 * A clean session logged in as `loginUser`: no organization set (never set: null; set earlier
 * transaction-locally, which leaves the placeholder behind empty: ''), no role switched, no
 * transaction open.
 */
export function leftoversOf(state: SessionState, loginUser: string): string[] {
  const found: string[] = [];
  if (state.organization !== null && state.organization !== '') {
    found.push(`app.organization_id = '${state.organization}'`);
  }
  if (state.currentUser !== loginUser) found.push(`current_user = ${state.currentUser}`);
  if (state.sessionUser !== loginUser) found.push(`session_user = ${state.sessionUser}`);
  if (state.role !== 'none') found.push(`role = ${state.role}`);
  if (state.inTransaction) found.push('a transaction is still open');
  return found.map((leftover) => `backend ${state.pid}: ${leftover}`);
}

/**
 * Checks out every connection of the pool at once (the idle ones the load left first), and
 * reads what each session carries, with `SHOW role` as well.
 */
export async function inspectPool(pool: pg.Pool): Promise<{
  pooled: number;
  states: SessionState[];
}> {
  const pooled = pool.totalCount;
  const size = pool.options.max ?? 10;
  const clients = await Promise.all(Array.from({ length: size }, () => pool.connect()));
  try {
    const states = await Promise.all(
      clients.map(async (client) => {
        const { rows } = await client.query<SessionState>(SESSION_STATE_SQL);
        const shown = await client.query<{ role: string }>('SHOW role');
        const state = rows[0] as SessionState;
        // SHOW role and current_setting('role') read the same setting; both must say none.
        const role = shown.rows[0]?.role ?? '?';
        return { ...state, role: role === state.role ? role : `${state.role}/${role}` };
      }),
    );
    return { pooled, states };
  } finally {
    for (const client of clients) client.release();
  }
}

/**
 * Reads every server connection a PgBouncer holds for one database: `poolSize` clients each
 * run one statement that sleeps, so all of them occupy a server connection at once and each
 * lands on a different one. The server's own list (pg_stat_activity) says whether that was
 * all of them.
 */
export async function inspectThroughPooler(
  pooledUrl: string,
  serverUrl: string,
  database: string,
  poolSize: number,
): Promise<{ states: SessionState[]; serverPids: number[] }> {
  const states = await Promise.all(
    Array.from({ length: poolSize }, () =>
      withClient(pooledUrl, async (client) => {
        const { rows } = await client.query<SessionState & { slept: unknown }>(
          `${SESSION_STATE_SQL}, pg_sleep(0.5)::text AS slept`,
        );
        const { slept: _, ...state } = rows[0] as SessionState & { slept: unknown };
        return state;
      }),
    ),
  );
  const serverPids = await withClient(serverUrl, async (client) => {
    const { rows } = await client.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() ORDER BY pid',
      [database],
    );
    return rows.map((row) => row.pid);
  });
  return { states, serverPids };
}

export async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A small deterministic PRNG: the same seed gives the same plan, so a failure can be replayed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
