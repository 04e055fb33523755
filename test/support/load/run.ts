import type { Api } from '../../../src/http/yoga.ts';
import { encodeGlobalId } from '../../../src/schema/ids.ts';
import { forOrganization } from '../../../src/tenancy/scope.ts';
import type { ScopedClients, ScopedDb } from '../../../src/tenancy/scoped-client.ts';
import type { GraphQLResponse } from '../api.ts';
import { leaksIn, ownersOf, residueOf } from './checks.ts';
import type { LoadTenant } from './tenants.ts';

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

// ---------------------------------------------------------------------------------------------
// The load

export type Kind = (typeof KINDS)[number][0];

/** What runs, and how often (weights). Every kind has an expected outcome, checked per call. */
export const KINDS = [
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

export type Outcome = { tenant: LoadTenant; kind: Kind; payload: unknown; problem: string | null };

/** An overloaded write may or may not have happened: its OK- tokens prove nothing either way. */
export function forgetWrites(expected: Map<string, number>, i: number) {
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

export let tokenBase = 0;

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

export type Step = {
  i: number;
  tenant: LoadTenant;
  foreign: LoadTenant;
  kind: Kind;
  pick: number;
  gql: Gql;
  db: ScopedDb;
  expected: Map<string, number>;
};

export type Gql = (
  query: string,
  variables: Record<string, unknown>,
  token: string,
) => Promise<GraphQLResponse & { status: number }>;

export async function runStep(step: Step): Promise<Outcome> {
  const { kind, tenant } = step;
  try {
    const [payload, problem] = await STEPS[kind](step);
    return { tenant, kind, payload, problem };
  } catch (error) {
    return { tenant, kind, payload: null, problem: `threw ${explain(error)}` };
  }
}

export type StepResult = [payload: unknown, problem: string | null];

export const gid = {
  post: (id: string) => encodeGlobalId('Post', id),
  comment: (id: string) => encodeGlobalId('Comment', id),
  user: (id: string) => encodeGlobalId('User', id),
};

export const FEED = `query Feed {
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

export const PAGES = `query Pages($page: Int!) {
  postsPage(page: $page, pageSize: 4) { totalCount nodes { id title author { id email } } }
  members(first: 10) { totalCount edges { cursor node { id name email posts(first: 2) { edges { node { id } } } } } }
}`;

export const STEPS: Record<Kind, (step: Step) => Promise<StepResult>> = {
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

export function pick(value: number): Kind {
  const total = KINDS.reduce((sum, [, weight]) => sum + weight, 0);
  let left = value * total;
  for (const [kind, weight] of KINDS) {
    left -= weight;
    if (left < 0) return kind;
  }
  return KINDS[0][0];
}

export function at<T>(list: readonly T[], pick: number): T {
  return list[Math.floor(pick * list.length) % list.length] as T;
}

export function tokenOf(tenant: LoadTenant, pick: number): string {
  const roles = ['owner', 'admin', 'member'] as const;
  return tenant.tokens[at(roles, pick)];
}

/** One HTTP request through Yoga, in-process; `counter.requests` counts them. */
export function client(api: Api, counter: { requests: number }): Gql {
  return async (query, variables, token) => {
    counter.requests++;
    const response = await api.yoga.fetch('http://yoga/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    });
    return { status: response.status, ...((await response.json()) as GraphQLResponse) };
  };
}

/**
 * A call that failed only because the pool could not serve it in time. Not an isolation
 * failure: the test decides whether it may happen (a burst) or not (a paced run).
 */
export const OVERLOAD = 'overload';
/** What an overloaded call answers: masked (today), or the retryable code. */
export const OVERLOAD_CODES = new Set(['INTERNAL_SERVER_ERROR', 'SERVICE_UNAVAILABLE']);
/** Prisma: a transaction could not start within maxWait; a pool timeout. */
export const OVERLOAD_PRISMA_CODES = new Set(['P2028', 'P2024']);

export function errorsOf(response: GraphQLResponse & { status: number }): string | null {
  if (!response.errors?.length && response.status === 200) return null;
  if (overloaded(response)) return OVERLOAD;
  return `HTTP ${response.status} errors ${JSON.stringify(response.errors)}`;
}

export function codesAre(
  response: GraphQLResponse & { status: number },
  codes: string[],
): string | null {
  const got = (response.errors ?? []).map((e) => e.extensions?.code);
  if (JSON.stringify(got) === JSON.stringify(codes)) return null;
  if (overloaded(response)) return OVERLOAD;
  return `expected ${codes.join(', ')}, got ${JSON.stringify(response.errors ?? response.data)}`;
}

export function overloaded(response: GraphQLResponse & { status: number }): boolean {
  const errors = response.errors ?? [];
  return errors.length > 0 && errors.every((e) => OVERLOAD_CODES.has(e.extensions?.code ?? ''));
}

export function isOverload(error: unknown): boolean {
  return OVERLOAD_PRISMA_CODES.has(String((error as { code?: unknown } | null)?.code));
}

/** The first real problem; an overload only when there is nothing worse. */
export function worst(...problems: (string | null)[]): string | null {
  return (
    problems.find((p) => p !== null && p !== OVERLOAD) ??
    problems.find((p) => p === OVERLOAD) ??
    null
  );
}

export type Settled =
  | { ok: true; payload: unknown }
  | { ok: false; payload: unknown; error: unknown };

export async function settle(promise: Promise<unknown>): Promise<Settled> {
  try {
    return { ok: true, payload: await promise };
  } catch (error) {
    return { ok: false, payload: { error: explain(error) }, error };
  }
}

/** The rejection must be the intended one (a Prisma code or our own message), not, say, a timeout. */
export function rejectedWith(outcome: Settled, expected: string): string | null {
  if (outcome.ok) return 'resolved, but should have failed half-way';
  const { code, message } = outcome.error as { code?: unknown; message?: unknown };
  if (code === expected || message === expected) return null;
  return isOverload(outcome.error)
    ? OVERLOAD
    : `expected ${expected}, got ${explain(outcome.error)}`;
}

export function explain(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  return `${error.name}${code ? ` ${String(code)}` : ''}: ${error.message.split('\n').slice(-3).join(' ').slice(0, 300)}`;
}

/** A small deterministic PRNG: the same seed gives the same plan, so a failure can be replayed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
