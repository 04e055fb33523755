import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createSystemClient, type SystemClient } from '../../src/db/system.ts';
import { decodeGlobalId, encodeGlobalId } from '../../src/schema/ids.ts';
import {
  createTestApi,
  field,
  type GraphQLResponse,
  type Org,
  signUpOrg,
  type TestApi,
} from '../support/api.ts';

/**
 * Tags (src/schema/tag.ts): an organization's labels on its posts. Names are unique per
 * organization; a post carries only its own organization's tags, refused as NOT_FOUND (like a
 * missing id) by the API and by the composite foreign keys of post_tags in the database.
 */
let t: TestApi;
let system: SystemClient;
let a: Org;
let b: Org;
const orgIds = { a: '', b: '' };

const raw = (globalId: string) => decodeGlobalId(globalId).id;

const CREATE = 'mutation($name: String!) { createTag(input: { name: $name }) { id name } }';
const RENAME =
  'mutation($id: ID!, $name: String!) { renameTag(input: { id: $id, name: $name }) { id name } }';
const TAG_POST = `mutation($postId: ID!, $tagId: ID!) {
  tagPost(input: { postId: $postId, tagId: $tagId }) { id tags { totalCount edges { node { name } } } }
}`;
const UNTAG_POST = `mutation($postId: ID!, $tagId: ID!) {
  untagPost(input: { postId: $postId, tagId: $tagId }) { id tags { edges { node { name } } } }
}`;
const POSTS_TAGGED = `query($tag: ID, $first: Int, $after: String) {
  posts(tag: $tag, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { title } }
  }
}`;

async function createTag(org: Org, name: string): Promise<string> {
  return field<{ id: string }>(await t.gql(CREATE, { name }, org.owner.token), 'createTag').id;
}

async function createPost(org: Org, title: string): Promise<string> {
  const created = await t.gql(
    'mutation($title: String!) { createPost(input: { title: $title }) { id } }',
    { title },
    org.owner.token,
  );
  return field<{ id: string }>(created, 'createPost').id;
}

const tagNames = async (org: Org) =>
  field<{ edges: { node: { name: string } }[] }>(
    await t.gql('{ tags(first: 100) { edges { node { name } } } }', {}, org.owner.token),
    'tags',
  ).edges.map((e) => e.node.name);

/** What a client can tell apart: data, and each error's message, path and code. */
const answer = (r: GraphQLResponse) => ({
  data: r.data ?? null,
  errors: r.errors?.map((e) => ({ message: e.message, path: e.path, code: e.extensions?.code })),
});

beforeAll(async () => {
  t = await createTestApi();
  system = createSystemClient(t.database);
  a = await signUpOrg(t, 'acme');
  b = await signUpOrg(t, 'globex');
  for (const [key, org] of [
    ['a', a],
    ['b', b],
  ] as const) {
    const { id } = field<{ id: string }>(
      await t.gql('{ organization { id } }', {}, org.owner.token),
      'organization',
    );
    orgIds[key] = raw(id);
  }
});

afterAll(async () => {
  await system.$disconnect();
  await t.close();
});

beforeEach(async () => {
  await system.tag.deleteMany();
});

