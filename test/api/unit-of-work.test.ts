import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSystemClient } from '../../src/db/system.ts';
import { decodeGlobalId } from '../../src/schema/ids.ts';
import { createTestApi, field, type Org, signUpOrg, type TestApi } from '../support/api.ts';

/**
 * Which requests get one transaction (src/http/unit-of-work.ts): a single query or mutation
 * operation does, with the member lookup inside it (a mutation's root fields each behind a
 * savepoint); a token-issuing mutation, batches and subscriptions keep one per database
 * operation. And every unit of work ends, whatever the request did.
 */
let t: TestApi;
let a: Org;
let b: Org;

beforeAll(async () => {
  t = await createTestApi();
  a = await signUpOrg(t, 'acme');
  b = await signUpOrg(t, 'globex');
});

afterAll(() => t.close());

const transactionsOf = async (run: () => Promise<unknown>) => {
  t.sql.statements.length = 0;
  await run();
  return t.sql.statements.filter((sql) => sql === 'BEGIN').length;
};

const EVERYTHING = `{
  viewer { name }
  organization { name }
  posts(first: 5) { totalCount edges { node { title author { name } comments(first: 5) { totalCount edges { node { body } } } } } }
  members(first: 5) { edges { node { name } } }
}`;

describe('a query operation', () => {
  it('runs in one transaction, the member lookup included, however many fields it reads', async () => {
    let result: Awaited<ReturnType<TestApi['gql']>> | undefined;
    expect(
      await transactionsOf(async () => (result = await t.gql(EVERYTHING, {}, a.owner.token))),
    ).toBe(1);
    expect(result?.errors).toBeUndefined();
    expect(field<{ name: string }>(result ?? {}, 'organization').name).toBe('Org acme');
  });

  it('reads after a miss in the same transaction still answer', async () => {
    const result = await t.gql(
      `query($id: ID!) { foreign: node(id: $id) { id } viewer { name } posts(first: 1) { totalCount } }`,
      { id: b.postId },
      a.owner.token,
    );
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({
      foreign: null,
      viewer: { name: 'Olive Owner' },
      posts: { totalCount: 1 },
    });
  });

  it('anonymous: no transaction at all', async () => {
    expect(await transactionsOf(() => t.gql('{ __typename }'))).toBe(0);
  });
});

describe('a mutation', () => {
  const titlesOf = async (org: Org) =>
    JSON.stringify(
      (await t.gql('{ posts(first: 50) { edges { node { title } } } }', {}, org.owner.token)).data,
    );

  it('runs in one transaction, the member lookup included, with no savepoint for a single field', async () => {
    t.sql.statements.length = 0;
    const result = await t.gql(
      'mutation { createPost(input: { title: "one transaction" }) { title author { name } } }',
      {},
      a.owner.token,
    );
    expect(result.errors).toBeUndefined();
    expect(t.sql.statements.filter((sql) => sql === 'BEGIN')).toHaveLength(1);
    expect(t.sql.statements.some((sql) => sql.startsWith('SAVEPOINT'))).toBe(false);
    expect(await titlesOf(a)).toContain('one transaction');
  });

  it('each root field stands on its own: a failing field does not undo the fields before it', async () => {
    let result: Awaited<ReturnType<TestApi['gql']>> | undefined;
    const transactions = await transactionsOf(async () => {
      result = await t.gql(
        `mutation($foreign: ID!) {
          first: createPost(input: { title: "before a failure" }) { id }
          second: updatePost(input: { id: $foreign, title: "stolen" }) { id }
          third: createPost(input: { title: "after a failure" }) { id }
        }`,
        { foreign: b.postId },
        a.owner.token,
      );
    });
    expect(result ?? {}).toFailWith('NOT_FOUND');
    // The fields are non-null: the failure nulls the answer and, as GraphQL executes mutations,
    // the fields after it do not run. What the field before it wrote is committed.
    expect(result?.data).toBeNull();
    expect(transactions).toBe(1);
    // A savepoint per root field that ran, none released one by one (COMMIT releases them);
    // the failed field's rolled back to, so that the transaction could go on and commit.
    expect(t.sql.statements.filter((sql) => sql.startsWith('SAVEPOINT'))).toHaveLength(2);
    expect(t.sql.statements.filter((sql) => sql.startsWith('ROLLBACK TO'))).toHaveLength(1);
    const titles = await titlesOf(a);
    expect(titles).toContain('before a failure');
    expect(titles).not.toContain('after a failure');
    expect(await titlesOf(b)).not.toContain('stolen');
  });

  it('a field that fails alone rolls its operation back and ends the transaction', async () => {
    for (let i = 0; i < 25; i++) {
      const failed = await t.gql(
        'mutation($id: ID!) { updatePost(input: { id: $id, title: "stolen" }) { id } }',
        { id: b.postId },
        a.owner.token,
      );
      expect(failed).toFailWith('NOT_FOUND');
    }
    // Positive control: the next mutation gets a connection and commits.
    const next = await t.gql(
      'mutation { createPost(input: { title: "after 25 failures" }) { id } }',
      {},
      a.owner.token,
    );
    expect(next.errors).toBeUndefined();
    expect(await titlesOf(a)).toContain('after 25 failures');
  }, 60_000);

  it('a COMMIT that fails answers SERVICE_UNAVAILABLE, not the data of rows that are not there', async () => {
    // A constraint checked at COMMIT only (DEFERRABLE INITIALLY DEFERRED): every resolver
    // succeeds, the transaction does not. Test-only, on this file's own database.
    const system = createSystemClient(t.database);
    try {
      await system.$executeRawUnsafe(`CREATE FUNCTION test_fail_at_commit() RETURNS trigger
        LANGUAGE plpgsql AS $$ BEGIN
          IF NEW.title = 'fails at commit' THEN RAISE EXCEPTION 'refused at commit'; END IF;
          RETURN NULL;
        END $$`);
      await system.$executeRawUnsafe(`CREATE CONSTRAINT TRIGGER test_fail_at_commit
        AFTER INSERT ON posts DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW EXECUTE FUNCTION test_fail_at_commit()`);
      const failed = await t.gql(
        'mutation { createPost(input: { title: "fails at commit" }) { id title } }',
        {},
        a.owner.token,
      );
      expect(failed).toFailWith('SERVICE_UNAVAILABLE');
      expect(failed.data ?? null).toBeNull();
      expect(await titlesOf(a)).not.toContain('fails at commit');
      // Positive control: the same mutation with another title commits and answers.
      const passed = await t.gql(
        'mutation { createPost(input: { title: "passes at commit" }) { title } }',
        {},
        a.owner.token,
      );
      expect(passed.errors).toBeUndefined();
      expect(passed.data).toEqual({ createPost: { title: 'passes at commit' } });
    } finally {
      await system.$executeRawUnsafe('DROP TRIGGER IF EXISTS test_fail_at_commit ON posts');
      await system.$executeRawUnsafe('DROP FUNCTION IF EXISTS test_fail_at_commit()');
      await system.$disconnect();
    }
  });

  it("a field that issues a token keeps one transaction per database operation (its payload is another member's)", async () => {
    const transactions = await transactionsOf(async () => {
      const result = await t.gql(
        `mutation { changePassword(input: { currentPassword: "correct-horse-9", newPassword: "correct-horse-10" }) { token user { name } } }`,
        {},
        b.member.token,
      );
      expect(result.errors).toBeUndefined();
    });
    expect(transactions).toBeGreaterThanOrEqual(2);
  });
});

