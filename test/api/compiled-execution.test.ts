import {
  type GraphQLField,
  type GraphQLObjectType,
  getNamedType,
  isAbstractType,
  isLeafType,
  isNonNullType,
  isObjectType,
} from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schema } from '../../src/schema/index.ts';
import { createTestApi, field, type Org, signUpOrg, type TestApi } from '../support/api.ts';

/**
 * The compiled path (src/execution/) answers exactly what ordinary execution answers. Two APIs
 * over one database, one with the compiled path and one without, get the same requests: a
 * document per root field of the schema, its selection every field reachable to a depth (so a
 * new type or field is covered without a word here), sent as each kind of caller.
 */
let compiled: TestApi;
let ordinary: TestApi;
let a: Org;
let b: Org;
/** Rows no list of the schema shows (a member's exports), by type name, as the seed made them. */
const seeded = new Map<string, Set<string>>();

beforeAll(async () => {
  compiled = await createTestApi({ jobs: true });
  ordinary = await createTestApi({
    database: compiled.database,
    api: { compiledExecution: false },
  });
  a = await signUpOrg(compiled, 'acme');
  b = await signUpOrg(compiled, 'globex');
  for (const org of [a, b]) {
    const tag = await compiled.gql(
      'mutation { createTag(input: { name: "news" }) { id } }',
      {},
      org.owner.token,
    );
    const tagId = field<{ id: string }>(tag, 'createTag').id;
    for (let i = 0; i < 3; i++) {
      const post = await compiled.gql(
        `mutation { createPost(input: { title: "P${i}" }) { id } }`,
        {},
        org.member.token,
      );
      const postId = field<{ id: string }>(post, 'createPost').id;
      await compiled.gql(
        'mutation($input: PostTagInput!) { tagPost(input: $input) { id } }',
        { input: { postId, tagId } },
        org.owner.token,
      );
      await compiled.gql(
        'mutation($id: ID!) { createComment(input: { postId: $id, body: "c" }) { id } }',
        { id: postId },
        org.admin.token,
      );
    }
    const requested = await compiled.gql(
      'mutation { requestDataExport { __typename id } }',
      {},
      org.owner.token,
    );
    if (org === a) idsIn(requested.data, seeded);
  }
}, 120_000);

afterAll(async () => {
  await ordinary?.close();
  await compiled?.close();
});

const SIZE = 2;
const DEPTH = 6;

/** Every field of `type` reachable within `depth`, lists asked for SIZE items. */
function selectionOf(type: GraphQLObjectType, depth: number): string {
  const parts = ['__typename'];
  for (const f of Object.values(type.getFields())) {
    const call = callOf(f);
    if (call === null) continue;
    const named = getNamedType(f.type);
    if (isLeafType(named)) parts.push(`${f.name}${call}`);
    else if (isObjectType(named) && depth > 0) {
      parts.push(`${f.name}${call} { ${selectionOf(named, depth - 1)} }`);
    } else if (isAbstractType(named) && depth > 0) parts.push(`${f.name}${call} { __typename }`);
  }
  return parts.join(' ');
}

/** The arguments a generated selection passes: sizes; null if the field needs more. */
function callOf(f: GraphQLField<unknown, unknown>): string | null {
  if (f.args.some((arg) => isNonNullType(arg.type) && arg.defaultValue === undefined)) return null;
  return f.args.some((arg) => arg.name === 'first') ? `(first: ${SIZE})` : '';
}

const query = schema.getQueryType() as GraphQLObjectType;
const rootFields = Object.values(query.getFields());

/** One document per root field; a field with required ID arguments asks by `$id`. */
function documentOf(f: GraphQLField<unknown, unknown>): string {
  const named = getNamedType(f.type);
  const body = isObjectType(named) ? ` { ${selectionOf(named, DEPTH)} }` : ' { __typename }';
  const required = f.args.filter((arg) => isNonNullType(arg.type));
  if (required.length === 0) return `query { ${f.name}${callOf(f)}${body} }`;
  const variables = required.map((arg) => `$${arg.name}: ${String(arg.type)}`).join(', ');
  const args = required.map((arg) => `${arg.name}: $${arg.name}`).join(', ');
  return `query(${variables}) { ${f.name}(${args})${body} }`;
}

/** Global ids of every row the answers showed, by type name. */
function idsIn(value: unknown, found: Map<string, Set<string>>): void {
  if (Array.isArray(value)) for (const item of value) idsIn(item, found);
  else if (value && typeof value === 'object') {
    const row = value as Record<string, unknown>;
    if (typeof row.__typename === 'string' && typeof row.id === 'string') {
      if (!found.has(row.__typename)) found.set(row.__typename, new Set());
      found.get(row.__typename)?.add(row.id);
    }
    for (const nested of Object.values(row)) idsIn(nested, found);
  }
}

