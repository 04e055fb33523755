import { buildSchema } from 'graphql';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createAdminCredentials } from '../../src/admin/credential.ts';
import { createSystemClient, type SystemClient } from '../../src/db/system.ts';
import type { JobQueue } from '../../src/jobs/queue.ts';
import { scopedJobs, TENANT_JOB_BUDGET } from '../../src/jobs/scoped.ts';
import { createLogger } from '../../src/logging.ts';
import { LIST_LIMITS, unsizedLists } from '../../src/schema/complexity.ts';
import { schema } from '../../src/schema/index.ts';
import type { Scope } from '../../src/tenancy/scope.ts';
import {
  createTestApi,
  field,
  type GraphQLResponse,
  type Org,
  signUpOrg,
  type TestApi,
} from '../support/api.ts';

/**
 * Cost limits that count what a request returns: a list costs what its arguments ask for
 * (`nodes(ids:)` by its length, `postsPage` by its `pageSize`), and one organization cannot fill
 * the shared job queue ahead of the others'.
 */

// 33 per post: id, title, and 10 comments of 3 (edge, node, body) plus the connection itself.
const FAT_POST =
  'fragment Fat on Post { id title comments(first: 10) { edges { node { body } } } }';

const aliased = (count: number, field: (i: number) => string) =>
  `{ ${Array.from({ length: count }, (_, i) => `a${i}: ${field(i)}`).join(' ')} }`;

describe('complexity counts the items a list argument asks for', () => {
  let t: TestApi;
  let a: Org;

  beforeAll(async () => {
    t = await createTestApi();
    a = await signUpOrg(t, 'acme');
  });
  afterAll(() => t.close());

  it('every list in the schema is sized by an argument of its own or of the field above it', () => {
    expect(unsizedLists(schema)).toEqual([]);
    // The check itself: a list that nothing sizes is named.
    const unsized = buildSchema(
      'type Query { tags: [String!]! page(pageSize: Int): Page! } type Page { items: [Int!]! }',
    );
    expect(unsizedLists(unsized)).toEqual(['Query.tags']);
  });

  it(`nodes(ids:) takes at most ${LIST_LIMITS.listArgumentItems} ids, refused before any lookup`, async () => {
    const ids = (n: number) => Array.from({ length: n }, () => a.postId);
    const query = 'query($ids: [ID!]!) { nodes(ids: $ids) { id } }';
    t.sql.statements.length = 0;
    const tooMany = await t.gql(
      query,
      { ids: ids(LIST_LIMITS.listArgumentItems + 1) },
      a.owner.token,
    );
    expect(tooMany).toFailWith('BAD_USER_INPUT');
    expect(tooMany.errors?.[0]?.message).toMatch(/at most 100 items/);
    expect(tooMany.errors?.[0]?.extensions?.field).toBe('ids');
    expect(tooMany.data ?? null).toBeNull();
    // The member lookup ran; no post was read.
    expect(t.sql.statements.filter((sql) => /"posts"/.test(sql))).toEqual([]);
    // 8,000 ids (the reported 177 MB answer): the same refusal.
    expect(await t.gql(query, { ids: ids(8_000) }, a.owner.token)).toFailWith('BAD_USER_INPUT');
    // Positive control: 100 ids are served, one node each.
    const ok = await t.gql(query, { ids: ids(LIST_LIMITS.listArgumentItems) }, a.owner.token);
    expect(ok.errors).toBeUndefined();
    expect(field<unknown[]>(ok, 'nodes')).toHaveLength(100);
  });

  it('nodes(ids:) costs its sub-selection once per id', async () => {
    const query = `query($ids: [ID!]!) ${aliased(10, () => 'nodes(ids: $ids) { ...Fat }')} ${FAT_POST}`;
    const ids = (n: number) => Array.from({ length: n }, () => a.postId);
    // 10 × (1 + 100 × 33) = 33,010 > 20,000. Counted as 10 ids each (3,310), it passed.
    const heavy = await t.gql(query, { ids: ids(100) }, a.owner.token);
    expect(heavy).toFailWith('QUERY_TOO_COMPLEX');
    expect(heavy.errors?.[0]?.message).toMatch(/complexity 33010 exceeds the limit of 20000/);
    // Positive control: the same document over 10 ids each is served.
    const light = await t.gql(query, { ids: ids(10) }, a.owner.token);
    expect(light.errors).toBeUndefined();
    expect(field<unknown[]>(light, 'a0')).toHaveLength(10);
  });

  it('postsPage costs its sub-selection once per item of pageSize', async () => {
    const query = `query($size: Int) ${aliased(10, () => 'postsPage(pageSize: $size) { nodes { ...Fat } }')} ${FAT_POST}`;
    // 10 × (1 + 100 × (1 + 33)) = 34,010 > 20,000; the page counted 10 items whatever its size.
    const heavy = await t.gql(query, { size: 100 }, a.owner.token);
    expect(heavy).toFailWith('QUERY_TOO_COMPLEX');
    expect(heavy.errors?.[0]?.message).toMatch(/complexity 34010 exceeds the limit of 20000/);
    // Positive control: the default page (25) of the same document is served.
    const served = await t.gql(query, {}, a.owner.token);
    expect(served.errors).toBeUndefined();
    expect(field<{ nodes: unknown[] }>(served, 'a0').nodes).toHaveLength(1);
  });
});

