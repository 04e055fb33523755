import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTokenService, type TokenService } from '../../src/auth/tokens.ts';
import { TEST_SECRET } from '../support/api.ts';

// An identity provider of our own: its JWKS served over HTTP, its tokens signed with its key.
const ISSUER = 'https://idp.example';
const AUDIENCE = 'scopegraph-idp';
const ORG = '00000000-0000-4000-8000-000000000001';
const USER = '00000000-0000-4000-8000-000000000002';
const HOUR = 3600;

let server: Server;
let tokens: TokenService;
let privateKey: CryptoKey;

beforeAll(async () => {
  const pair = await generateKeyPair('ES256');
  privateKey = pair.privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  server = createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  tokens = createTokenService({
    secret: TEST_SECRET,
    jwks: { url: `http://127.0.0.1:${port}/jwks.json`, issuer: ISSUER, audience: AUDIENCE },
  });
});

afterAll(() => new Promise((resolve) => server.close(resolve)));

const fromProvider = (iat: number, exp: number) =>
  new SignJWT({ org: ORG })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
    .setSubject(USER)
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .sign(privateKey);

describe("an identity provider's tokens live no longer than our own", () => {
  const now = () => Math.floor(Date.now() / 1000);

  it('positive control: a one-hour token verifies', async () => {
    const t = now();
    expect(await tokens.verify(await fromProvider(t, t + HOUR))).toMatchObject({
      userId: USER,
      organizationId: ORG,
    });
  });

  it.each([
    ['a lifetime of 24 h', 0, 24 * HOUR],
    ['issued 13 h ago', -13 * HOUR, HOUR],
    ['an iat 5 minutes ahead', 300, HOUR],
  ])('refused: %s', async (_name, iat, exp) => {
    const t = now();
    expect(await tokens.verify(await fromProvider(t + iat, t + exp))).toBeNull();
  });
});

describe('our own tokens', () => {
  it('carry a millisecond iat and live exactly up to 12 h', async () => {
    const own = createTokenService({ secret: TEST_SECRET });
    const at = new Date(1_900_000_000_123);
    const claims = JSON.parse(
      Buffer.from(
        (await own.issue({ userId: USER, organizationId: ORG }, at)).split('.')[1] ?? '',
        'base64url',
      ).toString(),
    ) as { iat: number; exp: number };
    expect(claims.iat).toBe(1_900_000_000.123);
    expect(claims.exp).toBe(1_900_000_000 + 12 * HOUR);
    const fresh = await own.issue({ userId: USER, organizationId: ORG });
    expect((await own.verify(fresh))?.issuedAt).toBeCloseTo(Date.now() / 1000, 0);
  });
});

describe('a token verified once', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('stops verifying when it expires, as one never verified before would', async () => {
    const own = createTokenService({ secret: TEST_SECRET });
    const issuedAt = new Date('2030-01-01T00:00:00Z');
    vi.useFakeTimers({ now: issuedAt, toFake: ['Date'] });
    const token = await own.issue({ userId: USER, organizationId: ORG }, issuedAt);
    expect(await own.verify(token)).toMatchObject({ userId: USER });
    // Verified again 10 s before it expires: kept, at most until its expiry (not for a minute).
    vi.setSystemTime(issuedAt.getTime() + (12 * HOUR - 10) * 1000);
    expect(await own.verify(token)).toMatchObject({ userId: USER });
    // 12 h and the 30 s of clock tolerance later: refused by the verified copy and by jose.
    vi.setSystemTime(issuedAt.getTime() + (12 * HOUR + 31) * 1000);
    expect(await own.verify(token)).toBeNull();
    expect(await createTokenService({ secret: TEST_SECRET }).verify(token)).toBeNull();
  });

  it('does not make another text of it verify: one changed character is checked afresh', async () => {
    const own = createTokenService({ secret: TEST_SECRET });
    const token = await own.issue({ userId: USER, organizationId: ORG });
    expect(await own.verify(token)).not.toBeNull();
    const signature = token.slice(token.lastIndexOf('.') + 1);
    const changed = signature.startsWith('A') ? `B${signature.slice(1)}` : `A${signature.slice(1)}`;
    const forged = `${token.slice(0, token.lastIndexOf('.') + 1)}${changed}`;
    expect(await own.verify(forged)).toBeNull();
    // Nor does another secret's service take it because this one did.
    const other = createTokenService({ secret: `${TEST_SECRET}-other` });
    expect(await other.verify(token)).toBeNull();
  });
});