describe('batched requests', () => {
  it('answer every operation, each as its organization reads it', async () => {
    const response = await t.fetch({
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${a.owner.token}` },
      body: JSON.stringify([
        { query: '{ organization { name } }' },
        { query: 'mutation { createPost(input: { title: "batched" }) { title } }' },
        { query: '{ viewer { name } }' },
      ]),
    });
    expect(response.status).toBe(200);
    const results = (await response.json()) as { data?: Record<string, unknown> }[];
    expect(results.map((r) => r.data)).toEqual([
      { organization: { name: 'Org acme' } },
      { createPost: { title: 'batched' } },
      { viewer: { name: 'Olive Owner' } },
    ]);
  });
});

describe('every unit of work ends', () => {
  // Far more requests than connections (PGlite has one): a transaction left open would make
  // the request after it wait for a connection, and fail after 10 s.
  it('after a failed member lookup (a valid token of a user who does not exist)', async () => {
    const orgId = await orgIdOf(a);
    const ghost = await t.tokens.issue({ userId: randomUUID(), organizationId: orgId });
    for (let i = 0; i < 25; i++) {
      expect(await t.gql('{ viewer { name } }', {}, ghost)).toFailWith('UNAUTHENTICATED');
    }
    expect((await t.gql('{ viewer { name } }', {}, a.owner.token)).data?.viewer).toEqual({
      name: 'Olive Owner',
    });
  }, 60_000);

  it('after invalid variables, errors in resolvers and documents that fail validation', async () => {
    for (let i = 0; i < 10; i++) {
      const bad = [
        await t.gql(
          'query($n: Int!) { posts(first: $n) { totalCount } }',
          { n: 'x' },
          a.owner.token,
        ),
        await t.gql('query($id: ID!) { post(id: $id) { title } }', { id: 'nope' }, a.owner.token),
        await t.gql('{ nope }', {}, a.owner.token),
      ];
      expect(bad.every((r) => (r.errors?.length ?? 0) > 0)).toBe(true);
    }
    expect((await t.gql('{ viewer { name } }', {}, a.owner.token)).data?.viewer).toEqual({
      name: 'Olive Owner',
    });
  }, 60_000);
});

async function orgIdOf(org: Org): Promise<string> {
  const result = await t.gql('{ organization { id } }', {}, org.owner.token);
  return decodeGlobalId(field<{ id: string }>(result, 'organization').id).id;
}