/**
 * Two organizations over a job queue that is not worked until a test starts the workers: what
 * waits in it is counted exactly.
 */
const ADMIN_SECRET = 'admin-secret-that-is-long-enough-for-hs256-0123456789';

/** A test API (with the admin endpoint) whose queue nobody works until a test says so. */
async function openIdleQueue() {
  const t = await createTestApi({
    jobs: true,
    workJobs: false,
    api: { adminSecret: ADMIN_SECRET },
  });
  return {
    t,
    jobs: t.jobs as JobQueue,
    system: createSystemClient(t.database),
    a: await signUpOrg(t, 'acme'),
    b: await signUpOrg(t, 'globex'),
  };
}

describe('jobs: one organization cannot fill the queue ahead of the others', () => {
  let t: TestApi;
  let jobs: JobQueue;
  let system: SystemClient;
  let a: Org;
  let b: Org;
  const orgId = async (org: Org) =>
    (await system.organization.findUniqueOrThrow({ where: { slug: org.slug } })).id;

  beforeAll(async () => {
    ({ t, jobs, system, a, b } = await openIdleQueue());
  });
  afterAll(async () => {
    await system.$disconnect();
    await t.close();
  });

  it('one pending export per organization: asking again, even concurrently, returns it', async () => {
    // One request of 25 aliased exports, and 5 more requests at once.
    const flood = await t.gql(
      `mutation ${aliased(25, () => 'requestDataExport { id status }')}`,
      {},
      a.owner.token,
    );
    expect(flood.errors).toBeUndefined();
    const concurrent = await Promise.all(
      Array.from({ length: 5 }, () =>
        t.gql('mutation { requestDataExport { id } }', {}, a.owner.token),
      ),
    );
    const ids = new Set([
      ...Object.values(flood.data ?? {}).map((e) => (e as { id: string }).id),
      ...concurrent.map((r) => field<{ id: string }>(r, 'requestDataExport').id),
    ]);
    expect(ids.size).toBe(1);
    const aId = await orgId(a);
    expect(await system.dataExport.count({ where: { organizationId: aId } })).toBe(1);
    expect(await jobs.waiting('export-organization', aId, 1_000)).toBe(1);
    // The database refuses a second pending row itself, whatever the code path.
    await expect(system.dataExport.create({ data: { organizationId: aId } })).rejects.toMatchObject(
      { code: 'P2002' },
    );

    // B's export waits behind one of A's, not behind a flood; once worked, both are READY.
    const bExport = field<{ id: string }>(
      await t.gql('mutation { requestDataExport { id } }', {}, b.owner.token),
      'requestDataExport',
    );
    expect(await jobs.waiting('export-organization', await orgId(b), 1_000)).toBe(1);
    await t.api.startJobWorkers();
    const [aExport] = [...ids];
    for (const [org, id] of [
      [b, bExport.id],
      [a, aExport],
    ] as const) {
      await vi.waitFor(
        async () => {
          const view = await t.gql(
            'query($id: ID!) { dataExport(id: $id) { status } }',
            { id },
            org.owner.token,
          );
          expect(field<{ status: string }>(view, 'dataExport').status).toBe('READY');
        },
        { timeout: 20_000, interval: 100 },
      );
    }
    // A platform admin's export of A while one is pending: CONFLICT, and no second row.
    const pendingAgain = field<{ id: string }>(
      await t.gql('mutation { requestDataExport { id } }', {}, a.owner.token),
      'requestDataExport',
    );
    const adminToken = await createAdminCredentials(ADMIN_SECRET).issue('ops@example.com');
    const response = await t.fetch({
      path: '/admin/graphql',
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
      body: JSON.stringify({
        query: 'mutation($id: ID!) { exportOrganization(id: $id) { exportId } }',
        variables: { id: aId },
      }),
    });
    expect((await response.json()) as GraphQLResponse).toFailWith('CONFLICT');
    await vi.waitFor(
      async () => {
        const view = await t.gql(
          'query($id: ID!) { dataExport(id: $id) { status } }',
          { id: pendingAgain.id },
          a.owner.token,
        );
        expect(field<{ status: string }>(view, 'dataExport').status).toBe('READY');
      },
      { timeout: 20_000, interval: 100 },
    );

    // Positive control: with none pending, a new request starts a new export.
    const next = field<{ id: string }>(
      await t.gql('mutation { requestDataExport { id status } }', {}, a.owner.token),
      'requestDataExport',
    );
    expect(next.id).not.toBe(aExport);
  });
});

