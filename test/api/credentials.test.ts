import { randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { Redis } from 'ioredis';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CredentialPolicy,
  DEFAULT_CREDENTIAL_POLICY,
} from '../../src/auth/credential-guard.ts';
import { redisWindowLogs } from '../../src/auth/sliding-window.ts';
import { AUDIENCE, ISSUER } from '../../src/auth/tokens.ts';
import { createSystemClient } from '../../src/db/system.ts';
import { decodeGlobalId } from '../../src/schema/ids.ts';
import {
  createTestApi,
  field,
  type GraphQLResponse,
  type Org,
  signUpOrg,
  TEST_SECRET,
  type TestApi,
} from '../support/api.ts';
import { GENEROUS_CREDENTIAL_POLICY } from '../support/credentials.ts';
import { REDIS_URL, redisAnswers } from '../support/redis.ts';

const PASSWORD = 'correct-horse-9';
const SIGN_IN = 'mutation($input: SignInInput!) { signIn(input: $input) { token } }';
const VIEWER = '{ viewer { name role } }';
const CHANGE_PASSWORD = `mutation($input: ChangePasswordInput!) {
  changePassword(input: $input) { token user { email } organization { slug } } }`;

/** The guard's clock, moved by hand: backoffs without waiting. */
let now = 1_800_000_000_000;
const advance = (seconds: number) => {
  now += seconds * 1000;
};

// Small budgets on accounts and users; the in-process address (none) is shared by every request
// of this file, so its budgets stay generous here (the address limits are tested over HTTP below).
const POLICY: CredentialPolicy = {
  ...GENEROUS_CREDENTIAL_POLICY,
  signInPerAccount: { limit: 8, windowSeconds: 60 },
  changePasswordPerUser: { limit: 3, windowSeconds: 900 },
  lockout: {
    windowSeconds: 900,
    fromAddress: { after: 3, baseSeconds: 30, maxSeconds: 120 },
    anyAddress: { after: 6, baseSeconds: 5, maxSeconds: 30 },
  },
};

let t: TestApi;
let acme: Org;
let globex: Org;
let initech: Org;
let system: ReturnType<typeof createSystemClient>;

beforeAll(async () => {
  t = await createTestApi({ credentials: { policy: POLICY, now: () => now } });
  acme = await signUpOrg(t, 'acme');
  globex = await signUpOrg(t, 'globex');
  initech = await signUpOrg(t, 'initech');
  system = createSystemClient(t.database);
});

afterAll(async () => {
  await system.$disconnect();
  await t.close();
});

const signIn = (organizationSlug: string, email: string, password = PASSWORD) =>
  t.gql(SIGN_IN, { input: { organizationSlug, email, password } });

const input = (slug: string, email: string, password = PASSWORD) => ({
  organizationSlug: slug,
  email,
  password,
});

function expectRateLimited(response: GraphQLResponse & { status: number; headers: Headers }) {
  expect(response.status).toBe(429);
  expect(response).toFailWith('RATE_LIMITED');
  const extensions = (response.errors?.[0]?.extensions ?? {}) as { retryAfter?: unknown };
  const retryAfter = extensions.retryAfter;
  expect(typeof retryAfter).toBe('number');
  expect(response.headers.get('retry-after')).toBe(String(retryAfter));
  return retryAfter as number;
}

