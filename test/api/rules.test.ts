import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeGlobalId } from '../../src/schema/ids.ts';
import { codes, createTestApi, field, type Org, signUpOrg, type TestApi } from '../support/api.ts';

let t: TestApi;
let a: Org;

beforeAll(async () => {
  t = await createTestApi();
  a = await signUpOrg(t, 'acme');
});

afterAll(() => t.close());

async function memberPost(): Promise<string> {
  const post = await t.gql(
    `mutation { createPost(input: { title: "Mine" }) { id } }`,
    {},
    a.member.token,
  );
  return field<{ id: string }>(post, 'createPost').id;
}

describe('roles within one organization', () => {
  const update = `mutation($id: ID!, $title: String) { updatePost(input: { id: $id, title: $title }) { title } }`;

  it("a member cannot edit someone else's post; the author and an admin can", async () => {
    const id = await memberPost();
    const other = await t.gql(
      `mutation { createMember(input: { email: "m2@example.com", name: "M2", password: "another-pass-1" }) { id } }`,
      {},
      a.owner.token,
    );
    expect(other.errors).toBeUndefined();
    // The owner's post, edited by the member: FORBIDDEN (same organization, not theirs).
    expect(codes(await t.gql(update, { id: a.postId, title: 'x' }, a.member.token))).toEqual([
      'FORBIDDEN',
    ]);
    expect(
      codes(
        await t.gql(
          `mutation($id: ID!) { deletePost(id: $id) { deletedId } }`,
          { id: a.postId },
          a.member.token,
        ),
      ),
    ).toEqual(['FORBIDDEN']);
    expect(
      (await t.gql(update, { id, title: 'By author' }, a.member.token)).data?.updatePost,
    ).toEqual({ title: 'By author' });
    expect(
      (await t.gql(update, { id, title: 'By admin' }, a.admin.token)).data?.updatePost,
    ).toEqual({ title: 'By admin' });
    const viewerCanEdit = await t.gql(
      `query($id: ID!) { post(id: $id) { viewerCanEdit } }`,
      { id: a.postId },
      a.member.token,
    );
    expect(viewerCanEdit.data?.post).toEqual({ viewerCanEdit: false });
  });

  it('comments follow the same rule', async () => {
    const comment = await t.gql(
      `mutation($id: ID!) { createComment(input: { postId: $id, body: "by owner" }) { id } }`,
      { id: a.postId },
      a.owner.token,
    );
    const id = field<{ id: string }>(comment, 'createComment').id;
    const edit = `mutation($id: ID!) { updateComment(input: { id: $id, body: "edited" }) { body } }`;
    expect(await t.gql(edit, { id }, a.member.token)).toFailWith('FORBIDDEN');
    expect((await t.gql(edit, { id }, a.admin.token)).data?.updateComment).toEqual({
      body: 'edited',
    });
  });

  it('members cannot add members; admins add members but not admins; the owner adds admins', async () => {
    const add = (email: string, role: string, token: string) =>
      t.gql(
        `mutation($input: CreateMemberInput!) { createMember(input: $input) { role } }`,
        { input: { email, name: 'New', password: 'another-pass-1', role } },
        token,
      );
    expect(await add('n1@example.com', 'MEMBER', a.member.token)).toFailWith('FORBIDDEN');
    expect(await add('n2@example.com', 'ADMIN', a.admin.token)).toFailWith('FORBIDDEN');
    expect((await add('n3@example.com', 'MEMBER', a.admin.token)).data?.createMember).toEqual({
      role: 'MEMBER',
    });
    expect((await add('n4@example.com', 'ADMIN', a.owner.token)).data?.createMember).toEqual({
      role: 'ADMIN',
    });
    expect(await add('n4@example.com', 'MEMBER', a.owner.token)).toFailWith('CONFLICT');
    expect(await add('n5@example.com', 'OWNER', a.owner.token)).toFailWith('BAD_USER_INPUT');
  });

  it('only the owner changes roles', async () => {
    const change = `mutation($id: ID!) { changeMemberRole(input: { userId: $id, role: ADMIN }) { role } }`;
    expect(codes(await t.gql(change, { id: a.member.userId }, a.admin.token))).toEqual([
      'FORBIDDEN',
    ]);
    expect(
      (await t.gql(change, { id: a.member.userId }, a.owner.token)).data?.changeMemberRole,
    ).toEqual({ role: 'ADMIN' });
    expect(codes(await t.gql(change, { id: a.owner.userId }, a.owner.token))).toEqual([
      'BAD_USER_INPUT',
    ]);
  });

  it('updateProfile changes only the viewer', async () => {
    const result = await t.gql(
      `mutation { updateProfile(input: { name: "Renamed" }) { id name } }`,
      {},
      a.admin.token,
    );
    expect(result.data?.updateProfile).toEqual({ id: a.admin.userId, name: 'Renamed' });
    const taken = await t.gql(
      `mutation { updateProfile(input: { email: "owner@example.com" }) { id } }`,
      {},
      a.admin.token,
    );
    expect(taken).toFailWith('CONFLICT');
  });
});

