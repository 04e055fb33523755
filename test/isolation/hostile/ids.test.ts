import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodeGlobalId } from '../../../src/schema/ids.ts';
import { TEMPLATES } from '../../support/schema-walk.ts';
import {
  a,
  b,
  type Expected,
  gql,
  ids,
  inPool,
  judge,
  ownerA,
  stillServing,
  useHostileServer,
} from './harness.ts';

/** Hostile ids (harness: ./harness.ts): malformed, of the wrong type, of another tenant. */
useHostileServer('ids');

/** A template's other ids, well-formed and missing: only the probed id's form is at stake. */
const wellFormed = (own: Readonly<Record<string, string>> = {}) =>
  Object.fromEntries(
    Object.entries(own).map(([name, model]) => [name, encodeGlobalId(model, randomUUID())]),
  );

describe('ids: malformed, of the wrong type, of another tenant', () => {
  it('every id argument refuses malformed ids with BAD_USER_INPUT', async () => {
    const malformed = [
      '',
      'nope',
      '1',
      "' OR 1=1 --",
      'a\u0000b',
      '\uD800',
      'x'.repeat(100_000),
      encodeGlobalId('Post', 'not-a-uuid'),
      encodeGlobalId('Post', "00000000-0000-4000-8000-000000000000' OR '1'='1"),
      Buffer.from(`Post:${a.post.id}\u0000`).toString('base64url'),
      Buffer.from(`Post:${a.post.id}`).toString('base64').replace(/=*$/, '+'),
      encodeGlobalId('post', a.post.id),
      encodeGlobalId('Organization', a.org.id),
    ];
    // Every ID argument of the schema with a call template, except node/nodes (null, below).
    const targets = Object.entries(TEMPLATES).flatMap(([path, template]) =>
      'doc' in template && !path.startsWith('Query.node')
        ? [[path, template.doc, (id: string) => ({ id, ...wellFormed(template.own) })] as const]
        : [],
    );
    const tasks = targets.flatMap(([name, query, vars]) =>
      malformed.map((id) => async () => {
        // Organization ids are valid global ids, but of the wrong type for every argument here.
        judge(await gql(`${name} ← ${JSON.stringify(id.slice(0, 30))}`, query, vars(id), ownerA), {
          code: 'BAD_USER_INPUT',
        });
      }),
    );
    const nodes = malformed.filter((id) => id !== encodeGlobalId('Organization', a.org.id));
    for (const id of nodes) {
      tasks.push(async () => {
        const outcome = await gql(
          `node ← ${JSON.stringify(id.slice(0, 30))}`,
          'query($id: ID!) { node(id: $id) { id } }',
          { id },
          ownerA,
        );
        judge(outcome, { codes: ['BAD_USER_INPUT'], orData: true });
        if (!outcome.body?.errors) expect.soft(outcome.body?.data?.node, outcome.label).toBeNull();
      });
    }
    tasks.push(async () => {
      judge(
        await gql(
          'nodes ← 1,000 malformed',
          'query($ids: [ID!]!) { nodes(ids: $ids) { id } }',
          { ids: Array(1000).fill('nope') },
          ownerA,
        ),
        {
          codes: ['BAD_USER_INPUT', 'QUERY_TOO_COMPLEX'],
        },
      );
    });
    await inPool(tasks, 4);
  });

  it("wrong-type and another tenant's ids: BAD_USER_INPUT, NOT_FOUND or null, never B's data", async () => {
    const missing = '00000000-0000-4000-8000-000000000000';
    const cases: [string, string, Record<string, unknown>, Expected][] = [
      [
        'post ← comment id',
        'query($id: ID!) { post(id: $id) { id } }',
        { id: ids.comment(a.comment) },
        { code: 'BAD_USER_INPUT' },
      ],
      [
        'post ← user id',
        'query($id: ID!) { post(id: $id) { id } }',
        { id: ids.user(a.owner) },
        { code: 'BAD_USER_INPUT' },
      ],
      [
        "post ← B's post",
        'query($id: ID!) { post(id: $id) { id title } }',
        { id: ids.post(b.post) },
        { code: 'NOT_FOUND' },
      ],
      [
        'post ← missing',
        'query($id: ID!) { post(id: $id) { id } }',
        { id: encodeGlobalId('Post', missing) },
        { code: 'NOT_FOUND' },
      ],
      [
        'post ← upper-case uuid',
        'query($id: ID!) { post(id: $id) { id } }',
        { id: encodeGlobalId('Post', a.post.id.toUpperCase()) },
        { status: 200 },
      ],
      [
        "updatePost ← B's post",
        'mutation($id: ID!) { updatePost(input: { id: $id, title: "pwned" }) { id } }',
        { id: ids.post(b.post) },
        { code: 'NOT_FOUND' },
      ],
      [
        "deletePost ← B's post",
        'mutation($id: ID!) { deletePost(id: $id) { deletedId } }',
        { id: ids.post(b.post) },
        { code: 'NOT_FOUND' },
      ],
      [
        "createComment ← B's post",
        'mutation($id: ID!) { createComment(input: { postId: $id, body: "x" }) { id } }',
        { id: ids.post(b.post) },
        { code: 'NOT_FOUND' },
      ],
      [
        "updateComment ← B's comment",
        'mutation($id: ID!) { updateComment(input: { id: $id, body: "pwned" }) { id } }',
        { id: ids.comment(b.comment) },
        { code: 'NOT_FOUND' },
      ],
      [
        "deleteComment ← B's comment",
        'mutation($id: ID!) { deleteComment(id: $id) { deletedId } }',
        { id: ids.comment(b.comment) },
        { code: 'NOT_FOUND' },
      ],
      [
        "changeMemberRole ← B's member",
        'mutation($id: ID!) { changeMemberRole(input: { userId: $id, role: ADMIN }) { id } }',
        { id: ids.user(b.member) },
        { code: 'NOT_FOUND' },
      ],
      [
        "node ← B's post",
        'query($id: ID!) { node(id: $id) { id } }',
        { id: ids.post(b.post) },
        { status: 200 },
      ],
      [
        "node ← B's organization",
        'query($id: ID!) { node(id: $id) { id } }',
        { id: encodeGlobalId('Organization', b.org.id) },
        { status: 200 },
      ],
      [
        "nodes ← B's rows",
        'query($ids: [ID!]!) { nodes(ids: $ids) { id } }',
        { ids: [ids.post(b.post), ids.comment(b.comment), ids.user(b.owner)] },
        { status: 200 },
      ],
      [
        'nodes ← wrong-type mix',
        'query($ids: [ID!]!) { nodes(ids: $ids) { id } }',
        { ids: [ids.post(a.post), encodeGlobalId('Nope', missing)] },
        { code: 'BAD_USER_INPUT' },
      ],
      [
        'node ← a type that does not exist',
        'query($id: ID!) { node(id: $id) { id } }',
        { id: encodeGlobalId('Nope', missing) },
        { code: 'BAD_USER_INPUT' },
      ],
      [
        'node ← a type that is no node',
        'query($id: ID!) { node(id: $id) { id } }',
        { id: encodeGlobalId('PageInfo', missing) },
        { codes: ['BAD_USER_INPUT'], orData: true },
      ],
    ];
    for (const [label, query, variables, expected] of cases) {
      const outcome = await gql(label, query, variables, ownerA);
      judge(outcome, expected);
      for (const foreign of [b.post.id, b.comment.id, b.member.id, b.owner.id, b.org.id]) {
        expect.soft(outcome.text, label).not.toContain(foreign);
      }
    }
    const foreignNodes = await gql(
      'nodes ← B',
      'query($ids: [ID!]!) { nodes(ids: $ids) { id } }',
      { ids: [ids.post(b.post), ids.user(b.owner)] },
      ownerA,
    );
    expect.soft(foreignNodes.body?.data?.nodes).toEqual([null, null]);
  });
});

stillServing();