describe('one credential operation per request', () => {
  it('two aliased sign-ins: refused before anything runs, nothing hashed', async () => {
    const before = t.api.passwordHashes();
    const result = await t.gql(
      `mutation($a: SignInInput!, $b: SignInInput!) {
        a: signIn(input: $a) { token } b: signIn(input: $b) { token } }`,
      { a: input('acme', 'owner@example.com'), b: input('acme', 'admin@example.com') },
    );
    expect(result).toFailWith('TOO_MANY_CREDENTIAL_OPERATIONS');
    expect(result.data ?? null).toBeNull();
    expect(t.api.passwordHashes()).toBe(before);
  });

  it('through a fragment, and mixing sign-in with sign-up or createMember', async () => {
    const before = t.api.passwordHashes();
    const documents = [
      `mutation($a: SignInInput!) { ...F signUp(input: { organizationName: "X", organizationSlug: "x-org",
        email: "x@example.com", password: "another-pass-1", name: "X" }) { token } }
       fragment F on Mutation { signIn(input: $a) { token } }`,
      `mutation($a: SignInInput!) { signIn(input: $a) { token }
        createMember(input: { email: "n@example.com", name: "N", password: "another-pass-1" }) { id } }`,
    ];
    for (const document of documents) {
      const result = await t.gql(
        document,
        { a: input('acme', 'owner@example.com') },
        acme.owner.token,
      );
      expect(result).toFailWith('TOO_MANY_CREDENTIAL_OPERATIONS');
    }
    expect(t.api.passwordHashes()).toBe(before);
    expect(await system.organization.count({ where: { slug: 'x-org' } })).toBe(0);
  });

  const batch = (operations: { query: string; variables?: unknown }[]) =>
    t.fetch({
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(operations),
    });

  it('a batch of ten sign-ins: the whole batch refused, nothing hashed', async () => {
    const before = t.api.passwordHashes();
    const response = await batch(
      Array.from({ length: 10 }, () => ({
        query: SIGN_IN,
        variables: { input: input('acme', 'owner@example.com', 'guess-1234') },
      })),
    );
    expect(response.status).toBe(400);
    const body = (await response.json()) as GraphQLResponse;
    expect(body).toFailWith('TOO_MANY_CREDENTIAL_OPERATIONS');
    expect(t.api.passwordHashes()).toBe(before);
  });

  it('positive controls: one sign-in in a batch, or beside other fields, works', async () => {
    const before = t.api.passwordHashes();
    const response = await batch([
      { query: SIGN_IN, variables: { input: input('globex', 'owner@example.com') } },
      { query: '{ __typename }' },
    ]);
    expect(response.status).toBe(200);
    const [first, second] = (await response.json()) as GraphQLResponse[];
    expect(field<{ token: string }>(first ?? {}, 'signIn').token).toBeTruthy();
    expect(second?.data).toEqual({ __typename: 'Query' });
    const single = await t.gql(
      `mutation($a: SignInInput!) { signIn(input: $a) { token } __typename }`,
      { a: input('globex', 'owner@example.com') },
    );
    expect(field<{ token: string }>(single, 'signIn').token).toBeTruthy();
    expect(t.api.passwordHashes()).toBe(before + 2);
  });
});

describe('rate limits and lockout (in-process, by account)', () => {
  it('per account: 429 RATE_LIMITED with retryAfter and Retry-After; another account works', async () => {
    advance(61);
    for (let i = 0; i < 8; i++) {
      expect(
        field<{ token: string }>(await signIn('globex', 'member@example.com'), 'signIn').token,
      ).toBeTruthy();
    }
    const before = t.api.passwordHashes();
    const refused = await signIn('globex', 'member@example.com');
    expect(expectRateLimited(refused)).toBe(60);
    expect(t.api.passwordHashes()).toBe(before);
    // Positive control: another account, same (in-process) address.
    expect(
      field<{ token: string }>(await signIn('globex', 'admin@example.com'), 'signIn').token,
    ).toBeTruthy();
    advance(60);
    expect(
      field<{ token: string }>(await signIn('globex', 'member@example.com'), 'signIn').token,
    ).toBeTruthy();
  });

  it('lockout: after 3 failures even the right password is refused, briefly; success resets', async () => {
    advance(61);
    for (let i = 0; i < 3; i++) {
      expect(await signIn('acme', 'admin@example.com', 'wrong-guess-1')).toFailWith(
        'UNAUTHENTICATED',
      );
    }
    const before = t.api.passwordHashes();
    expect(expectRateLimited(await signIn('acme', 'admin@example.com'))).toBe(30);
    expect(t.api.passwordHashes()).toBe(before);
    // Positive control: another member of the same organization signs in.
    expect(
      field<{ token: string }>(await signIn('acme', 'member@example.com'), 'signIn').token,
    ).toBeTruthy();
    advance(30);
    expect(
      field<{ token: string }>(await signIn('acme', 'admin@example.com'), 'signIn').token,
    ).toBeTruthy();
    // The success reset the count: one more failure does not lock.
    expect(await signIn('acme', 'admin@example.com', 'wrong-guess-2')).toFailWith(
      'UNAUTHENTICATED',
    );
    expect(
      field<{ token: string }>(await signIn('acme', 'admin@example.com'), 'signIn').token,
    ).toBeTruthy();
  });

  it('an account that does not exist is limited the same way (nothing tells them apart)', async () => {
    advance(61);
    for (let i = 0; i < 3; i++) await signIn('acme', 'nobody@example.com', 'wrong-guess-1');
    expectRateLimited(await signIn('acme', 'nobody@example.com', 'wrong-guess-1'));
  });
});