describe('tags: create, list, rename, delete', () => {
  it('creates, lists oldest first, renames and deletes a tag', async () => {
    const news = await createTag(a, 'news');
    await createTag(a, 'release');
    expect(await tagNames(a)).toEqual(['news', 'release']);
    expect(await tagNames(b)).toEqual([]);

    const renamed = await t.gql(RENAME, { id: news, name: '  announcements ' }, a.owner.token);
    expect(field(renamed, 'renameTag')).toEqual({ id: news, name: 'announcements' });

    const deleted = await t.gql(
      'mutation($id: ID!) { deleteTag(id: $id) { deletedId } }',
      { id: news },
      a.owner.token,
    );
    expect(field(deleted, 'deleteTag')).toEqual({ deletedId: news });
    expect(await tagNames(a)).toEqual(['release']);
    const node = await t.gql(
      'query($id: ID!) { node(id: $id) { id } }',
      { id: news },
      a.owner.token,
    );
    expect(node.data).toEqual({ node: null });
  });

  it('a tag is a Node', async () => {
    const id = await createTag(a, 'news');
    const node = await t.gql(
      'query($id: ID!) { node(id: $id) { __typename ... on Tag { name postCount } } }',
      { id },
      a.owner.token,
    );
    expect(node.data).toEqual({ node: { __typename: 'Tag', name: 'news', postCount: 0 } });
  });

  it.each([
    ['', 'Tag name is required'],
    ['   ', 'Tag name is required'],
    ['x'.repeat(51), 'Tag name is at most 50 characters'],
    ['two\nlines', 'Tag name contains characters that are not allowed'],
    ['nul\u0000', 'Tag name contains characters that are not allowed'],
  ])('refuses the name %j: BAD_USER_INPUT on name', async (name, message) => {
    const response = await t.gql(CREATE, { name }, a.owner.token);
    expect(response).toFailWith('BAD_USER_INPUT');
    expect(response.errors?.[0]?.message).toContain(message);
    expect(await tagNames(a)).toEqual([]);
  });

  it('a duplicate name in the organization is CONFLICT; the same name elsewhere is fine', async () => {
    const news = await createTag(a, 'news');
    const again = await t.gql(CREATE, { name: ' news ' }, a.owner.token);
    expect(again).toFailWith('CONFLICT');
    expect(again.errors?.[0]?.extensions?.field).toBe('name');
    expect(again.errors?.[0]?.message).toBe('A tag with this name already exists');
    // Another organization's tag of that name is no conflict, and tells nothing.
    expect(await createTag(b, 'news')).toEqual(expect.any(String));

    const other = await createTag(a, 'other');
    expect(await t.gql(RENAME, { id: other, name: 'news' }, a.owner.token)).toFailWith('CONFLICT');
    // Renaming a tag to its own name is no conflict.
    expect(
      field(await t.gql(RENAME, { id: news, name: 'news' }, a.owner.token), 'renameTag'),
    ).toEqual({ id: news, name: 'news' });
    expect(await tagNames(a)).toEqual(['news', 'other']);
  });

  it('the unique key settles a race between two creates of one name', async () => {
    const answers = await Promise.all([
      t.gql(CREATE, { name: 'raced' }, a.owner.token),
      t.gql(CREATE, { name: 'raced' }, a.admin.token),
    ]);
    const failed = answers.filter((r) => r.errors);
    expect(failed.length).toBeLessThanOrEqual(1);
    for (const r of failed) expect(r).toFailWith('CONFLICT');
    expect(await tagNames(a)).toEqual(['raced']);
  });

  it('renaming and deleting tags is for ADMINs and the OWNER; any member creates them', async () => {
    const id = await createTag(a, 'news');
    expect(await t.gql(RENAME, { id, name: 'x' }, a.member.token)).toFailWith('FORBIDDEN');
    const del = 'mutation($id: ID!) { deleteTag(id: $id) { deletedId } }';
    expect(await t.gql(del, { id }, a.member.token)).toFailWith('FORBIDDEN');
    expect(await t.gql(RENAME, { id, name: 'by admin' }, a.admin.token)).not.toHaveProperty(
      'errors',
    );
    expect(field(await t.gql(CREATE, { name: 'mine' }, a.member.token), 'createTag')).toMatchObject(
      { name: 'mine' },
    );
  });
});

