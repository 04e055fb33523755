import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type GraphQLObjectType, isObjectType } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdminCredentials } from '../../src/admin/credential.ts';
import { loadConfig } from '../../src/config.ts';
import { API_CSP, GRAPHIQL_CSP } from '../../src/http/edge.ts';
import type { Api, ApiOptions } from '../../src/http/yoga.ts';
import { encodeGlobalId } from '../../src/schema/ids.ts';
import { schema } from '../../src/schema/index.ts';
import {
  createTestApi,
  field,
  type GraphQLResponse,
  type Org,
  signUpOrg,
  type TestApi,
} from '../support/api.ts';

/**
 * The edges around the GraphQL core: who the client is (TRUST_PROXY), which request id is
 * recorded, what a production API says about its schema, which browsers may call it (CORS) and
 * the headers every answer carries, on every route.
 */

let t: TestApi;
let a: Org;
const PASSWORD = 'correct-horse-9';
const ADMIN_SECRET = 'admin-secret-that-is-long-enough-for-hs256-0123456789';

beforeAll(async () => {
  t = await createTestApi();
  a = await signUpOrg(t, 'acme');
});
afterAll(() => t.close());

/** Another API over the same database, with its own edge settings. */
const apiWith = (options: Partial<ApiOptions>): Promise<TestApi> =>
  createTestApi({ database: t.database, api: options });

/** A real HTTP server: the client address comes from the socket (TRUST_PROXY). */
async function listen(api: TestApi): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer(api.api.yoga);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      await new Promise((resolve) => server.close(resolve));
      await api.close();
    },
  };
}

