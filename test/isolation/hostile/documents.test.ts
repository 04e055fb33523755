import { describe, expect, it } from 'vitest';
import { REQUEST_LIMITS } from '../../../src/http/limits.ts';
import type { GraphQLResponse } from '../../support/api.ts';
import {
  a,
  b,
  type Expected,
  gql,
  ids,
  judge,
  ownerA,
  ownerB,
  post,
  stillServing,
  useHostileServer,
} from './harness.ts';

/**
 * Hostile GraphQL documents (harness: ./harness.ts): syntax, validation, variables, connection
 * arguments, size, depth, fragments and batches.
 */
useHostileServer('documents');

describe('documents: syntax, validation, size, depth, fragments, batches', () => {
  it('syntax errors are GRAPHQL_PARSE_FAILED', async () => {
    const documents = [
      '{',
      '}',
      '{ viewer { name }',
      'query {',
      '"unterminated',
      '{ viewer(: 1) { name } }',
      '{ __typename \u0000 }',
      '{ __typename \uD800 }',
      '{ __typename } }',
      'query Q($: Int) { __typename }',
      '{ posts(first: 1e999999999) { totalCount } }',
      '{ a: b: c }',
      '\u202E{ __typename }',
      '#only a comment',
      '',
      ' ',
    ];
    for (const doc of documents) {
      const outcome = await gql(`syntax ${JSON.stringify(doc)}`, doc, {}, ownerA);
      // An Int literal out of range parses, and fails validation.
      judge(outcome, {
        codes: ['GRAPHQL_PARSE_FAILED', 'BAD_REQUEST', 'GRAPHQL_VALIDATION_FAILED'],
      });
    }
  });

  it('unknown fields, arguments, types, directives and operations are GRAPHQL_VALIDATION_FAILED', async () => {
    const documents = [
      '{ nope }',
      '{ viewer { password passwordHash } }',
      '{ viewer(id: 1) { name } }',
      '{ posts(where: { organizationId: "x" }) { totalCount } }',
      'query($x: Nope) { __typename }',
      '{ __typename @nope }',
      '{ __typename @include(if: true) @include(if: true) }',
      'subscription { posts { totalCount } }',
      'query A { __typename } query A { __typename }',
      '{ viewer }',
      '{ viewer { name { length } } }',
      'mutation { deletePost }',
      '{ post(id: 1, id: 2) { id } }',
      'query($id: ID!) { post(id: $id) { id } }',
      'fragment F on Nope { id } { ...F }',
      '{ ...Missing }',
      'query { __type(name: "User") { fields { name } } } fragment Unused on User { id }',
    ];
    for (const doc of documents) {
      const outcome = await gql(`validation ${doc.slice(0, 40)}`, doc, {}, ownerA);
      judge(outcome, {
        codes: ['GRAPHQL_VALIDATION_FAILED', 'BAD_USER_INPUT', 'OPERATION_RESOLUTION_FAILURE'],
      });
    }
  });

  it('two operations without operationName, or an unknown one, are refused with a code', async () => {
    const two = 'query A { __typename } query B { __typename }';
    judge(await gql('two operations, no name', two, {}, ownerA), {
      codes: ['OPERATION_RESOLUTION_FAILURE'],
    });
    judge(
      await post('unknown operationName', JSON.stringify({ query: two, operationName: 'C' }), {
        authorization: `Bearer ${ownerA}`,
      }),
      { codes: ['OPERATION_RESOLUTION_FAILURE'] },
    );
  });

  it('variables of the wrong type are BAD_USER_INPUT', async () => {
    const first = 'query($n: Int) { posts(first: $n) { totalCount } }';
    const id = 'query($id: ID!) { post(id: $id) { id } }';
    const role =
      'mutation($r: Role!, $u: ID!) { changeMemberRole(input: { userId: $u, role: $r }) { id } }';
    const input = 'mutation($i: CreatePostInput!) { createPost(input: $i) { id } }';
    const variables: [string, string, unknown][] = [
      ['Int ← string', first, { n: 'x' }],
      ['Int ← float', first, { n: 1.5 }],
      ['Int ← 2^31', first, { n: 2 ** 31 }],
      ['Int ← 1e308', first, { n: 1e308 }],
      ['Int ← boolean', first, { n: true }],
      ['Int ← object', first, { n: { $gt: 0 } }],
      ['Int ← array', first, { n: [1] }],
      ['ID! ← null', id, { id: null }],
      ['ID! ← missing', id, {}],
      ['ID! ← object', id, { id: { id: 1 } }],
      ['ID! ← float', id, { id: 1.5 }],
      ['Role ← unknown', role, { r: 'SUPERUSER', u: ids.user(a.member) }],
      ['Role ← lower case', role, { r: 'owner', u: ids.user(a.member) }],
      ['input ← extra field', input, { i: { title: 'x', organizationId: b.org.id } }],
      ['input ← missing field', input, { i: { content: 'x' } }],
      ['input ← string', input, { i: 'title' }],
      ['input ← null', input, { i: null }],
      ['input title ← number', input, { i: { title: 5 } }],
      ['input title ← array', input, { i: { title: ['a', 'b'] } }],
    ];
    for (const [label, query, vars] of variables) {
      judge(await gql(`variable ${label}`, query, vars, ownerA), { code: 'BAD_USER_INPUT' });
    }
  });

  it('connection arguments out of range are BAD_USER_INPUT (or capped)', async () => {
    const args: [string, Expected][] = [
      ['first: -1', { code: 'BAD_USER_INPUT' }],
      ['last: -1', { code: 'BAD_USER_INPUT' }],
      ['first: 2147483647', { status: 200 }],
      ['first: 2147483648', { code: 'GRAPHQL_VALIDATION_FAILED' }],
      ['first: 1, last: 1', { codes: ['BAD_USER_INPUT'], orData: true }],
      ['after: "nope"', { code: 'BAD_USER_INPUT' }],
      ['after: ""', { codes: ['BAD_USER_INPUT'], orData: true }],
      [`after: "${'A'.repeat(10_000)}"`, { code: 'BAD_USER_INPUT' }],
      ['before: "R1BDOnN0cmluZw"', { code: 'BAD_USER_INPUT' }],
      [`after: "${Buffer.from('GPC:J:["x"]').toString('base64')}"`, { code: 'BAD_USER_INPUT' }],
      [
        `after: "${Buffer.from('GPC:J:{"organizationId":"\' OR 1=1","id":"x"}').toString('base64')}"`,
        { code: 'BAD_USER_INPUT' },
      ],
    ];
    for (const [arg, expected] of args) {
      judge(
        await gql(`posts(${arg.slice(0, 40)})`, `{ posts(${arg}) { totalCount } }`, {}, ownerA),
        expected,
      );
    }
    const pages: [string, Expected][] = [
      ['page: 0', { code: 'BAD_USER_INPUT' }],
      ['page: -5', { code: 'BAD_USER_INPUT' }],
      ['page: 1000000', { code: 'BAD_USER_INPUT' }],
      ['pageSize: 0', { code: 'BAD_USER_INPUT' }],
      ['pageSize: 1000000', { code: 'BAD_USER_INPUT' }],
      ['page: null', { codes: ['BAD_USER_INPUT'], orData: true }],
    ];
    for (const [arg, expected] of pages) {
      judge(
        await gql(`postsPage(${arg})`, `{ postsPage(${arg}) { totalCount } }`, {}, ownerA),
        expected,
      );
    }
  });

  it("another tenant's cursor finds nothing of the other tenant", async () => {
    const page = await gql(
      'B cursor',
      '{ posts(first: 1) { pageInfo { endCursor } } }',
      {},
      ownerB,
    );
    const posts = page.body?.data?.posts as { pageInfo: { endCursor: string } } | undefined;
    const cursor = posts?.pageInfo.endCursor;
    expect(cursor).toBeTruthy();
    for (const arg of ['after', 'before']) {
      const outcome = await gql(
        `A with B's cursor (${arg})`,
        `query($c: String) { posts(${arg}: $c, ${arg === 'after' ? 'first' : 'last'}: 5) { edges { node { id } } } }`,
        { c: cursor },
        ownerA,
      );
      judge(outcome, { codes: ['BAD_USER_INPUT', 'NOT_FOUND'], orData: true });
      expect.soft(outcome.text).not.toContain(ids.post(b.post));
    }
  });

  it('oversized, deep and wide documents are refused before they cost anything', async () => {
    const { documentTokens } = REQUEST_LIMITS;
    const nest = (levels: number) => `{ ${'a { '.repeat(levels)}b${' }'.repeat(levels)} }`;
    const refusedForSize: [string, string][] = [
      ['20,000 levels deep', nest(20_000)],
      ['1,000 levels deep', nest(1_000)],
      ['50,000 fields wide', `{ ${'__typename '.repeat(50_000)}}`],
      [
        '1,000 aliases',
        `{ ${Array.from({ length: 1000 }, (_, i) => `a${i}: __typename`).join(' ')} }`,
      ],
      ['5,000 directives', `{ __typename ${'@include(if: true) '.repeat(5_000)}}`],
      [
        '5,000 variables',
        `query(${Array.from({ length: 5000 }, (_, i) => `$v${i}: Int`).join(' ')}) { __typename }`,
      ],
      [
        '5,000 fragments',
        Array.from({ length: 5000 }, (_, i) => `fragment F${i} on Query { __typename }`).join(' '),
      ],
      ['over the token limit', `{ ${'__typename '.repeat(documentTokens)}}`],
    ];
    for (const [label, doc] of refusedForSize) {
      const outcome = await gql(label, doc, {}, ownerA);
      judge(outcome, { code: 'GRAPHQL_PARSE_FAILED' });
      expect
        .soft(outcome.body?.errors?.[0]?.message, label)
        .toMatch(/Document contains more \w+ \d+ tokens/);
    }
    // Deep and wide within the token limit: refused by the depth/breadth/complexity limits.
    const members = 'organization { members(first: 100) { edges { node { ';
    const deepValid = `{ viewer { ${members.repeat(60)}id${' } } } }'.repeat(60)} } }`;
    judge(await gql('deep but valid (60 levels)', deepValid, {}, ownerA), {
      code: 'QUERY_TOO_COMPLEX',
    });
    // 30 aliases (the most allowed) of a three-level tree of connections.
    const tree =
      'posts(first: 100) { edges { node { comments(first: 100) { edges { node { author { posts(first: 100) { edges { node { id } } } } } } } } } }';
    const heavy = `{ ${Array.from({ length: 30 }, (_, i) => `p${i}: ${tree}`).join(' ')} }`;
    judge(await gql('complexity', heavy, {}, ownerA), { code: 'QUERY_TOO_COMPLEX' });
    const aliases = `{ ${Array.from({ length: 31 }, (_, i) => `v${i}: viewer { id }`).join(' ')} }`;
    const aliased = await gql('31 aliases', aliases, {}, ownerA);
    judge(aliased, { code: 'QUERY_TOO_COMPLEX' });
    expect.soft(aliased.body?.errors?.[0]?.message).toBe('Aliases limit of 30 exceeded, found 31.');
    expect.soft(aliased.body?.data ?? null).toBeNull();
  });

  it('fragment cycles and fragment bombs', async () => {
    const documents: [string, string][] = [
      ['self cycle', '{ viewer { ...A } } fragment A on User { ...A }'],
      ['two-cycle', '{ viewer { ...A } } fragment A on User { ...B } fragment B on User { ...A }'],
      [
        'cycle through a field',
        '{ viewer { ...A } } fragment A on User { organization { members { edges { node { ...A } } } } }',
      ],
      ['unused cycle', '{ __typename } fragment A on User { ...B } fragment B on User { ...A }'],
      [
        'fragment bomb (2^40 fields)',
        `{ viewer { ...F40 } } fragment F0 on User { id } ${Array.from({ length: 40 }, (_, i) => `fragment F${i + 1} on User { ...F${i} ...F${i} }`).join(' ')}`,
      ],
      [
        'aliased fragment bomb',
        `{ viewer { ...F30 } } fragment F0 on User { a: id b: id } ${Array.from(
          { length: 30 },
          (_, i) =>
            `fragment F${i + 1} on User { x${i}: organization { ...F${i} } y${i}: organization { ...F${i} } }`,
        )
          .join(' ')
          .replaceAll('organization { ...', 'organization { members { edges { node { ...')
          .replaceAll(/(\.\.\.F\d+) \}/g, '$1 } } } }')}`,
      ],
    ];
    for (const [label, doc] of documents) {
      const started = performance.now();
      const outcome = await gql(label, doc, {}, ownerA);
      judge(outcome, {
        codes: ['GRAPHQL_VALIDATION_FAILED', 'QUERY_TOO_COMPLEX', 'BAD_USER_INPUT'],
      });
      expect.soft(outcome.body?.errors?.length ?? 0, label).toBeGreaterThan(0);
      expect.soft(performance.now() - started, `${label} took too long`).toBeLessThan(2_000);
    }
  });

  it('introspection cannot be turned into a huge answer', async () => {
    const nested = (levels: number) =>
      `{ __schema { types { ${'fields { type { ofType { '.repeat(levels)}name${' } } }'.repeat(levels)} } } }`;
    const started = performance.now();
    const outcome = await gql('nested introspection', nested(8), {}, ownerA);
    judge(outcome, { code: 'GRAPHQL_VALIDATION_FAILED' });
    expect.soft(outcome.text.length, 'introspection answer size').toBeLessThan(5_000_000);
    expect.soft(performance.now() - started, 'introspection time').toBeLessThan(3_000);
  });

  it('batches: over 10 operations or malformed are refused; each operation judged alone', async () => {
    const auth = { authorization: `Bearer ${ownerA}` };
    const many = (n: number) =>
      JSON.stringify(Array.from({ length: n }, () => ({ query: '{ viewer { id } }' })));
    judge(await post('batch of 1,000', many(1000), auth), { status: 413, code: 'BAD_REQUEST' });
    judge(await post('batch of 11', many(11), auth), { status: 413, code: 'BAD_REQUEST' });
    judge(await post('batch of numbers', '[1, 2, 3]', auth), { code: 'BAD_REQUEST' });
    judge(
      await post(
        'batch of 10 × 1,000 aliases',
        JSON.stringify(
          Array.from({ length: 10 }, () => ({ query: `{ ${'__typename '.repeat(5000)}}` })),
        ),
        auth,
      ),
      {},
    );
    const mixed = await post(
      'mixed batch',
      JSON.stringify([
        { query: '{ viewer { name } }' },
        { query: '{ nope }' },
        { query: '{' },
        { query: 'query($n: Int) { posts(first: $n) { totalCount } }', variables: { n: 'x' } },
      ]),
      auth,
    );
    expect.soft(mixed.status).toBeLessThan(500);
    const results = JSON.parse(mixed.text) as GraphQLResponse[];
    expect.soft(results[0]?.data?.viewer).toEqual({ name: 'Olive Owner' });
    for (const [index, result] of results.slice(1).entries()) {
      const outcome = {
        label: `mixed batch #${index + 1}`,
        status: 200,
        text: JSON.stringify(result),
        body: result,
      };
      judge(outcome, {
        codes: ['GRAPHQL_VALIDATION_FAILED', 'GRAPHQL_PARSE_FAILED', 'BAD_USER_INPUT'],
      });
    }
  });
});

stillServing();