describe('changePassword', () => {
  const change = (token: string, currentPassword: string, newPassword: string) =>
    t.gql(CHANGE_PASSWORD, { input: { currentPassword, newPassword } }, token);

  it('a wrong current password is refused and changes nothing', async () => {
    const result = await change(globex.admin.token, 'not-my-password-1', 'brand-new-pass-1');
    expect(result).toFailWith('BAD_USER_INPUT');
    expect(result.errors?.[0]?.extensions?.field).toBe('currentPassword');
    expect((await t.gql(VIEWER, {}, globex.admin.token)).data?.viewer).toMatchObject({
      name: 'Adam Admin',
    });
  });

  it("the new password follows sign-up's rules", async () => {
    const result = await change(globex.admin.token, PASSWORD, 'short');
    expect(result).toFailWith('BAD_USER_INPUT');
  });

  it('anonymous: UNAUTHENTICATED', async () => {
    expect(
      await t.gql(CHANGE_PASSWORD, {
        input: { currentPassword: PASSWORD, newPassword: 'brand-new-pass-1' },
      }),
    ).toFailWith('UNAUTHENTICATED');
  });

  it('old tokens stop at once, the returned one works, and so does the new password only', async () => {
    advance(61);
    const other = field<{ token: string }>(await signIn('globex', 'owner@example.com'), 'signIn');
    const result = await change(globex.owner.token, PASSWORD, 'brand-new-pass-1');
    const payload = field<{ token: string; user: { email: string } }>(result, 'changePassword');
    expect(payload.user.email).toBe('owner@example.com');
    for (const old of [globex.owner.token, other.token]) {
      const refused = await t.gql(VIEWER, {}, old);
      expect(refused.status).toBe(401);
      expect(refused).toFailWith('UNAUTHENTICATED');
    }
    expect((await t.gql(VIEWER, {}, payload.token)).data?.viewer).toEqual({
      name: 'Olive Owner',
      role: 'OWNER',
    });
    expect(await signIn('globex', 'owner@example.com')).toFailWith('UNAUTHENTICATED');
    const fresh = await signIn('globex', 'owner@example.com', 'brand-new-pass-1');
    expect(
      (await t.gql(VIEWER, {}, field<{ token: string }>(fresh, 'signIn').token)).data?.viewer,
    ).toMatchObject({ name: 'Olive Owner' });
    // Positive control: another member's token is untouched.
    expect((await t.gql(VIEWER, {}, globex.member.token)).data?.viewer).toMatchObject({
      name: 'Mia Member',
    });
  });

  it('within one second: a token issued a millisecond before the change is refused, at it works', async () => {
    const userId = decodeGlobalId(initech.member.userId).id;
    const user = await system.user.findFirstOrThrow({ where: { id: userId } });
    const second = Math.floor(Date.now() / 1000) - 2;
    const change = new Date(second * 1000 + 500);
    await system.user.update({
      where: { organizationId_id: { organizationId: user.organizationId, id: userId } },
      data: { tokensValidAfter: change },
    });
    const at = (ms: number) =>
      t.tokens.issue({ userId, organizationId: user.organizationId }, new Date(ms));
    expect(await t.gql(VIEWER, {}, await at(change.getTime() - 1))).toFailWith('UNAUTHENTICATED');
    expect(await t.gql(VIEWER, {}, await at(second * 1000))).toFailWith('UNAUTHENTICATED');
    for (const ms of [change.getTime(), change.getTime() + 1]) {
      expect((await t.gql(VIEWER, {}, await at(ms))).data?.viewer).toMatchObject({
        name: 'Mia Member',
      });
    }
  });

  it('is rate limited per user', async () => {
    // Two calls above on globex's admin and owner; three on acme's member here, then refused.
    for (let i = 0; i < 3; i++) {
      expect(await change(acme.member.token, 'not-my-password-1', 'brand-new-pass-1')).toFailWith(
        'BAD_USER_INPUT',
      );
    }
    expectRateLimited(await change(acme.member.token, PASSWORD, 'brand-new-pass-1'));
    // Positive control: another user changes theirs.
    expect(
      field(await change(acme.admin.token, PASSWORD, 'brand-new-pass-2'), 'changePassword'),
    ).toBeTruthy();
  });
});

