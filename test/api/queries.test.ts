import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApi, field, type Org, signUpOrg, type TestApi } from '../support/api.ts';
import { runsOnCitus } from '../support/database.ts';

let t: TestApi;
let a: Org;

beforeAll(async () => {
  t = await createTestApi();
  a = await signUpOrg(t, 'acme');
  // 50 posts in all (the seeded one plus 49), each with two comments by different authors.
  for (let i = 0; i < 49; i++) {
    const post = await t.gql(
      `mutation { createPost(input: { title: "Post ${i}" }) { id } }`,
      {},
      a.owner.token,
    );
    const postId = field<{ id: string }>(post, 'createPost').id;
    for (const token of [a.member.token, a.admin.token]) {
      await t.gql(
        `mutation($id: ID!) { createComment(input: { postId: $id, body: "c" }) { id } }`,
        { id: postId },
        token,
      );
    }
  }
});

afterAll(() => t.close());

const NESTED = `query($n: Int!) {
  posts(first: $n) {
    edges { node { title author { name } comments(first: 10) { edges { node { body author { name } } } } } }
  }
}`;

async function statementsFor(n: number): Promise<{ count: number; edges: number }> {
  t.sql.statements.length = 0;
  const result = await t.gql(NESTED, { n }, a.owner.token);
  expect(result.errors).toBeUndefined();
  const edges = field<{ edges: unknown[] }>(result, 'posts').edges.length;
  return { count: t.sql.statements.length, edges };
}

describe('no N+1', () => {
  it('the nested list runs the same number of SQL statements for 5 and for 50 posts', async () => {
    const five = await statementsFor(5);
    const fifty = await statementsFor(50);
    expect(five.edges).toBe(5);
    expect(fifty.edges).toBe(50);
    expect(fifty.count).toBe(five.count);
    // One read-only unit of work: the member lookup and the list with its nested relations (one
    // statement: relations load with joins; on Citus one statement per relation, each routed to
    // the organization's shard). Counted at the driver adapter: BEGIN and COMMIT are counted
    // though on a server neither is sent (each statement carries the binding).
    // Printed for the record.
    console.info(`nested list: ${fifty.count} statements for 5 and for 50 posts`);
    expect(fifty.count).toBeLessThanOrEqual(runsOnCitus() ? 8 : 4);
  });

  it('loads no password hash with the authors of a list', async () => {
    t.sql.statements.length = 0;
    const result = await t.gql(NESTED, { n: 5 }, a.owner.token);
    expect(result.errors).toBeUndefined();
    // The list's statements: one with the users joined in, or on Citus one per relation (the
    // authors by their keys).
    const list = t.sql.statements.filter((sql) =>
      runsOnCitus()
        ? sql.includes('"posts"') || /"users".* IN \(/s.test(sql)
        : sql.includes('"posts"'),
    );
    expect(list.length).toBeGreaterThan(0);
    expect(list.join('\n')).not.toContain('password_hash');
    // Positive control: the statements are there, and the authors are loaded in them.
    expect(list.join('\n')).toContain('"users"');
  });
});