let added = 0;
/** Adds a member over HTTP with the given headers; returns the audit entry it wrote. */
async function auditedOver(url: string, headers: Record<string, string>) {
  added += 1;
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${a.owner.token}`,
      ...headers,
    },
    body: JSON.stringify({
      query: `mutation { createMember(input: { email: "edge${added}@example.com", name: "E", password: "${PASSWORD}" }) { id } }`,
    }),
  });
  expect(response.status).toBe(200);
  const log = await t.gql(
    '{ auditLog(first: 1) { edges { node { action ipAddress requestId } } } }',
    {},
    a.owner.token,
  );
  const [entry] = field<{ edges: { node: Record<string, string | null> }[] }>(
    log,
    'auditLog',
  ).edges;
  expect(entry?.node.action).toBe('member.added');
  return { entry: entry?.node ?? {}, response };
}

const LOOPBACK = ['127.0.0.1', '::ffff:127.0.0.1'];

describe('the client address: X-Forwarded-For only from a trusted proxy (TRUST_PROXY)', () => {
  it('without TRUST_PROXY the socket is the client, whatever X-Forwarded-For claims', async () => {
    const server = await listen(await apiWith({}));
    try {
      const { entry } = await auditedOver(server.url, { 'x-forwarded-for': '203.0.113.7' });
      expect(LOOPBACK).toContain(entry.ipAddress);
    } finally {
      await server.close();
    }
    // In-process (no socket): nothing to record, not the header's claim.
    const created = await t.gql(
      `mutation { createMember(input: { email: "inproc@example.com", name: "I", password: "${PASSWORD}" }) { id } }`,
      {},
      a.owner.token,
      { 'x-forwarded-for': '203.0.113.7' },
    );
    expect(created.errors).toBeUndefined();
    const log = await t.gql(
      '{ auditLog(first: 1) { edges { node { ipAddress } } } }',
      {},
      a.owner.token,
    );
    expect(JSON.stringify(log.data)).not.toContain('203.0.113.7');
  });

  it('a trusted proxy (loopback, or one hop) names the client; an untrusted peer does not', async () => {
    for (const [trustProxy, forwarded, expected] of [
      ['loopback', '203.0.113.7', ['203.0.113.7']],
      // The client may prepend anything; one hop believes only what the proxy appended.
      ['1', '198.51.100.1, 203.0.113.8', ['203.0.113.8']],
      ['127.0.0.1/32, ::1', '198.51.100.1, 203.0.113.9', ['203.0.113.9']],
      // The socket's peer (loopback) is not in the list: the header is ignored.
      ['10.0.0.0/8', '203.0.113.10', LOOPBACK],
    ] as const) {
      const server = await listen(await apiWith({ trustProxy }));
      try {
        const { entry } = await auditedOver(server.url, { 'x-forwarded-for': forwarded });
        expect(expected, `TRUST_PROXY=${trustProxy}`).toContain(entry.ipAddress);
      } finally {
        await server.close();
      }
    }
  });

  it('a TRUST_PROXY that is neither a hop count nor addresses refuses to start', () => {
    expect(() => loadConfig({ TRUST_PROXY: 'everyone' })).toThrow(/TRUST_PROXY/);
    expect(loadConfig({ TRUST_PROXY: ' 2 ' }).trustProxy).toBe('2');
    expect(loadConfig({}).trustProxy).toBeUndefined();
  });
});

describe('X-Request-Id: kept when it looks like an id, replaced otherwise', () => {
  it('in the audit log and the response header', async () => {
    const server = await listen(await apiWith({}));
    try {
      const kept = await auditedOver(server.url, { 'x-request-id': 'req-1.A_b' });
      expect(kept.entry.requestId).toBe('req-1.A_b');
      expect(kept.response.headers.get('x-request-id')).toBe('req-1.A_b');
      for (const bad of ['x'.repeat(129), 'two words', '<script>', 'a;b', '%0d%0a', 'ü']) {
        const { entry, response } = await auditedOver(server.url, { 'x-request-id': bad });
        expect(entry.requestId, bad).toMatch(/^[0-9a-f-]{36}$/);
        expect(response.headers.get('x-request-id')).toBe(entry.requestId);
      }
    } finally {
      await server.close();
    }
  });
});

describe('production (introspection off) does not spell out the schema', () => {
  let prod: TestApi;
  beforeAll(async () => {
    prod = await apiWith({ introspection: false });
  });
  afterAll(() => prod.close());
  const ask = async (api: Api, query: string, variables = {}) =>
    (await (
      await api.yoga.fetch('http://yoga/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${a.owner.token}` },
        body: JSON.stringify({ query, variables }),
      })
    ).json()) as { errors?: { message: string; extensions?: Record<string, unknown> }[] };

  it('no field suggestions ("Did you mean …?") without introspection; with it, they stay', async () => {
    const userId = a.member.userId;
    for (const [query, variables, code] of [
      ['mutation { createMembr }', {}, 'GRAPHQL_VALIDATION_FAILED'],
      ['{ viewer { nmae } }', {}, 'GRAPHQL_VALIDATION_FAILED'],
      ['{ pots { id } }', {}, 'GRAPHQL_VALIDATION_FAILED'],
      ['{ posts(frist: 1) { totalCount } }', {}, 'GRAPHQL_VALIDATION_FAILED'],
      ['query($i: Pst) { viewer { id } }', {}, 'GRAPHQL_VALIDATION_FAILED'],
      [
        `mutation { changeMemberRole(input: { userId: "${userId}", role: ADMN }) { id } }`,
        {},
        'GRAPHQL_VALIDATION_FAILED',
      ],
      [
        'mutation($r: Role!) { changeMemberRole(input: { userId: "x", role: $r }) { id } }',
        { r: 'ADMN' },
        'BAD_USER_INPUT',
      ],
    ] as const) {
      const hidden = await ask(prod.api, query, variables);
      expect(hidden.errors?.[0]?.extensions?.code, query).toBe(code);
      expect(JSON.stringify(hidden), query).not.toMatch(
        /Did you mean|createMember|"name"|"posts"|"first"|"Post"|"ADMIN"/,
      );
    }
    const dev = await ask(t.api, 'mutation { createMembr }');
    expect(dev.errors?.[0]?.message).toMatch(/Did you mean "createMember"/);
    const devEnum = await ask(
      t.api,
      'mutation($r: Role!) { changeMemberRole(input: { userId: "x", role: $r }) { id } }',
      { r: 'ADMN' },
    );
    expect(devEnum.errors?.[0]?.message).toMatch(/Did you mean the enum value "ADMIN"/);
  });

  it('node(id:) answers ids of every type that is not a Node the same way as unknown types', async () => {
    const zero = '00000000-0000-4000-8000-000000000000';
    const answers = new Set<string>();
    // Every object type of the schema that is not a Node, from the schema itself, and a name
    // that is no type at all.
    const notNodes = Object.values(schema.getTypeMap())
      .filter((type) => isObjectType(type) && !type.name.startsWith('__'))
      .filter((type) => !(type as GraphQLObjectType).getInterfaces().some((i) => i.name === 'Node'))
      .map((type) => type.name);
    expect(notNodes).toEqual(expect.arrayContaining(['PostPage', 'Query', 'DeletedPost']));
    for (const type of [...notNodes, 'Nope']) {
      for (const api of [prod.api, t.api]) {
        const single = await ask(api, 'query($id: ID!) { node(id: $id) { id } }', {
          id: encodeGlobalId(type, zero),
        });
        answers.add(
          JSON.stringify(
            single.errors?.map(({ message, extensions }) => ({ message, extensions })),
          ),
        );
        const many = await ask(api, 'query($ids: [ID!]!) { nodes(ids: $ids) { id } }', {
          ids: [encodeGlobalId(type, zero)],
        });
        answers.add(
          JSON.stringify(many.errors?.map(({ message, extensions }) => ({ message, extensions }))),
        );
      }
    }
    expect([...answers].sort()).toEqual(
      [
        JSON.stringify([
          { message: 'Invalid id', extensions: { code: 'BAD_USER_INPUT', field: 'id' } },
        ]),
        JSON.stringify([
          { message: 'Invalid id', extensions: { code: 'BAD_USER_INPUT', field: 'ids' } },
        ]),
      ].sort(),
    );
    // Positive control: a real Node's id is served.
    const post = await ask(prod.api, 'query($id: ID!) { node(id: $id) { id } }', { id: a.postId });
    expect(post.errors).toBeUndefined();
  });

  it('a malformed JSON body is 400 BAD_REQUEST without an excerpt of the body', async () => {
    const response = await prod.fetch({
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"query": "{ viewer { id } }", secret-excerpt',
    });
    expect(response.status).toBe(400);
    const text = await response.text();
    expect(JSON.parse(text).errors[0].extensions).toEqual({ code: 'BAD_REQUEST' });
    expect(text).not.toMatch(/secret-excerpt|originalError/);
  });
});