describe('tagging posts', () => {
  it('tags and untags a post; twice is a no-op; Post.tags and postCount follow', async () => {
    const news = await createTag(a, 'news');
    const release = await createTag(a, 'release');
    for (const tagId of [release, news, news]) {
      expect(await t.gql(TAG_POST, { postId: a.postId, tagId }, a.owner.token)).not.toHaveProperty(
        'errors',
      );
    }
    const post = await t.gql(
      'query($id: ID!) { post(id: $id) { tags { totalCount edges { node { id name postCount } } } } }',
      { id: a.postId },
      a.owner.token,
    );
    expect(field<{ tags: unknown }>(post, 'post').tags).toEqual({
      totalCount: 2,
      edges: [
        { node: { id: news, name: 'news', postCount: 1 } },
        { node: { id: release, name: 'release', postCount: 1 } },
      ],
    });
    const untagged = await t.gql(UNTAG_POST, { postId: a.postId, tagId: news }, a.owner.token);
    expect(field(untagged, 'untagPost')).toEqual({
      id: a.postId,
      tags: { edges: [{ node: { name: 'release' } }] },
    });
    expect(
      field(await t.gql(UNTAG_POST, { postId: a.postId, tagId: news }, a.owner.token), 'untagPost'),
    ).toMatchObject({ id: a.postId });
  });

  it('only the post author or an ADMIN/OWNER tags a post', async () => {
    const news = await createTag(a, 'news');
    // The owner wrote a.postId; the member did not.
    expect(await t.gql(TAG_POST, { postId: a.postId, tagId: news }, a.member.token)).toFailWith(
      'FORBIDDEN',
    );
    expect(
      await t.gql(TAG_POST, { postId: a.postId, tagId: news }, a.admin.token),
    ).not.toHaveProperty('errors');
  });

  it('deleting a tag or a post takes the tagging with it', async () => {
    const news = await createTag(a, 'news');
    const postId = await createPost(a, 'Doomed');
    await t.gql(TAG_POST, { postId, tagId: news }, a.owner.token);
    await t.gql(TAG_POST, { postId: a.postId, tagId: news }, a.owner.token);
    expect(await system.postTag.count({ where: { organizationId: orgIds.a } })).toBe(2);
    await t.gql(
      'mutation($id: ID!) { deletePost(id: $id) { deletedId } }',
      { id: postId },
      a.owner.token,
    );
    expect(await system.postTag.count({ where: { organizationId: orgIds.a } })).toBe(1);
    await t.gql(
      'mutation($id: ID!) { deleteTag(id: $id) { deletedId } }',
      { id: news },
      a.owner.token,
    );
    expect(await system.postTag.count({ where: { organizationId: orgIds.a } })).toBe(0);
  });
});

type TaggedPage = {
  totalCount: number;
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  edges: { node: { title: string } }[];
};