describe('role changes and removal end sessions', () => {
  const CHANGE_ROLE = `mutation($userId: ID!, $role: Role!) {
    changeMemberRole(input: { userId: $userId, role: $role }) { role } }`;

  it("a demotion refuses the demoted member's tokens at once; a new sign-in works", async () => {
    expect((await t.gql(VIEWER, {}, initech.admin.token)).data?.viewer).toMatchObject({
      role: 'ADMIN',
    });
    const demoted = await t.gql(
      CHANGE_ROLE,
      { userId: initech.admin.userId, role: 'MEMBER' },
      initech.owner.token,
    );
    expect(field(demoted, 'changeMemberRole')).toEqual({ role: 'MEMBER' });
    expect(await t.gql(VIEWER, {}, initech.admin.token)).toFailWith('UNAUTHENTICATED');
    advance(61);
    const again = field<{ token: string }>(await signIn('initech', 'admin@example.com'), 'signIn');
    expect((await t.gql(VIEWER, {}, again.token)).data?.viewer).toMatchObject({ role: 'MEMBER' });
  });

  it('positive control: a promotion leaves the member signed in', async () => {
    const promoted = await t.gql(
      CHANGE_ROLE,
      { userId: acme.member.userId, role: 'ADMIN' },
      acme.owner.token,
    );
    expect(field(promoted, 'changeMemberRole')).toEqual({ role: 'ADMIN' });
    expect((await t.gql(VIEWER, {}, acme.member.token)).data?.viewer).toMatchObject({
      role: 'ADMIN',
    });
  });

  it("a removal refuses the removed member's token", async () => {
    // Its first token was refused above (tokensValidAfter): a fresh one.
    const signedIn = await signIn('initech', 'member@example.com');
    const token = field<{ token: string }>(signedIn, 'signIn').token;
    expect((await t.gql(VIEWER, {}, token)).data?.viewer).toBeTruthy();
    const removed = await t.gql(
      'mutation($id: ID!) { removeMember(userId: $id) { deletedId } }',
      { id: initech.member.userId },
      initech.owner.token,
    );
    expect(field(removed, 'removeMember')).toEqual({ deletedId: initech.member.userId });
    expect(await t.gql(VIEWER, {}, token)).toFailWith('UNAUTHENTICATED');
  });
});

describe('token lifetimes', () => {
  const secret = new TextEncoder().encode(TEST_SECRET);
  const seconds = () => Math.floor(Date.now() / 1000);
  const token = async (iat: number, exp: number) => {
    const org = await t.gql('{ organization { id } }', {}, acme.owner.token);
    const organizationId = decodeGlobalId(field<{ id: string }>(org, 'organization').id).id;
    return new SignJWT({ org: organizationId })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(decodeGlobalId(acme.owner.userId).id)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(secret);
  };
  const HOUR = 3600;

  it.each([
    ['a normal token', 0, HOUR],
    ['a lifetime of exactly 12 h', -11 * HOUR, HOUR],
    ['an iat 10 s ahead (clock tolerance)', 10, HOUR],
  ])('accepted: %s', async (_name, iat, exp) => {
    const now = seconds();
    const result = await t.gql(VIEWER, {}, await token(now + iat, now + exp));
    expect(result.data?.viewer).toMatchObject({ name: 'Olive Owner' });
  });

  it.each([
    ['a lifetime of 13 h', 0, 13 * HOUR],
    ['a lifetime of 12 h and 1 s', -1, 12 * HOUR],
    ['issued 13 h ago, still before exp', -13 * HOUR, HOUR],
    ['an iat 5 minutes in the future', 300, HOUR],
  ])('refused: %s', async (_name, iat, exp) => {
    const now = seconds();
    const result = await t.gql(VIEWER, {}, await token(now + iat, now + exp));
    expect(result.status).toBe(401);
    expect(result).toFailWith('UNAUTHENTICATED');
  });
});

const redisUp = await redisAnswers();