describe('input validation: BAD_USER_INPUT with the field', () => {
  const signUp = (input: Record<string, string>) =>
    t.gql(`mutation($input: SignUpInput!) { signUp(input: $input) { token } }`, {
      input: {
        organizationName: 'Valid',
        organizationSlug: 'valid-slug',
        email: 'valid@example.com',
        password: 'valid-pass-1',
        name: 'Valid',
        ...input,
      },
    });

  it.each([
    ['password', { password: 'short1' }],
    ['password', { password: 'aaaaaaaaaaaaaa' }],
    ['email', { email: 'not-an-email' }],
    ['organizationSlug', { organizationSlug: 'Has Spaces' }],
    ['organizationSlug', { organizationSlug: '-dash-' }],
    ['name', { name: '   ' }],
    ['organizationName', { organizationName: 'x'.repeat(101) }],
  ])('%s: %j', async (field, input) => {
    const result = await signUp(input);
    expect(result).toFailWith('BAD_USER_INPUT');
    expect(result.errors?.[0]?.extensions?.field).toBe(field);
  });

  it('titles, bodies and ids', async () => {
    const long = await t.gql(
      `mutation($t: String!) { createPost(input: { title: $t }) { id } }`,
      { t: 'x'.repeat(256) },
      a.owner.token,
    );
    expect(long.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'title' });
    const empty = await t.gql(
      `mutation($id: ID!) { createComment(input: { postId: $id, body: "  " }) { id } }`,
      { id: a.postId },
      a.owner.token,
    );
    expect(empty.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'body' });
    for (const id of [
      'nope',
      '1',
      encodeGlobalId('Post', 'not-a-uuid'),
      a.commentId,
      `${a.postId}x`,
    ]) {
      const result = await t.gql(`query($id: ID!) { post(id: $id) { id } }`, { id }, a.owner.token);
      expect(codes(result), id).toEqual(['BAD_USER_INPUT']);
    }
    const node = await t.gql(
      `query($id: ID!) { node(id: $id) { id } }`,
      { id: 'garbage!' },
      a.owner.token,
    );
    expect(node).toFailWith('BAD_USER_INPUT');
    const page = await t.gql(`{ postsPage(pageSize: 1000) { totalCount } }`, {}, a.owner.token);
    expect(page.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'pageSize',
    });
  });

  it('SQL-looking and unicode text is stored as text', async () => {
    const title = "'); DROP TABLE posts; -- 🚀 ñ 漢字";
    const result = await t.gql(
      `mutation($t: String!) { createPost(input: { title: $t }) { title } }`,
      { t: title },
      a.owner.token,
    );
    expect(result.data?.createPost).toEqual({ title });
  });
});

