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

// Every ID argument of every operation, probed with the other organization's id and a missing
// one, is in test/api/schema-ids.test.ts: it walks the schema, so no list here can fall behind.
