import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logging.ts';
import { isSelfContained, SHAPE_PATH } from '../../src/shape-proxy.ts';
import { type Api, createApi } from '../../src/yoga.ts';
import { createTestApi, field, type Org, signUpOrg, type TestApi } from '../support/api.ts';

/**
 * GET /v1/shape in front of a stand-in for ElectricSQL (Electric itself cannot be installed
 * here): a local HTTP server that records every request it gets and answers in Electric's
 * shape-log format with Electric's headers. The proof: no request reaches it without the
 * organization filter of the caller's token in front of the where clause.
 */
let t: TestApi;
let a: Org;
let b: Org;
let orgA: string;
let orgB: string;
let api: Api;
let electric: Server;
let proxy: Server;
let proxyUrl: string;
const received: URL[] = [];

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

async function listen(handler: Handler): Promise<[Server, string]> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return [server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`];
}

function standInElectric(req: IncomingMessage, res: ServerResponse) {
  const url = new URL(req.url ?? '/', 'http://electric');
  received.push(url);
  res.writeHead(200, {
    'content-type': 'application/json',
    'electric-handle': '12345-1700000000000',
    'electric-offset': '0_0',
    'electric-schema': '{"id":{"type":"uuid"}}',
    'electric-up-to-date': '',
    'cache-control': 'public, max-age=60, stale-while-revalidate=300',
    etag: '"12345-1700000000000:-1:0_0"',
  });
  res.end(
    JSON.stringify([
      {
        headers: { operation: 'insert' },
        key: '"public"."posts"/"1"',
        value: { id: '1', title: 'echo', where: url.searchParams.get('where') },
      },
      { headers: { control: 'up-to-date' } },
    ]),
  );
}

async function shape(query: Record<string, string>, token?: string): Promise<Response> {
  return fetch(`${proxyUrl}${SHAPE_PATH}?${new URLSearchParams(query)}`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
}

beforeAll(async () => {
  t = await createTestApi();
  a = await signUpOrg(t, 'acme');
  b = await signUpOrg(t, 'globex');
  const idOf = async (org: Org) => {
    const result = await t.gql('{ organization { id } }', {}, org.owner.token);
    const globalId = field<{ id: string }>(result, 'organization').id;
    return Buffer.from(globalId, 'base64url').toString('utf8').split(':')[1] ?? '';
  };
  orgA = await idOf(a);
  orgB = await idOf(b);
  let electricUrl: string;
  [electric, electricUrl] = await listen(standInElectric);
  api = createApi({
    database: t.database,
    tokens: t.tokens,
    logger: createLogger('silent'),
    introspection: false,
    graphiql: false,
    electricUrl,
  });
  // Yoga's server instance is itself a node request listener; its type is a wide union.
  [proxy, proxyUrl] = await listen(api.yoga as unknown as Handler);
});

afterAll(async () => {
  for (const server of [proxy, electric]) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  await t.close();
});

beforeEach(() => {
  received.length = 0;
});

describe('the shape proxy', () => {
  it("forwards with the token's organization in front, and streams Electric's answer back", async () => {
    const response = await shape({ table: 'posts', offset: '-1' }, a.member.token);
    expect(response.status).toBe(200);
    expect(received).toHaveLength(1);
    const forwarded = received[0]?.searchParams;
    expect(forwarded?.get('where')).toBe(`organization_id = '${orgA}'`);
    expect(forwarded?.get('table')).toBe('posts');
    expect(forwarded?.get('offset')).toBe('-1');
    expect(forwarded?.get('columns')).toBe(
      'organization_id,id,author_id,title,content,created_at,updated_at',
    );
    expect(response.headers.get('electric-handle')).toBe('12345-1700000000000');
    expect(response.headers.get('electric-offset')).toBe('0_0');
    expect(response.headers.get('electric-up-to-date')).toBe('');
    expect(response.headers.get('etag')).toBe('"12345-1700000000000:-1:0_0"');
    // One organization's rows: never for a shared cache.
    expect(response.headers.get('cache-control')).toBe(
      'private, max-age=60, stale-while-revalidate=300',
    );
    expect(response.headers.get('vary')).toContain('authorization');
    const log = (await response.json()) as { headers: Record<string, string> }[];
    expect(log.at(-1)?.headers).toEqual({ control: 'up-to-date' });
  });

  it("ANDs the client's where behind the filter; asking for another organization only narrows", async () => {
    await shape({ table: 'posts', where: "title = 'x'" }, a.member.token);
    await shape({ table: 'posts', where: `organization_id = '${orgB}'` }, a.member.token);
    await shape({ table: 'comments', where: "body LIKE '%)%'" }, b.member.token);
    expect(received.map((url) => url.searchParams.get('where'))).toEqual([
      `organization_id = '${orgA}' AND (title = 'x')`,
      `organization_id = '${orgA}' AND (organization_id = '${orgB}')`,
      `organization_id = '${orgB}' AND (body LIKE '%)%')`,
    ]);
  });

  it('refuses a where that could escape the AND, and forwards nothing', async () => {
    for (const where of [
      '1=1) OR (1=1',
      "title = 'x') OR true --",
      "title = 'x'; DROP TABLE posts",
      "title = 'unclosed",
      'true /* comment */',
      "title = E'\\' OR 1=1'",
      '$$x$$ = $$x$$',
      ')(',
    ]) {
      const response = await shape({ table: 'posts', where }, a.member.token);
      expect(response.status, where).toBe(400);
      expect(((await response.json()) as { code: string }).code).toBe('BAD_USER_INPUT');
    }
    expect(received).toHaveLength(0);
  });

  it('allows listed tables and columns only', async () => {
    for (const query of [
      { table: 'organizations' },
      { table: '_prisma_migrations' },
      { table: 'public.posts' },
      { table: 'users', columns: 'id,password_hash' },
      { table: 'users', columns: 'id,email' },
      {},
      { table: 'posts', unknown: '1' },
    ]) {
      const response = await shape(query as Record<string, string>, a.member.token);
      expect(response.status, JSON.stringify(query)).toBe(400);
    }
    expect(received).toHaveLength(0);
    // Positive control: the listed columns of users.
    const ok = await shape({ table: 'users', columns: 'id,name' }, a.member.token);
    expect(ok.status).toBe(200);
    expect(received[0]?.searchParams.get('columns')).toBe('id,name,organization_id');
  });

  it('needs a member: no token, a bad token or a deleted user is 401, and nothing is forwarded', async () => {
    const ghost = await t.tokens.issue({
      userId: '00000000-0000-4000-8000-000000000000',
      organizationId: orgA,
    });
    for (const token of [undefined, 'not-a-token', ghost]) {
      const response = await shape({ table: 'posts' }, token);
      expect(response.status).toBe(401);
      expect(((await response.json()) as { code: string }).code).toBe('UNAUTHENTICATED');
    }
    expect(received).toHaveLength(0);
  });

  it('every request that reached Electric carried a tenant filter', async () => {
    await shape({ table: 'posts', live: 'true', handle: 'h', offset: '0_0' }, a.owner.token);
    await shape({ table: 'comments' }, b.owner.token);
    expect(received).toHaveLength(2);
    for (const url of received) {
      expect(url.searchParams.get('where')).toMatch(
        /^organization_id = '[0-9a-f-]{36}'( AND \(.*\))?$/,
      );
    }
  });
});

describe('without ELECTRIC_URL', () => {
  it('the route is off: 404', async () => {
    const response = await t.fetch({ path: `${SHAPE_PATH}?table=posts`, method: 'GET' });
    expect(response.status).toBe(404);
  });
});

describe('isSelfContained', () => {
  it('accepts ordinary expressions with quotes and parentheses inside literals', () => {
    for (const where of [
      "title = 'a (b'",
      "title = 'it''s'",
      '"weird ""col)" = 1',
      "(a = 1 OR b = 2) AND c IN ('x', 'y')",
      'id = $1',
    ]) {
      expect(isSelfContained(where), where).toBe(true);
    }
  });
});