describe('forged cursors are BAD_USER_INPUT, never a Prisma filter or a 500', () => {
  const forged = (parts: string[]) =>
    Buffer.from(`GPC:T:${JSON.stringify(parts)}`).toString('base64');
  const CONNECTIONS = [
    'posts(first: 2, after: $c) { edges { node { id } } }',
    'notifications(first: 2, after: $c) { edges { node { id } } }',
    'members(first: 2, after: $c) { edges { node { id } } }',
    'auditLog(first: 2, after: $c) { edges { node { id } } }',
    'viewer { posts(first: 2, after: $c) { edges { node { id } } } }',
    'post(id: $p) { comments(first: 2, before: $c) { edges { node { id } } } }',
  ];

  it("`O:` (JSON) parts, objects and non-UUIDs in every connection's cursor", async () => {
    const uuid = '00000000-0000-4000-8000-000000000000';
    for (const cursor of [
      forged(['O:{"not":"x"}', 'O:{"not":"y"}']),
      forged([`S:${uuid}`, 'O:{"not":null}']),
      forged([`S:${uuid}`, 'N:5']),
      forged([`S:${uuid}`, 'S:not-a-uuid']),
      Buffer.from('GPC:O:{"organizationId":{"not":""}}').toString('base64'),
    ]) {
      for (const connection of CONNECTIONS) {
        const post = connection.includes('$p');
        const res = await t.gql(
          `query($c: String${post ? ', $p: ID!' : ''}) { ${connection} }`,
          post ? { c: cursor, p: a.postId } : { c: cursor },
          a.owner.token,
        );
        expect(res, `${connection} ${cursor}`).toFailWith('BAD_USER_INPUT');
      }
    }
    // Positive control: a cursor the API gave out pages on.
    const first = await t.gql('{ posts(first: 1) { pageInfo { endCursor } } }', {}, a.owner.token);
    const { endCursor } = field<{ pageInfo: { endCursor: string } }>(first, 'posts').pageInfo;
    for (const connection of CONNECTIONS.slice(0, 1)) {
      const next = await t.gql(
        `query($c: String) { ${connection} }`,
        { c: endCursor },
        a.owner.token,
      );
      expect(next.errors).toBeUndefined();
    }
  });
});