async function both(doc: string, variables: Record<string, unknown>, token?: string) {
  const before = compiled.api.executions.compiled;
  const one = await compiled.gql(doc, variables, token);
  const ran = compiled.api.executions.compiled > before;
  const other = await ordinary.gql(doc, variables, token);
  const shape = (r: typeof one) => ({ status: r.status, data: r.data, errors: r.errors });
  expect(shape(one), doc).toEqual(shape(other));
  return { response: one, compiled: ran };
}

describe('the compiled path answers what ordinary execution answers', () => {
  const callers = () => ({
    owner: a.owner.token,
    admin: a.admin.token,
    member: a.member.token,
    anonymous: undefined,
  });

  it('for every root field of the schema, as every kind of caller, and the same ids across tenants', async () => {
    const found = new Map(seeded);
    const ranCompiled = new Set<string>();
    const withoutArguments = rootFields.filter(
      (f) => !f.args.some((arg) => isNonNullType(arg.type)),
    );
    for (const f of withoutArguments) {
      for (const token of Object.values(callers())) {
        const { response, compiled: ran } = await both(documentOf(f), {}, token);
        if (token === a.owner.token) idsIn(response.data, found);
        if (ran) ranCompiled.add(f.name);
      }
    }
    const withIds = rootFields.filter((f) => !withoutArguments.includes(f));
    for (const f of withIds) {
      const named = getNamedType(f.type);
      // An id of the type it returns; for an interface (node, nodes), one of every type.
      const ids = isAbstractType(named)
        ? [...found.values()].flatMap((set) => [...set].slice(0, 1))
        : [...(found.get(named.name) ?? [])];
      expect(ids.length, `no ${named.name} to ask ${f.name} for`).toBeGreaterThan(0);
      const arg = f.args.find((x) => isNonNullType(x.type)) as { name: string; type: unknown };
      const list = String(arg.type).startsWith('[');
      for (const id of ids) {
        for (const token of [...Object.values(callers()), b.owner.token]) {
          const variables = { [arg.name]: list ? [id] : id };
          const { compiled: ran } = await both(documentOf(f), variables, token);
          if (ran) ranCompiled.add(f.name);
        }
      }
    }
    // Every root field whose answer holds no interface or union took the compiled path.
    const plannable = rootFields
      .filter((f) => !documentOf(f).includes('{ __typename }'))
      .map((f) => f.name);
    expect(plannable.length).toBeGreaterThan(5);
    expect([...ranCompiled].sort()).toEqual(expect.arrayContaining(plannable));
    expect(compiled.api.executions.ordinary['not-loaded']).toBe(0);
  }, 120_000);

  it('for errors below the root: located at their path, made null up to a nullable field', async () => {
    const docs = [
      // A nested connection's argument refused on every post: null up to the non-null root.
      'query { posts(first: 2) { edges { node { title comments(first: -1) { totalCount } } } } }',
      'query { posts(first: 2) { edges { node { comments(after: "nope") { totalCount } } } } }',
      'query { post(id: "not-an-id") { title } }',
      `query { posts(first: 2, after: "${Buffer.from('GPC:J:{"not":1}').toString('base64')}") { totalCount } }`,
      'query($n: Int!) { posts(first: $n) { totalCount } }',
    ];
    for (const doc of docs) {
      const { response } = await both(doc, { n: 'three' }, a.owner.token);
      expect(response.errors?.length ?? 0, doc).toBeGreaterThan(0);
    }
  });

  it('for the same document sent many times: planned and measured once, every time compiled', async () => {
    const doc =
      'query Feed($n: Int!) { posts(first: $n) { edges { node { title author { name } } } } }';
    const before = { ...compiled.api.executions };
    for (let i = 0; i < 5; i++) await both(doc, { n: 3 }, a.member.token);
    await both(doc, { n: 4 }, a.member.token);
    expect(compiled.api.executions.compiled - before.compiled).toBe(6);
    // Complexity: once for { n: 3 }, once for { n: 4 }.
    expect(compiled.api.executions.complexityMeasured - before.complexityMeasured).toBe(2);
  });

  it('for a document over the complexity limit: refused every time, measured or not', async () => {
    const doc = `query($n: Int!) { posts(first: $n) { edges { node {
      comments(first: 100) { edges { node { author { posts(first: 100) { totalCount } } } } } } } } }`;
    for (let i = 0; i < 2; i++) {
      const { response } = await both(doc, { n: 100 }, a.member.token);
      expect(response.errors?.[0]?.extensions?.code).toBe('QUERY_TOO_COMPLEX');
    }
    // Positive control: the same document, small enough, answers.
    const { response } = await both(doc, { n: 1 }, a.member.token);
    expect(response.errors).toBeUndefined();
  });
});