describe.skipIf(!redisUp)(`limits shared by two instances through Redis (${REDIS_URL})`, () => {
  const prefix = `scopegraph:test:${randomBytes(6).toString('hex')}:`;
  let redis: Redis;
  let apis: TestApi[];

  beforeAll(async () => {
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    apis = await Promise.all(
      [0, 1].map(() =>
        createTestApi({
          database: t.database,
          introspection: false,
          credentials: {
            policy: { ...POLICY, signInPerAccount: { limit: 2, windowSeconds: 60 } },
            limits: redisWindowLogs(redis, prefix),
          },
        }),
      ),
    );
  });

  afterAll(async () => {
    await Promise.all(apis.map((api) => api.close()));
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  const signInOn = (api: TestApi, email: string) =>
    api.gql(SIGN_IN, { input: input('acme', email) });

  it('what one instance counted, the other refuses; another account still works', async () => {
    const [a, b] = apis as [TestApi, TestApi];
    expect(field(await signInOn(a, 'owner@example.com'), 'signIn')).toBeTruthy();
    expect(field(await signInOn(b, 'owner@example.com'), 'signIn')).toBeTruthy();
    expectRateLimited(await signInOn(a, 'owner@example.com'));
    expectRateLimited(await signInOn(b, 'owner@example.com'));
    expect(field(await signInOn(b, 'member@example.com'), 'signIn')).toBeTruthy();
    expect(await redis.keys(`${prefix}*`)).not.toHaveLength(0);
  });
});

describe('per client address, over HTTP', () => {
  let u: TestApi;
  let server: Server;
  let port = 0;

  beforeAll(async () => {
    u = await createTestApi({
      credentials: {
        policy: {
          ...DEFAULT_CREDENTIAL_POLICY,
          signInPerAddress: { limit: 3, windowSeconds: 300 },
          signUpPerAddress: { limit: 1, windowSeconds: 3600 },
        },
      },
    });
    server = createServer(u.api.yoga);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    port = typeof address === 'object' && address ? address.port : 0;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await u.close();
  });

  /** A request whose socket comes from `localAddress` (any 127.x address is this machine). */
  const from = (localAddress: string, query: string, variables: unknown) =>
    new Promise<GraphQLResponse & { status: number; retryAfter: string | undefined }>(
      (resolve, reject) => {
        const req = httpRequest(
          {
            host: '127.0.0.1',
            port,
            localAddress,
            method: 'POST',
            path: '/graphql',
            headers: { 'content-type': 'application/json' },
          },
          (res) => {
            let body = '';
            res.on('data', (chunk) => {
              body += chunk;
            });
            res.on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                retryAfter: res.headers['retry-after'] as string | undefined,
                ...(JSON.parse(body) as GraphQLResponse),
              }),
            );
          },
        );
        req.on('error', reject);
        req.end(JSON.stringify({ query, variables }));
      },
    );

  const SIGN_UP = `mutation($input: SignUpInput!) { signUp(input: $input) { token } }`;
  const signUpInput = (slug: string) => ({
    input: {
      organizationName: slug,
      organizationSlug: slug,
      email: 'owner@example.com',
      password: PASSWORD,
      name: 'Owner',
    },
  });

  it('sign-ins: the address over its budget gets 429, another address does not', async () => {
    for (let i = 0; i < 3; i++) {
      const result = await from('127.0.0.1', SIGN_IN, {
        input: input('nowhere', `n${i}@example.com`, 'wrong-guess-1'),
      });
      expect(result).toFailWith('UNAUTHENTICATED');
    }
    const refused = await from('127.0.0.1', SIGN_IN, {
      input: input('nowhere', 'n9@example.com', 'wrong-guess-1'),
    });
    expect(refused.status).toBe(429);
    expect(refused).toFailWith('RATE_LIMITED');
    // 300 s from the first of the three, a second or so ago.
    expect(Number(refused.retryAfter)).toBeGreaterThan(290);
    expect(Number(refused.retryAfter)).toBeLessThanOrEqual(300);
    const other = await from('127.0.0.2', SIGN_IN, {
      input: input('nowhere', 'n9@example.com', 'wrong-guess-1'),
    });
    expect(other).toFailWith('UNAUTHENTICATED');
  });

  it('sign-ups: one per address per hour here; another address still signs up', async () => {
    expect(
      field(await from('127.0.0.3', SIGN_UP, signUpInput('first-org')), 'signUp'),
    ).toBeTruthy();
    const refused = await from('127.0.0.3', SIGN_UP, signUpInput('second-org'));
    expect(refused.status).toBe(429);
    expect(refused).toFailWith('RATE_LIMITED');
    expect(
      field(await from('127.0.0.4', SIGN_UP, signUpInput('third-org')), 'signUp'),
    ).toBeTruthy();
  });
});