describe('CORS and security headers on every route', () => {
  const ORIGIN = 'https://app.example';
  let api: TestApi;
  let admin: string;
  beforeAll(async () => {
    api = await apiWith({ corsOrigins: [ORIGIN], adminSecret: ADMIN_SECRET });
    admin = await createAdminCredentials(ADMIN_SECRET).issue('ops@example.com');
  });
  afterAll(() => api.close());

  const call = (path: string, init: RequestInit = {}) => api.fetch({ path, ...init });
  const post = (path: string, origin: string, authorization?: string) =>
    call(path, {
      method: 'POST',
      headers: {
        origin,
        'content-type': 'application/json',
        ...(authorization ? { authorization } : {}),
      },
      body: JSON.stringify({ query: '{ __typename }' }),
    });

  it('another origin gets no CORS headers (and never credentials); a configured one does', async () => {
    for (const path of ['/graphql', '/admin/graphql']) {
      const evil = await post(path, 'https://evil.example', `Bearer ${admin}`);
      expect(evil.headers.get('access-control-allow-origin'), path).toBeNull();
      expect(evil.headers.get('access-control-allow-credentials'), path).toBeNull();
      const preflight = await call(path, {
        method: 'OPTIONS',
        headers: {
          origin: 'https://evil.example',
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization, content-type',
        },
      });
      expect(preflight.headers.get('access-control-allow-origin'), path).toBeNull();
      expect(preflight.headers.get('access-control-allow-headers'), path).toBeNull();

      // Positive control: the configured origin, exactly, without credentials.
      const good = await post(path, ORIGIN, `Bearer ${admin}`);
      expect(good.headers.get('access-control-allow-origin'), path).toBe(ORIGIN);
      expect(good.headers.get('access-control-allow-credentials'), path).toBeNull();
      const goodPreflight = await call(path, {
        method: 'OPTIONS',
        headers: { origin: ORIGIN, 'access-control-request-method': 'POST' },
      });
      expect(goodPreflight.headers.get('access-control-allow-origin')).toBe(ORIGIN);
      expect(goodPreflight.headers.get('access-control-allow-headers')).toMatch(/authorization/);
    }
    // The default (no CORS_ORIGINS): no origin at all.
    const none = await t.api.yoga.fetch('http://yoga/graphql', {
      method: 'POST',
      headers: { origin: ORIGIN, 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    expect(none.headers.get('access-control-allow-origin')).toBeNull();
    expect(none.headers.get('access-control-allow-credentials')).toBeNull();
  });

  it('CORS_ORIGINS: origins only, each compared exactly', () => {
    expect(
      loadConfig({ CORS_ORIGINS: 'https://a.example, http://localhost:5173' }).corsOrigins,
    ).toEqual(['https://a.example', 'http://localhost:5173']);
    expect(loadConfig({}).corsOrigins).toEqual([]);
    for (const bad of ['*', 'a.example', 'https://a.example/path', 'file:///x']) {
      expect(() => loadConfig({ CORS_ORIGINS: bad }), bad).toThrow(/CORS_ORIGINS/);
    }
  });

  it('nosniff, no referrer and a CSP on answers and refusals of every route', async () => {
    const answers: [string, Response][] = [
      ['graphql', await post('/graphql', ORIGIN)],
      ['graphql refused (CSRF)', await call('/graphql?query=%7B__typename%7D')],
      ['admin', await post('/admin/graphql', ORIGIN, `Bearer ${admin}`)],
      ['admin refused (401)', await post('/admin/graphql', ORIGIN)],
      ['shape refused', await call('/v1/shape?table=posts')],
      ['health', await call('/health')],
      ['unknown path', await call('/nope')],
    ];
    for (const [label, response] of answers) {
      expect(response.headers.get('x-content-type-options'), label).toBe('nosniff');
      expect(response.headers.get('referrer-policy'), label).toBe('no-referrer');
      expect(response.headers.get('content-security-policy'), label).toBe(API_CSP);
    }
  });

  it("GraphiQL's page gets a CSP that lets its inline bundle run and loads nothing else", async () => {
    const withGraphiql = await apiWith({ graphiql: { defaultQuery: '{ __typename }' } });
    try {
      const page = await withGraphiql.fetch({
        headers: { accept: 'text/html' },
      });
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);
      expect(page.headers.get('content-security-policy')).toBe(GRAPHIQL_CSP);
      expect(GRAPHIQL_CSP).toMatch(/default-src 'none'/);
      expect(GRAPHIQL_CSP).toMatch(/connect-src 'self'/);
      expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    } finally {
      await withGraphiql.close();
    }
  });

  it('CSRF: a GET query without the header or a bearer token is CSRF_PREVENTED (403)', async () => {
    const refused = await call('/graphql?query=%7B__typename%7D');
    expect(refused.status).toBe(403);
    expect((await refused.json()) as GraphQLResponse).toFailWith('CSRF_PREVENTED');
    // Positive control: the same GET with the header is served.
    const served = await call('/graphql?query=%7B__typename%7D', {
      headers: { 'x-graphql-yoga-csrf': '1', accept: 'application/json' },
    });
    expect(served.status).toBe(200);
  });

  it("CSRF: a GET query carrying a bearer token is served (urql's and Apollo's GET queries), on both endpoints", async () => {
    const viewer = await call('/graphql?query=%7Bviewer%7Bname%7D%7D', {
      headers: { authorization: `Bearer ${a.owner.token}`, accept: 'application/json' },
    });
    expect(viewer.status).toBe(200);
    expect(await viewer.json()).toEqual({ data: { viewer: { name: 'Olive Owner' } } });
    const platform = await call('/admin/graphql?query=%7B__typename%7D', {
      headers: { authorization: `Bearer ${admin}`, accept: 'application/json' },
    });
    expect(platform.status).toBe(200);
  });

  it('CSRF: what a browser attaches on its own, or a header that is not one bearer token, does not count', async () => {
    const basic = `Basic ${Buffer.from('ops:secret').toString('base64')}`;
    for (const authorization of [
      basic,
      `Digest username="ops"`,
      `Bearer ${a.owner.token} ${a.owner.token}`,
      'Bearer',
      `bearer, Bearer ${a.owner.token}`,
    ]) {
      const refused = await call('/graphql?query=%7B__typename%7D', {
        headers: { authorization, cookie: 'session=1', accept: 'application/json' },
      });
      expect(refused.status, authorization).toBe(403);
      expect((await refused.json()) as GraphQLResponse, authorization).toFailWith('CSRF_PREVENTED');
    }
    // A form post cannot carry a bearer token; without one it stays refused.
    const form = await call('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: 'session=1' },
      body: 'query=%7B__typename%7D',
    });
    expect(form.status).toBe(403);
  });

  it('CSRF: a GET never runs a mutation, even with a bearer token (405)', async () => {
    const mutation = encodeURIComponent(
      'mutation { createPost(input: { title: "via GET" }) { id } }',
    );
    const refused = await call(`/graphql?query=${mutation}`, {
      headers: { authorization: `Bearer ${a.owner.token}`, accept: 'application/json' },
    });
    expect(refused.status).toBe(405);
    const posts = await t.gql('{ posts { edges { node { title } } } }', {}, a.owner.token);
    expect(JSON.stringify(posts.data)).not.toContain('via GET');
  });
});

describe('HOST: development listens on 127.0.0.1 only', () => {
  it('defaults to 127.0.0.1 in development, every interface in production; HOST overrides', () => {
    expect(loadConfig({}).host).toBe('127.0.0.1');
    expect(loadConfig({ NODE_ENV: 'production' }).host).toBeUndefined();
    expect(loadConfig({ HOST: '0.0.0.0' }).host).toBe('0.0.0.0');
    expect(loadConfig({ NODE_ENV: 'production', HOST: '10.1.2.3' }).host).toBe('10.1.2.3');
  });
});