describe('limits and browser protections', () => {
  it('connections default to 25 and are capped at 100 (hasNextPage tells there is more)', async () => {
    const create = `mutation { createPost(input: { title: "bulk" }) { id } }`;
    for (let i = 0; i < 101; i++) await t.gql(create, {}, a.owner.token);
    const capped = await t.gql(
      `{ posts(first: 1000) { edges { node { id } } pageInfo { hasNextPage } } }`,
      {},
      a.owner.token,
    );
    const posts = capped.data?.posts as { edges: unknown[]; pageInfo: { hasNextPage: boolean } };
    expect(posts.edges).toHaveLength(100);
    expect(posts.pageInfo.hasNextPage).toBe(true);
    const byDefault = await t.gql(`{ posts { edges { node { id } } } }`, {}, a.owner.token);
    expect(field<{ edges: unknown[] }>(byDefault, 'posts').edges).toHaveLength(25);
  });

  it('deep queries are refused', async () => {
    const deep = `{ viewer { organization { members(first: 1) { edges { node { organization { members(first: 1) { edges { node { posts(first: 1) { edges { node { author { posts(first: 1) { edges { node { id } } } } } } } } } } } } } } } } }`;
    expect(await t.gql(deep, {}, a.owner.token)).toFailWith('QUERY_TOO_COMPLEX');
  });

  it('complexity counts the page sizes asked for: 100 posts × 100 comments is refused, 20 × 10 is not', async () => {
    const nested = (posts: number, comments: number) =>
      `{ posts(first: ${posts}) { edges { node { title author { name } comments(first: ${comments}) { edges { node { body author { name } } } } } } } }`;
    const big = await t.gql(nested(100, 100), {}, a.owner.token);
    expect(big).toFailWith('QUERY_TOO_COMPLEX');
    expect(big.errors?.[0]?.message).toMatch(/complexity \d+ exceeds the limit of 20000/);
    const usual = await t.gql(nested(20, 10), {}, a.owner.token);
    expect(usual.errors).toBeUndefined();
    // Backwards pages count the same way.
    const last = await t.gql(
      `{ posts(last: 100) { edges { node { comments(last: 100) { edges { node { body author { name } } } } } } } }`,
      {},
      a.owner.token,
    );
    expect(last).toFailWith('QUERY_TOO_COMPLEX');
  });

  it('too many aliases are refused', async () => {
    const aliases = Array.from({ length: 31 }, (_, i) => `a${i}: viewer { id }`).join(' ');
    const result = await t.gql(`{ ${aliases} }`, {}, a.owner.token);
    expect(result.errors?.[0]?.message).toMatch(/alias/i);
    expect(result.data ?? null).toBeNull();
  });

  it('batches above 10 operations are refused', async () => {
    const batch = (n: number) =>
      t.fetch({
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${a.owner.token}` },
        body: JSON.stringify(Array.from({ length: n }, () => ({ query: '{ viewer { id } }' }))),
      });
    expect((await batch(10)).status).toBe(200);
    const over = await batch(11);
    expect(over.status).toBeGreaterThanOrEqual(400);
  });

  it('a GET without a CSRF header is refused; with one it works', async () => {
    const query = encodeURIComponent('{ __typename }');
    expect((await t.fetch({ method: 'GET', path: `/graphql?query=${query}` })).status).toBe(403);
    const ok = await t.fetch({
      method: 'GET',
      path: `/graphql?query=${query}`,
      headers: { 'x-graphql-yoga-csrf': '1', accept: 'application/json' },
    });
    expect(ok.status).toBe(200);
  });

  it('unexpected errors are masked: no SQL, no stack, no Prisma text', async () => {
    const broken = await createTestApi();
    try {
      const org = await signUpOrg(broken, 'broken');
      // Pull the table out from under the API: the next query fails inside Prisma.
      await broken.database.adapter
        .connect()
        .then((db) => db.executeScript('DROP TABLE comments CASCADE'));
      const result = await broken.gql(
        `{ posts(first: 5) { edges { node { comments(first: 5) { totalCount } } } } }`,
        {},
        org.owner.token,
      );
      const text = JSON.stringify(result);
      expect(codes(result)).toContain('INTERNAL_SERVER_ERROR');
      expect(text).toContain('Unexpected error');
      expect(text).not.toMatch(/comments"? does not exist|prisma|SELECT|at .*\.ts/i);
      // The server keeps serving.
      expect((await broken.gql(`{ viewer { name } }`, {}, org.owner.token)).data?.viewer).toEqual({
        name: 'Olive Owner',
      });
    } finally {
      await broken.close();
    }
  });

  it('introspection can be turned off', async () => {
    const closed = await createTestApi({ introspection: false });
    try {
      const result = await closed.gql(`{ __schema { types { name } } }`);
      expect(result.errors?.[0]?.message).toMatch(/introspection/i);
    } finally {
      await closed.close();
    }
    expect((await t.gql(`{ __schema { queryType { name } } }`)).data).toEqual({
      __schema: { queryType: { name: 'Query' } },
    });
  });

  it('GET /health checks the database', async () => {
    const response = await t.fetch({ method: 'GET', path: '/health' });
    expect(response.status).toBe(200);
  });
});