describe('jobs: a per-organization budget of waiting jobs', () => {
  let t: TestApi;
  let jobs: JobQueue;
  let system: SystemClient;
  let a: Org;
  let b: Org;

  beforeAll(async () => {
    ({ t, jobs, system, a, b } = await openIdleQueue());
  });
  afterAll(async () => {
    await system.$disconnect();
    await t.close();
  });

  it(`a flood of comments queues at most ${TENANT_JOB_BUDGET} notification jobs; another organization's still queue`, async () => {
    const comment = (i: number) =>
      `createComment(input: { postId: "${a.postId}", body: "flood ${i}" }) { id }`;
    for (let request = 0; request < 5; request++) {
      const res = await t.gql(`mutation ${aliased(25, comment)}`, {}, a.member.token);
      expect(res.errors).toBeUndefined();
    }
    const orgId = async (org: Org) =>
      (await system.organization.findUniqueOrThrow({ where: { slug: org.slug } })).id;
    const aId = await orgId(a);
    const bId = await orgId(b);
    // 1 from signUpOrg + 125: the comments are all written, their jobs stop at the budget.
    expect(await system.comment.count({ where: { organizationId: aId } })).toBe(126);
    expect(await jobs.waiting('notify-comment', aId, 1_000)).toBe(TENANT_JOB_BUDGET);
    // B is not refused: its new comment's job queues beside its first one.
    const res = await t.gql(
      `mutation { createComment(input: { postId: "${b.postId}", body: "hi" }) { id } }`,
      {},
      b.member.token,
    );
    expect(res.errors).toBeUndefined();
    expect(await jobs.waiting('notify-comment', bId, 1_000)).toBe(2);
    // Sent directly, the next of A's is refused with its code; B's is accepted.
    const as = (organizationId: string) => ({ organizationId }) as unknown as Scope;
    const logger = createLogger('silent');
    const commentId = '00000000-0000-4000-8000-000000000000';
    await expect(
      scopedJobs(jobs, as(aId), logger).send('notify-comment', { commentId }),
    ).rejects.toMatchObject({ extensions: { code: 'TOO_MANY_JOBS', limit: TENANT_JOB_BUDGET } });
    await expect(
      scopedJobs(jobs, as(bId), logger).send('notify-comment', { commentId }),
    ).resolves.toBeUndefined();
  });

  it("the queue is fair: the other organization's waiting jobs are worked before the flood's", async () => {
    // Continues the flood above: A has 100 notification jobs waiting, B 3 (its signUpOrg comment,
    // its new comment and the job sent directly). Worked oldest first, B's last two would come
    // after all of A's. One worker takes one job at a time, so completion order is fetch order.
    const completed = async () =>
      system.$queryRawUnsafe<{ organization_id: string }[]>(
        `SELECT data->>'organizationId' AS organization_id FROM pgboss.job
          WHERE name = 'notify-comment' AND state = 'completed' ORDER BY completed_on, id`,
      );
    await t.api.startJobWorkers();
    await vi.waitFor(async () => expect((await completed()).length).toBeGreaterThanOrEqual(6), {
      timeout: 25_000,
      interval: 200,
    });
    const bId = (await system.organization.findUniqueOrThrow({ where: { slug: b.slug } })).id;
    const firstSix = (await completed()).slice(0, 6).map((job) => job.organization_id);
    // Each organization's k-th waiting job has priority -k: A's and B's alternate.
    expect(firstSix.filter((organization) => organization === bId)).toHaveLength(3);
  });
});
