import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveJwtSecret } from '../../src/auth/secret.ts';
import { createTokenService } from '../../src/auth/tokens.ts';
import { loadConfig } from '../../src/config.ts';
import { createTestApi, field, signUpOrg, TEST_SECRET } from '../support/api.ts';

// ADMIN_JWT_SECRET, like JWT_SECRET, is refused under 32 characters.
const ADMIN_SECRET = 'admin-'.padEnd(32, 'x');

describe('tokens from an external identity provider (JWKS)', () => {
  let jwks: Server;
  let url: string;
  let privateKey: CryptoKey;

  beforeAll(async () => {
    const pair = await generateKeyPair('RS256');
    privateKey = pair.privateKey;
    const publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    jwks = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [publicJwk] }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json`;
  });

  afterAll(() => new Promise<void>((resolve) => jwks.close(() => resolve())));

  const idpToken = (claims: { iss: string; aud: string; org: string; sub: string }) =>
    new SignJWT({ org: claims.org })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setIssuer(claims.iss)
      .setAudience(claims.aud)
      .setSubject(claims.sub)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);

  it('accepts the provider issuer and audience, and nothing else', async () => {
    const tokens = createTokenService({
      secret: TEST_SECRET,
      jwks: { url, issuer: 'https://idp.example', audience: 'scopegraph' },
    });
    const claims = {
      org: '3f9a6a52-1c1e-4a0e-9a51-0d1f3c8b2a10',
      sub: 'a1a2a3a4-b1b2-4c1c-9d1d-e1e2e3e4e5e6',
    };
    const good = await idpToken({ ...claims, iss: 'https://idp.example', aud: 'scopegraph' });
    expect(await tokens.verify(good)).toMatchObject({
      userId: claims.sub,
      organizationId: claims.org,
    });
    for (const wrong of [
      { iss: 'https://evil.example', aud: 'scopegraph' },
      { iss: 'https://idp.example', aud: 'other' },
    ]) {
      expect(await tokens.verify(await idpToken({ ...claims, ...wrong }))).toBeNull();
    }
    // Without JWKS configured, the same token is refused.
    expect(await createTokenService({ secret: TEST_SECRET }).verify(good)).toBeNull();
  });
});

describe('the signing secret', () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'scopegraph-secret-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('production refuses to start without JWT_SECRET', () => {
    expect(() => resolveJwtSecret({ secret: undefined, production: true, dataDir })).toThrow(
      /JWT_SECRET is required/,
    );
    expect(() => resolveJwtSecret({ secret: 'short', production: true, dataDir })).toThrow(
      /at least 32/,
    );
  });

  it('development generates one secret under the data directory and keeps it', () => {
    const first = resolveJwtSecret({ secret: undefined, production: false, dataDir });
    expect(first.source).toBe('generated');
    expect(readFileSync(path.join(dataDir, 'jwt-secret'), 'utf8').trim()).toBe(first.secret);
    const second = resolveJwtSecret({ secret: undefined, production: false, dataDir });
    expect(second).toEqual({ secret: first.secret, source: 'stored' });
  });

  it('configuration: introspection and demo data default off in production', () => {
    expect(loadConfig({ NODE_ENV: 'production' })).toMatchObject({
      introspection: false,
      seedDemo: false,
      port: 4000,
    });
    expect(
      loadConfig({ NODE_ENV: 'production', GRAPHQL_INTROSPECTION: 'true' }).introspection,
    ).toBe(true);
    expect(loadConfig({})).toMatchObject({ introspection: true, seedDemo: true });
  });

  it('configuration: jobs are worked here unless JOB_WORKERS=false; admins may get their own secret', () => {
    expect(loadConfig({})).toMatchObject({ jobWorkers: true, adminJwtSecret: undefined });
    expect(loadConfig({ JOB_WORKERS: 'false', ADMIN_JWT_SECRET: ADMIN_SECRET })).toMatchObject({
      jobWorkers: false,
      adminJwtSecret: ADMIN_SECRET,
    });
  });
});

describe('structured logs', () => {
  it('one JSON line per operation with request, organization, user, operation and duration', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
        done();
      },
    });
    const t = await createTestApi({ logger: pino({ level: 'info' }, sink) });
    try {
      const org = await signUpOrg(t, 'logs');
      lines.length = 0;
      const result = await t.gql('query Who { viewer { name } }', {}, org.owner.token, {
        'x-request-id': 'req-123',
      });
      expect(field(result, 'viewer')).toEqual({ name: 'Olive Owner' });
      expect(result.headers.get('x-request-id')).toBe('req-123');
      const line = lines.find((l) => l.msg === 'graphql operation');
      expect(line).toMatchObject({
        requestId: 'req-123',
        operationName: 'Who',
        errors: 0,
        organizationId: expect.stringMatching(/^[0-9a-f-]{36}$/),
        userId: expect.stringMatching(/^[0-9a-f-]{36}$/),
        durationMs: expect.any(Number),
      });
      // Variables and results hold tenant data: they are never logged.
      expect(JSON.stringify(lines)).not.toContain('Olive Owner');
    } finally {
      await t.close();
    }
  });
});
