import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeGlobalId } from '../../src/schema/ids.ts';
import { createTestApi, field, type Org, signUpOrg, type TestApi } from '../support/api.ts';

/**
 * Two organizations built through the API with identical-looking data. For every query and
 * mutation, the caller's own id works (the positive control), and the other organization's id
 * behaves exactly like an id that does not exist: NOT_FOUND (or null for node), never FORBIDDEN.
 */

let t: TestApi;
let a: Org;
let b: Org;
const missingPost = encodeGlobalId('Post', '00000000-0000-4000-8000-000000000000');

beforeAll(async () => {
  t = await createTestApi();
  a = await signUpOrg(t, 'acme');
  b = await signUpOrg(t, 'globex');
});

afterAll(() => t.close());

describe('queries', () => {
  it('post(id): own is found; foreign is exactly like missing', async () => {
    const query = `query($id: ID!) { post(id: $id) { id title } }`;
    expect((await t.gql(query, { id: a.postId }, a.owner.token)).data?.post).toEqual({
      id: a.postId,
      title: 'Hello',
    });
    const foreign = await t.gql(query, { id: b.postId }, a.owner.token);
    const missing = await t.gql(query, { id: missingPost }, a.owner.token);
    expect(foreign).toFailWith('NOT_FOUND');
    expect(foreign.errors?.[0]?.message).toBe(missing.errors?.[0]?.message);
    expect(missing).toFailWith('NOT_FOUND');
  });

  it('node / nodes: foreign global ids of every type are null', async () => {
    const query = `query($ids: [ID!]!) { nodes(ids: $ids) { id __typename } }`;
    const own = [a.postId, a.commentId, a.member.userId];
    const foreign = [b.postId, b.commentId, b.member.userId];
    const result = await t.gql(query, { ids: [...own, ...foreign] }, a.owner.token);
    expect(result.errors).toBeUndefined();
    expect(result.data?.nodes).toEqual([
      { id: a.postId, __typename: 'Post' },
      { id: a.commentId, __typename: 'Comment' },
      { id: a.member.userId, __typename: 'User' },
      null,
      null,
      null,
    ]);
    const single = `query($id: ID!) { node(id: $id) { id } }`;
    expect((await t.gql(single, { id: b.postId }, a.owner.token)).data?.node).toBeNull();
    expect((await t.gql(single, { id: a.postId }, a.owner.token)).data?.node).toEqual({
      id: a.postId,
    });
    // The other organization itself, by its global id.
    const orgs = await t.gql(`{ organization { id } }`, {}, b.owner.token);
    const bOrgId = field<{ id: string }>(orgs, 'organization').id;
    expect((await t.gql(single, { id: bOrgId }, a.owner.token)).data?.node).toBeNull();
    expect((await t.gql(single, { id: bOrgId }, b.owner.token)).data?.node).toEqual({ id: bOrgId });
  });

  it('connections and pages hold only own rows', async () => {
    const result = await t.gql(
      `{
        organization { slug memberCount members(first: 10) { totalCount edges { node { id } } } }
        members(first: 10) { totalCount edges { node { id } } }
        posts(first: 10) { totalCount edges { node { id comments(first: 10) { edges { node { id } } } } } }
        postsPage(page: 1, pageSize: 10) { totalCount nodes { id } }
        viewer { posts(first: 10) { edges { node { id } } } }
      }`,
      {},
      a.owner.token,
    );
    expect(result.errors).toBeUndefined();
    const text = JSON.stringify(result.data);
    for (const foreignId of [b.postId, b.commentId, b.owner.userId, b.member.userId]) {
      expect(text).not.toContain(foreignId);
    }
    for (const ownId of [a.postId, a.commentId, a.owner.userId, a.member.userId]) {
      expect(text).toContain(ownId);
    }
    expect(result.data?.organization).toMatchObject({ slug: 'acme', memberCount: 3 });
    expect(result.data?.members).toMatchObject({ totalCount: 3 });
    expect(result.data?.posts).toMatchObject({ totalCount: 1 });
    expect(result.data?.postsPage).toMatchObject({ totalCount: 1 });
  });

  it('a cursor taken from the other organization does not reach its rows', async () => {
    const query = `query($after: String) { posts(first: 5, after: $after) { edges { cursor node { id } } } }`;
    const bPage = await t.gql(query, {}, b.owner.token);
    const bCursor = field<{ edges: { cursor: string }[] }>(bPage, 'posts').edges[0]?.cursor;
    expect(bCursor).toBeTruthy();
    const forged = await t.gql(query, { after: bCursor }, a.owner.token);
    expect(JSON.stringify(forged.data ?? null)).not.toContain(b.postId);
    // Positive control: the same cursor in its own organization pages normally.
    expect((await t.gql(query, { after: bCursor }, b.owner.token)).errors).toBeUndefined();
  });
});

describe('mutations on the other organization behave like missing ids', () => {
  const cases = [
    {
      name: 'updatePost',
      query: `mutation($id: ID!) { updatePost(input: { id: $id, title: "Edited" }) { id title } }`,
      vars: (o: Org) => ({ id: o.postId }),
    },
    {
      name: 'createComment',
      query: `mutation($id: ID!) { createComment(input: { postId: $id, body: "Hi" }) { id } }`,
      vars: (o: Org) => ({ id: o.postId }),
    },
    {
      name: 'updateComment',
      query: `mutation($id: ID!) { updateComment(input: { id: $id, body: "Edited" }) { id body } }`,
      vars: (o: Org) => ({ id: o.commentId }),
    },
    {
      name: 'changeMemberRole',
      query: `mutation($id: ID!) { changeMemberRole(input: { userId: $id, role: ADMIN }) { id role } }`,
      vars: (o: Org) => ({ id: o.member.userId }),
    },
    {
      name: 'deleteComment',
      query: `mutation($id: ID!) { deleteComment(id: $id) { deletedId } }`,
      vars: (o: Org) => ({ id: o.commentId }),
    },
    {
      name: 'deletePost',
      query: `mutation($id: ID!) { deletePost(id: $id) { deletedId } }`,
      vars: (o: Org) => ({ id: o.postId }),
    },
    {
      name: 'removeMember',
      query: `mutation($id: ID!) { removeMember(userId: $id) { deletedId } }`,
      vars: (o: Org) => ({ id: o.member.userId }),
    },
  ];

  it.each(cases)('$name', async ({ query, vars }) => {
    const before = await snapshot(b);
    const foreign = await t.gql(query, vars(b), a.owner.token);
    expect(foreign).toFailWith('NOT_FOUND');
    expect(await snapshot(b)).toEqual(before);
    const own = await t.gql(query, vars(a), a.owner.token);
    expect(own.errors).toBeUndefined();
  });

  async function snapshot(org: Org) {
    const result = await t.gql(
      `{ members(first: 10) { edges { node { id role } } }
         posts(first: 10) { edges { node { id title comments(first: 10) { edges { node { id body } } } } } } }`,
      {},
      org.owner.token,
    );
    return result.data;
  }
});
