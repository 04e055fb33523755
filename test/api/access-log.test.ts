import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PATH } from '../../src/admin/endpoint.ts';
import { demoTable } from '../../src/db/demo-log.ts';
import { REQUEST_LIMITS } from '../../src/http/limits.ts';
import { logFormat } from '../../src/logging.ts';
import { createTestApi, type Org, signUpOrg, TEST_SECRET, type TestApi } from '../support/api.ts';
import { capturedLogger } from '../support/log-lines.ts';

const UUID = /^[0-9a-f-]{36}$/;

describe('one access line per HTTP request, refusals included', () => {
  const { lines, logger } = capturedLogger();
  let t: TestApi;
  let org: Org;
  let organizationId: string;

  beforeAll(async () => {
    t = await createTestApi({ logger, api: { adminSecret: TEST_SECRET } });
    org = await signUpOrg(t, 'access');
    const rows = await t.database.adapter
      .connect()
      .then((db) => db.queryRaw({ sql: 'SELECT id FROM organizations', args: [], argTypes: [] }));
    organizationId = String(rows.rows[0]?.[0]);
  });
  afterAll(() => t.close());

  /** The one access line of the request sent with X-Request-Id `id`. */
  const accessLine = (id: string) => {
    const found = lines.filter((l) => l.msg === 'http request' && l.requestId === id);
    expect(found).toHaveLength(1);
    return found[0];
  };

  it('a 200 names the method, path, status, duration, request and organization', async () => {
    const result = await t.gql('{ viewer { name } }', {}, org.owner.token, {
      'x-request-id': 'ok-1',
    });
    expect(result.status).toBe(200);
    expect(accessLine('ok-1')).toMatchObject({
      level: 30,
      method: 'POST',
      path: '/graphql',
      status: 200,
      durationMs: expect.any(Number),
      organizationId,
    });
    expect(organizationId).toMatch(UUID);
  });

  it('a parse error (400) is logged, anonymous', async () => {
    // GraphQL over HTTP's media type: a request error is a 400 (application/json keeps 200).
    const result = await t.gql('{ viewer { name ', {}, undefined, {
      'x-request-id': 'bad-1',
      accept: 'application/graphql-response+json',
    });
    expect(result.status).toBe(400);
    expect(accessLine('bad-1')).toMatchObject({
      status: 400,
      path: '/graphql',
      organizationId: null,
    });
  });

  it('a bad token is logged: on /graphql and on the admin route answered before GraphQL', async () => {
    const tenant = await t.gql('{ viewer { name } }', {}, 'not-a-token', { 'x-request-id': 'u-1' });
    const admin = await t.fetch({
      method: 'POST',
      path: ADMIN_PATH,
      headers: { 'content-type': 'application/json', 'x-request-id': 'u-2' },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    expect(admin.status).toBe(401);
    expect(accessLine('u-1')).toMatchObject({ status: tenant.status, organizationId: null });
    expect(accessLine('u-2')).toMatchObject({ status: 401, path: ADMIN_PATH, method: 'POST' });
  });

  it('a CSRF refusal (403), a body too large (413) and an unknown route (404) are logged', async () => {
    const query = encodeURIComponent('{ __typename }');
    const csrf = await t.fetch({
      method: 'GET',
      path: `/graphql?query=${query}`,
      headers: { 'x-request-id': 'csrf-1' },
    });
    expect(csrf.status).toBe(403);
    // The path without its query string: an export link carries its token there.
    expect(accessLine('csrf-1')).toMatchObject({ method: 'GET', path: '/graphql', status: 403 });
    const large = await t.fetch({
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'big-1' },
      body: JSON.stringify({ query: `{ __typename }${' '.repeat(REQUEST_LIMITS.bodyBytes)}` }),
    });
    expect(large.status).toBe(413);
    expect(accessLine('big-1')).toMatchObject({ method: 'POST', status: 413 });
    const missing = await t.fetch({
      method: 'GET',
      path: '/nope',
      headers: { 'x-request-id': 'nf-1' },
    });
    expect(missing.status).toBe(404);
    expect(accessLine('nf-1')).toMatchObject({ path: '/nope', status: 404 });
  });

  it('health probes are logged at debug; a token is never logged', async () => {
    await t.fetch({ method: 'GET', path: '/live', headers: { 'x-request-id': 'live-1' } });
    expect(accessLine('live-1')).toMatchObject({ level: 20, status: 200 });
    // A scrape of /metrics (off here: 404) is a probe too.
    await t.fetch({ method: 'GET', path: '/metrics', headers: { 'x-request-id': 'scrape-1' } });
    expect(accessLine('scrape-1')).toMatchObject({ level: 20, path: '/metrics' });
    expect(JSON.stringify(lines)).not.toContain(org.owner.token);
  });
});

describe('error lines', () => {
  it('an unexpected error line names its request and organization', async () => {
    const { lines, logger } = capturedLogger();
    const broken = await createTestApi({ logger });
    try {
      const org = await signUpOrg(broken, 'broken-logs');
      // Pull the table out from under the API: the next query fails inside Prisma.
      await broken.database.adapter
        .connect()
        .then((db) => db.executeScript('DROP TABLE comments CASCADE'));
      await broken.gql(
        '{ posts(first: 5) { edges { node { comments(first: 5) { totalCount } } } } }',
        {},
        org.owner.token,
        { 'x-request-id': 'err-1' },
      );
      const errors = lines.filter((l) => l.msg === 'unexpected error');
      expect(errors.length).toBeGreaterThan(0);
      for (const line of errors) {
        expect(line).toMatchObject({
          requestId: 'err-1',
          organizationId: expect.stringMatching(UUID),
        });
      }
      // Every error-level line of that request, Yoga's own among them.
      for (const line of lines.filter((l) => Number(l.level) >= 50)) {
        expect(line.requestId).toBe('err-1');
      }
    } finally {
      await broken.close();
    }
  });
});

describe('log format', () => {
  it('pretty only on a terminal outside production, unless LOG_FORMAT says otherwise', () => {
    const unset = { chosen: undefined, production: false };
    expect(logFormat(unset, true)).toBe('pretty');
    expect(logFormat(unset, false)).toBe('json');
    expect(logFormat({ ...unset, production: true }, true)).toBe('json');
    expect(logFormat({ chosen: 'pretty', production: true }, false)).toBe('pretty');
    expect(logFormat({ chosen: 'json', production: false }, true)).toBe('json');
  });

  it('demo accounts: a short table, then each token alone on a line', () => {
    const table = demoTable([
      { organizationSlug: 'acme', email: 'owner@acme.example', role: 'OWNER', token: 'tok.a.1' },
      { organizationSlug: 'globex', email: 'm@globex.example', role: 'MEMBER', token: 'tok.b.2' },
    ]);
    expect(table).toEqual([
      '  #  organization  email               role',
      '  1  acme          owner@acme.example  OWNER',
      '  2  globex        m@globex.example    MEMBER',
      '  tokens (Authorization: Bearer <token>):',
      '  1  tok.a.1',
      '  2  tok.b.2',
    ]);
  });
});
