import { generateKeyPair, SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIENCE, createTokenService, ISSUER } from '../../src/auth/tokens.ts';
import { createSystemClient } from '../../src/db/system.ts';
import { decodeGlobalId } from '../../src/schema/ids.ts';
import {
  codes,
  createTestApi,
  field,
  type Org,
  signUpOrg,
  TEST_SECRET,
  type TestApi,
} from '../support/api.ts';

let t: TestApi;
let a: Org;
let orgId: string;
let ownerId: string;
const secret = new TextEncoder().encode(TEST_SECRET);
const VIEWER = '{ viewer { name } }';

beforeAll(async () => {
  t = await createTestApi();
  a = await signUpOrg(t, 'acme');
  const org = await t.gql('{ organization { id } }', {}, a.owner.token);
  orgId = decodeGlobalId(field<{ id: string }>(org, 'organization').id).id;
  ownerId = decodeGlobalId(a.owner.userId).id;
});

afterAll(() => t.close());

function sign(
  claims: Record<string, unknown>,
  options: { iss?: string; aud?: string; exp?: string | number; nbf?: string | number } = {},
) {
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(options.iss ?? ISSUER)
    .setAudience(options.aud ?? AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(options.exp ?? '1h');
  if (options.nbf !== undefined) jwt.setNotBefore(options.nbf);
  return jwt;
}

describe('sign-up and sign-in', () => {
  it('sign-up returns a working token, the owner and the organization', async () => {
    const result = await t.gql(
      `mutation($input: SignUpInput!) { signUp(input: $input) {
        token user { id name email role } organization { id name slug } } }`,
      {
        input: {
          organizationName: 'Initech',
          organizationSlug: 'initech',
          email: ' Peter@Initech.example ',
          password: 'tps-reports-2',
          name: 'Peter Gibbons',
        },
      },
    );
    expect(result.errors).toBeUndefined();
    const payload = result.data?.signUp as { token: string; user: { id: string } };
    expect(payload).toMatchObject({
      user: { name: 'Peter Gibbons', email: 'peter@initech.example', role: 'OWNER' },
      organization: { name: 'Initech', slug: 'initech' },
    });
    expect((await t.gql(VIEWER, {}, payload.token)).data?.viewer).toEqual({
      name: 'Peter Gibbons',
    });
  });

  it('a taken slug is a CONFLICT on that field', async () => {
    const result = await t.gql(
      `mutation { signUp(input: { organizationName: "X", organizationSlug: "acme",
        email: "x@example.com", password: "another-pass-1", name: "X" }) { token } }`,
    );
    expect(result).toFailWith('CONFLICT');
    expect(result.errors?.[0]?.extensions?.field).toBe('organizationSlug');
  });

  it('sign-in: a wrong slug, email or password all give the same error', async () => {
    const signIn = (organizationSlug: string, email: string, password: string) =>
      t.gql(`mutation($input: SignInInput!) { signIn(input: $input) { token } }`, {
        input: { organizationSlug, email, password },
      });
    const ok = await signIn('acme', 'OWNER@example.com', 'correct-horse-9');
    expect(field<{ token: string }>(ok, 'signIn').token).toBeTruthy();
    const failures = await Promise.all([
      signIn('nope', 'owner@example.com', 'correct-horse-9'),
      signIn('acme', 'nobody@example.com', 'correct-horse-9'),
      signIn('acme', 'owner@example.com', 'wrong-horse-9'),
    ]);
    const shapes = failures.map((f) => ({ codes: codes(f), message: f.errors?.[0]?.message }));
    expect(shapes).toEqual([shapes[0], shapes[0], shapes[0]]);
    expect(shapes[0]?.codes).toEqual(['UNAUTHENTICATED']);
  });
});

describe('tokens that are not accepted: UNAUTHENTICATED, 401, no detail', () => {
  it('positive control: a valid token of an existing user', async () => {
    const token = await sign({ org: orgId }).setSubject(ownerId).sign(secret);
    expect((await t.gql(VIEWER, {}, token)).data?.viewer).toEqual({ name: 'Olive Owner' });
  });

  const cases: [string, () => Promise<string>][] = [
    [
      'expired',
      () =>
        sign({ org: orgId }, { exp: Math.floor(Date.now() / 1000) - 60 })
          .setSubject(ownerId)
          .sign(secret),
    ],
    ['not yet valid', () => sign({ org: orgId }, { nbf: '1h' }).setSubject(ownerId).sign(secret)],
    [
      'signed with another key',
      () =>
        sign({ org: orgId })
          .setSubject(ownerId)
          .sign(new TextEncoder().encode(`${TEST_SECRET}x`)),
    ],
    [
      'alg: none',
      async () =>
        new UnsecuredJWT({ org: orgId })
          .setSubject(ownerId)
          .setIssuer(ISSUER)
          .setAudience(AUDIENCE)
          .setExpirationTime('1h')
          .encode(),
    ],
    [
      'wrong issuer',
      () => sign({ org: orgId }, { iss: 'someone-else' }).setSubject(ownerId).sign(secret),
    ],
    [
      'wrong audience',
      () => sign({ org: orgId }, { aud: 'another-api' }).setSubject(ownerId).sign(secret),
    ],
    ['no organization claim', () => sign({}).setSubject(ownerId).sign(secret)],
    [
      'organization that is not a uuid',
      () => sign({ org: 'acme' }).setSubject(ownerId).sign(secret),
    ],
    [
      'user of another organization',
      () => sign({ org: '00000000-0000-4000-8000-000000000000' }).setSubject(ownerId).sign(secret),
    ],
    [
      'user that does not exist',
      () => sign({ org: orgId }).setSubject('00000000-0000-4000-8000-000000000000').sign(secret),
    ],
    [
      'RS256 token from an unconfigured provider',
      async () => {
        const { privateKey } = await generateKeyPair('RS256');
        return new SignJWT({ org: orgId })
          .setProtectedHeader({ alg: 'RS256' })
          .setSubject(ownerId)
          .setIssuer(ISSUER)
          .setAudience(AUDIENCE)
          .setExpirationTime('1h')
          .sign(privateKey);
      },
    ],
    ['garbage', async () => 'not.a.token'],
  ];

  it.each(cases)('%s', async (_name, make) => {
    const result = await t.gql(VIEWER, {}, await make());
    expect(result.status).toBe(401);
    expect(result).toFailWith('UNAUTHENTICATED');
    expect(result.errors?.[0]?.message).toBe('Invalid or expired token');
    expect(result.data ?? null).toBeNull();
  });

  it('a malformed Authorization header', async () => {
    for (const header of ['Basic abc', 'Bearer', 'Bearer a b', 'token']) {
      const response = await t.fetch({
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: header },
        body: JSON.stringify({ query: VIEWER }),
      });
      expect(response.status).toBe(401);
    }
  });

  it('no token at all: member fields need authentication', async () => {
    const result = await t.gql(VIEWER);
    expect(result).toFailWith('UNAUTHENTICATED');
  });

  it('a deleted user: the token stops working at once', async () => {
    const system = createSystemClient(t.database);
    try {
      const member = decodeGlobalId(a.member.userId).id;
      expect((await t.gql(VIEWER, {}, a.member.token)).data?.viewer).toEqual({
        name: 'Mia Member',
      });
      await system.user.delete({
        where: { organizationId_id: { organizationId: orgId, id: member } },
      });
      expect(await t.gql(VIEWER, {}, a.member.token)).toFailWith('UNAUTHENTICATED');
    } finally {
      await system.$disconnect();
    }
  });

  it('tokens issued by the service verify; a tampered payload does not', async () => {
    const tokens = createTokenService({ secret: TEST_SECRET });
    const token = await tokens.issue({ userId: ownerId, organizationId: orgId });
    expect(await tokens.verify(token)).toMatchObject({ userId: ownerId, organizationId: orgId });
    const [header, , signature] = token.split('.');
    const forgedPayload = Buffer.from(
      JSON.stringify({
        org: '00000000-0000-4000-8000-000000000000',
        sub: ownerId,
        iss: ISSUER,
        aud: AUDIENCE,
        exp: 9999999999,
      }),
    ).toString('base64url');
    expect(await tokens.verify(`${header}.${forgedPayload}.${signature}`)).toBeNull();
  });
});
