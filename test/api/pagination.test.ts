import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSystemClient } from '../../src/db/system.ts';
import { decodeGlobalId } from '../../src/schema/ids.ts';
import { createTestApi, field, type Org, signUpOrg, type TestApi } from '../support/api.ts';

/**
 * Cursor pages (src/schema/pagination.ts): every page, forwards and backwards, is a slice of the
 * one ordered list, newest first with the id breaking ties; a cursor that points at nothing the
 * caller can see is an empty page.
 */
let t: TestApi;
let a: Org;
let b: Org;
/** Titles of a's posts, newest first, as the database orders them. */
let expected: string[];

const PAGE = `query($first: Int, $after: String, $last: Int, $before: String) {
  posts(first: $first, after: $after, last: $last, before: $before) {
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { title } }
  }
}`;

type Page = {
  pageInfo: {
    hasNextPage: boolean;
    hasPreviousPage: boolean;
    startCursor: string | null;
    endCursor: string | null;
  };
  edges: { cursor: string; node: { title: string } }[];
};

async function page(variables: Record<string, unknown>, token = a.owner.token): Promise<Page> {
  return field<Page>(await t.gql(PAGE, variables, token), 'posts');
}

beforeAll(async () => {
  t = await createTestApi();
  a = await signUpOrg(t, 'acme');
  b = await signUpOrg(t, 'globex');
  const system = createSystemClient(t.database);
  try {
    const orgId = decodeGlobalId(
      field<{ id: string }>(
        await t.gql('{ organization { id } }', {}, a.owner.token),
        'organization',
      ).id,
    ).id;
    const authorId = decodeGlobalId(a.owner.userId).id;
    // 23 more posts; groups of three share a timestamp, so only the id orders them.
    const base = Date.parse('2026-01-01T00:00:00Z');
    for (let i = 0; i < 23; i++) {
      await system.post.create({
        data: {
          organizationId: orgId,
          authorId,
          title: `P${String(i).padStart(2, '0')}`,
          createdAt: new Date(base + Math.floor(i / 3) * 1000),
        },
      });
    }
    const rows = await system.post.findMany({
      where: { organizationId: orgId },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      select: { title: true },
    });
    expected = rows.map((row) => row.title);
  } finally {
    await system.$disconnect();
  }
});

afterAll(() => t.close());

describe('cursor pages', () => {
  it('forwards: first/after walks the whole list once, in order', async () => {
    const seen: string[] = [];
    let after: string | null = null;
    for (let guard = 0; guard < 20; guard++) {
      const got: Page = await page({ first: 5, after });
      seen.push(...got.edges.map((edge) => edge.node.title));
      expect(got.pageInfo.hasPreviousPage).toBe(after !== null);
      if (!got.pageInfo.hasNextPage) break;
      after = got.pageInfo.endCursor;
    }
    expect(seen).toEqual(expected);
  });

  it('backwards: last/before walks it from the end, in the same order', async () => {
    const pages: string[][] = [];
    let before: string | null = null;
    for (let guard = 0; guard < 20; guard++) {
      const got: Page = await page({ last: 5, before });
      pages.unshift(got.edges.map((edge) => edge.node.title));
      if (!got.pageInfo.hasPreviousPage) break;
      before = got.pageInfo.startCursor;
    }
    expect(pages.flat()).toEqual(expected);
  });

  it('a page after any cursor is the next slice of the list', async () => {
    const all = await page({ first: 100 });
    for (const i of [0, 1, 2, 7, 11, expected.length - 2]) {
      const got = await page({ first: 4, after: all.edges[i]?.cursor });
      expect(got.edges.map((edge) => edge.node.title)).toEqual(expected.slice(i + 1, i + 5));
      const back = await page({ last: 3, before: all.edges[i + 1]?.cursor });
      expect(back.edges.map((edge) => edge.node.title)).toEqual(
        expected.slice(Math.max(0, i - 2), i + 1),
      );
    }
  });

  it("another organization's cursor is an empty page, as is a cursor to a deleted row", async () => {
    const theirs = await page({ first: 1 }, b.owner.token);
    const foreign = await page({ first: 5, after: theirs.pageInfo.endCursor });
    expect(foreign.edges).toEqual([]);
    const mine = await page({ first: 5, after: theirs.pageInfo.endCursor }, b.owner.token);
    expect(mine.edges).toEqual([]); // b has one post: nothing after it (positive control below)
    const control = await page({ first: 5 }, b.owner.token);
    expect(control.edges.map((edge) => edge.node.title)).toEqual(['Hello']);
  });

  it('a page after a cursor is read with a LIMIT, not cut from every row past the cursor', async () => {
    const all = await page({ first: 100 });
    t.sql.statements.length = 0;
    await page({ first: 3, after: all.edges[2]?.cursor });
    const list = t.sql.statements.filter(
      (sql) => /FROM "public"\."posts"/.test(sql) && /ORDER BY/.test(sql),
    );
    expect(list).toHaveLength(1);
    expect(list[0]).toMatch(/LIMIT/);
  });
});