describe('posts(tag:)', () => {
  it('lists only the posts carrying the tag, newest first, in keyset pages', async () => {
    const news = await createTag(a, 'news');
    const titles = ['T1', 'T2', 'T3', 'T4', 'T5'];
    for (const [i, title] of titles.entries()) {
      const postId = await createPost(a, title);
      // Every other post: the filter, not the order, picks them.
      if (i % 2 === 0) await t.gql(TAG_POST, { postId, tagId: news }, a.owner.token);
    }
    const seen: string[] = [];
    let after: string | null = null;
    for (let pages = 0; pages < 5; pages++) {
      const response = await t.gql(POSTS_TAGGED, { tag: news, first: 2, after }, a.owner.token);
      const page: TaggedPage = field<TaggedPage>(response, 'posts');
      expect(page.totalCount).toBe(3);
      seen.push(...page.edges.map((e) => e.node.title));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(seen).toEqual(['T5', 'T3', 'T1']);
    // Without a tag: every post, the filter is off.
    const all = field<{ totalCount: number }>(
      await t.gql(POSTS_TAGGED, { first: 1 }, a.owner.token),
      'posts',
    );
    expect(all.totalCount).toBeGreaterThanOrEqual(6);
  });

  it('a tag on no post is an empty list', async () => {
    const empty = await createTag(a, 'empty');
    expect(field(await t.gql(POSTS_TAGGED, { tag: empty }, a.owner.token), 'posts')).toEqual({
      totalCount: 0,
      pageInfo: { hasNextPage: false, endCursor: null },
      edges: [],
    });
  });
});

describe("another organization's tags and posts", () => {
  let ownTag: string;
  let foreignTag: string;
  let foreignPost: string;
  const missingTag = () => encodeGlobalId('Tag', randomUUID());
  const missingPost = () => encodeGlobalId('Post', randomUUID());

  beforeEach(async () => {
    ownTag = await createTag(a, 'news');
    foreignTag = await createTag(b, 'news');
    foreignPost = b.postId;
  });

  it("tagging a post with another organization's tag is NOT_FOUND, like a missing tag", async () => {
    const foreign = await t.gql(TAG_POST, { postId: a.postId, tagId: foreignTag }, a.owner.token);
    const missing = await t.gql(TAG_POST, { postId: a.postId, tagId: missingTag() }, a.owner.token);
    expect(foreign).toFailWith('NOT_FOUND');
    expect(answer(foreign)).toEqual(answer(missing));
    // Positive control: the same post with the caller's own tag.
    expect(
      await t.gql(TAG_POST, { postId: a.postId, tagId: ownTag }, a.owner.token),
    ).not.toHaveProperty('errors');
    expect(await system.postTag.count({ where: { tagId: raw(foreignTag) } })).toBe(0);
  });

  it("tagging or untagging another organization's post is NOT_FOUND, like a missing post", async () => {
    for (const doc of [TAG_POST, UNTAG_POST]) {
      const foreign = await t.gql(doc, { postId: foreignPost, tagId: ownTag }, a.owner.token);
      const missing = await t.gql(doc, { postId: missingPost(), tagId: ownTag }, a.owner.token);
      expect(foreign).toFailWith('NOT_FOUND');
      expect(answer(foreign)).toEqual(answer(missing));
      // The other organization's owner, with its own tag, may (positive control).
      expect(
        await t.gql(doc, { postId: foreignPost, tagId: foreignTag }, b.owner.token),
      ).not.toHaveProperty('errors');
    }
  });

  it("renaming, deleting, loading or filtering by another organization's tag is NOT_FOUND", async () => {
    const calls = [
      [RENAME, (id: string) => ({ id, name: 'taken over' })],
      [POSTS_TAGGED, (tag: string) => ({ tag })],
      // Last: its positive control deletes the caller's tag.
      ['mutation($id: ID!) { deleteTag(id: $id) { deletedId } }', (id: string) => ({ id })],
    ] as const;
    for (const [doc, vars] of calls) {
      const foreign = await t.gql(doc, vars(foreignTag), a.owner.token);
      expect(foreign).toFailWith('NOT_FOUND');
      expect(answer(foreign)).toEqual(answer(await t.gql(doc, vars(missingTag()), a.owner.token)));
      expect(await t.gql(doc, vars(ownTag), a.owner.token)).not.toHaveProperty('errors');
    }
    const node = 'query($id: ID!) { node(id: $id) { id } }';
    expect((await t.gql(node, { id: foreignTag }, a.owner.token)).data).toEqual({ node: null });
    expect(await tagNames(b)).toEqual(['news']);
  });

  it('the database refuses a tagging across organizations, even from the system client', async () => {
    const row = (tagId: string) => ({
      organizationId: orgIds.a,
      postId: raw(a.postId),
      tagId: raw(tagId),
    });
    // Foreign keys bypass row-level security: only the composite key stops this one.
    await expect(system.postTag.create({ data: row(foreignTag) })).rejects.toMatchObject({
      code: 'P2003',
    });
    await expect(
      system.postTag.create({
        data: { organizationId: orgIds.b, postId: raw(a.postId), tagId: raw(foreignTag) },
      }),
    ).rejects.toMatchObject({ code: 'P2003' });
    await expect(system.postTag.create({ data: row(ownTag) })).resolves.toMatchObject({
      organizationId: orgIds.a,
    });
  });
});
