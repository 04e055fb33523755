import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { ADMIN_AUDIENCE } from '../../src/admin/credential.ts';
import { ADMIN_PATH } from '../../src/admin/endpoint.ts';
import { AUDIENCE, ISSUER } from '../../src/auth/tokens.ts';
import { codes, createTestApi, field, type GraphQLResponse, TEST_SECRET } from '../support/api.ts';
import {
  a,
  adminGql,
  adminToken,
  gql,
  orgA,
  orgB,
  request,
  t,
  useAdminApi,
  VIEWER,
} from './setup.ts';

/** The admin endpoint: who it answers, and the limits it shares with the main endpoint. */
useAdminApi();

describe('the admin endpoint and its credential', () => {
  const LIST = '{ organizations { nodes { slug } } }';
  const sign = (claims: Record<string, unknown>, audience: string, secret = TEST_SECRET) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('ops@example.com')
      .setIssuer(ISSUER)
      .setAudience(audience)
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(new TextEncoder().encode(secret));

  it('answers 401 and nothing else without a valid admin token, and 200 with one', async () => {
    const tampered = `${adminToken.slice(0, -2)}${adminToken.endsWith('AA') ? 'BB' : 'AA'}`;
    const refused: [string, string][] = [
      ['no token', ''],
      ["a member's token", a.owner.token],
      ['a tampered admin token', tampered],
      [
        'an admin token signed with another secret',
        await sign({ platform: 'admin' }, ADMIN_AUDIENCE, 'x'.repeat(40)),
      ],
      ['the admin audience without the platform claim', await sign({}, ADMIN_AUDIENCE)],
      ['the platform claim for the tenant audience', await sign({ platform: 'admin' }, AUDIENCE)],
      [
        'an admin token naming an organization',
        await sign({ platform: 'admin', org: orgA }, ADMIN_AUDIENCE),
      ],
      [
        'an expired admin token',
        await new SignJWT({ platform: 'admin' })
          .setProtectedHeader({ alg: 'HS256' })
          .setSubject('ops@example.com')
          .setIssuer(ISSUER)
          .setAudience(ADMIN_AUDIENCE)
          .setIssuedAt(Math.floor(Date.now() / 1000) - 7200)
          .setExpirationTime(Math.floor(Date.now() / 1000) - 3600)
          .sign(new TextEncoder().encode(TEST_SECRET)),
      ],
    ];
    for (const [what, token] of refused) {
      const response = await adminGql(LIST, {}, token);
      expect({ what, status: response.status, codes: codes(response) }).toEqual({
        what,
        status: 401,
        codes: ['UNAUTHENTICATED'],
      });
      expect(response.data, what).toBeUndefined();
    }
    // Not the schema either: introspection without a token is the same bare 401.
    const introspection = await adminGql('{ __schema { types { name } } }', {}, '');
    expect(introspection.status).toBe(401);
    expect(introspection.text).not.toMatch(/__schema|Organization|suspend/);
    // …and no GraphiQL page.
    const page = await request(ADMIN_PATH, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(401);
    expect(page.text).not.toMatch(/<html/i);

    // The positive control for the forged ones: the same helper, with every claim right.
    const wellFormed = await adminGql(LIST, {}, await sign({ platform: 'admin' }, ADMIN_AUDIENCE));
    expect(wellFormed.status).toBe(200);
    const ok = await adminGql(LIST, {}, adminToken, { 'x-request-id': 'admin-list-1' });
    expect(ok.status).toBe(200);
    expect(
      field<{ nodes: { slug: string }[] }>(ok, 'organizations').nodes.map((o) => o.slug),
    ).toEqual(expect.arrayContaining(['acme', 'globex']));
    expect(ok.headers.get('x-request-id')).toBe('admin-list-1');
  });

  it('is off (404) when the API has no admin secret', async () => {
    // The same database, without adminSecret.
    const plain = await createTestApi({ database: t.database });
    try {
      const off = await plain.fetch({
        path: ADMIN_PATH,
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
        body: JSON.stringify({ query: LIST }),
      });
      expect(off.status).toBe(404);
    } finally {
      await plain.close();
    }
    expect((await adminGql(LIST)).status).toBe(200);
  });

  it('keeps the request limits and CSRF prevention of the main endpoint', async () => {
    const query = encodeURIComponent('{ organizations { totalCount } }');
    const get = (headers: Record<string, string>) =>
      request(`${ADMIN_PATH}?query=${query}`, { headers });
    // A GET carrying the admin's bearer token was made by a page holding it: served
    // (src/http/edge.ts). What a browser attaches on its own (a cookie, Basic credentials)
    // authenticates nothing here: refused before CSRF prevention is even asked.
    expect((await get({ authorization: `Bearer ${adminToken}` })).status).toBe(200);
    expect((await get({ cookie: 'session=1' })).status).toBe(401);
    expect((await get({ authorization: 'Basic b3BzOnNlY3JldA==' })).status).toBe(401);
    const huge = await request(ADMIN_PATH, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
      body: JSON.stringify({ query: LIST, variables: { pad: 'x'.repeat(2 * 1024 * 1024) } }),
    });
    expect(huge.status).toBe(413);
  });

  it('keeps the alias limit of the main endpoint: 30 aliases answer, 31 are QUERY_TOO_COMPLEX', async () => {
    const aliased = (n: number) =>
      `{ ${Array.from({ length: n }, (_, i) => `a${i}: organizations { totalCount }`).join(' ')} }`;
    const thirty = await adminGql(aliased(30));
    expect(thirty.status).toBe(200);
    expect(thirty.errors).toBeUndefined();
    expect(field<{ totalCount: number }>(thirty, 'a29').totalCount).toBeGreaterThanOrEqual(2);
    const thirtyOne = await adminGql(aliased(31));
    expect(codes(thirtyOne)).toEqual(['QUERY_TOO_COMPLEX']);
    expect(thirtyOne.data ?? null).toBeNull();
  });

  it('admin fields are not in the tenant schema, and an admin token is no tenant token', async () => {
    const list = await gql(LIST, {}, a.owner.token);
    expect(list).toFailWith('GRAPHQL_VALIDATION_FAILED');
    expect(list.errors?.[0]?.message).toMatch(/Cannot query field "organizations"/);
    const suspend = await gql(
      `mutation { suspendOrganization(id: "${orgB}", reason: "x") { id } }`,
      {},
      a.owner.token,
    );
    expect(suspend).toFailWith('GRAPHQL_VALIDATION_FAILED');
    const MUTATIONS = '{ __schema { mutationType { fields { name } } } }';
    const names = (response: GraphQLResponse) =>
      field<{ mutationType: { fields: { name: string }[] } }>(
        response,
        '__schema',
      ).mutationType.fields.map((f) => f.name);
    const tenant = names(await gql(MUTATIONS, {}, a.owner.token));
    const admin = names(await adminGql(MUTATIONS));
    expect(admin).toEqual(
      expect.arrayContaining(['suspendOrganization', 'deleteOrganization', 'exportOrganization']),
    );
    expect(tenant).toContain('createPost');
    for (const name of admin) expect(tenant).not.toContain(name);

    const asAdmin = await gql(VIEWER, {}, adminToken);
    expect(asAdmin.status).toBe(401);
    expect(asAdmin).toFailWith('UNAUTHENTICATED');
    expect(field(await gql(VIEWER, {}, a.owner.token), 'viewer')).toEqual({ name: 'Olive Owner' });
  });
});
