import { generateKeyPair, SignJWT, UnsecuredJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { AUDIENCE, ISSUER } from '../../../src/auth/tokens.ts';
import { TEST_SECRET } from '../../support/api.ts';
import { seedTenant } from '../../support/tenants.ts';
import {
  a,
  b,
  gql,
  judge,
  ownerA,
  ownerB,
  raw,
  secret,
  stillServing,
  system,
  tokens,
  useHostileServer,
  VIEWER,
} from './harness.ts';

/** Hostile input: forged, expired, malformed and orphaned tokens (harness: ./harness.ts). */
useHostileServer('tokens');

describe('tokens: every bad one is UNAUTHENTICATED (401) with the same message', () => {
  const sign = (
    claims: Record<string, unknown>,
    subject: string,
    options: { exp?: number | string; nbf?: number | string; key?: Uint8Array } = {},
  ) => {
    const jwt = new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(subject)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(options.exp ?? '1h');
    if (options.nbf !== undefined) jwt.setNotBefore(options.nbf);
    return jwt.sign(options.key ?? secret);
  };

  async function refused(label: string, token: string) {
    const outcome = await gql(`token: ${label}`, VIEWER, {}, token);
    judge(outcome, { status: 401, code: 'UNAUTHENTICATED' });
    expect.soft(outcome.body?.errors?.[0]?.message, label).toBe('Invalid or expired token');
  }

  it('forged, expired, not yet valid, alg none, wrong key, wrong claims', async () => {
    const org = a.org.id;
    const [header, , signature] = ownerA.split('.');
    const forgedPayload = Buffer.from(
      JSON.stringify({ org: b.org.id, sub: b.owner.id, iss: ISSUER, aud: AUDIENCE, exp: 9e9 }),
    ).toString('base64url');
    const { privateKey } = await generateKeyPair('RS256');
    const unsecured = new UnsecuredJWT({ org })
      .setSubject(a.owner.id)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime('1h')
      .encode();
    const bad: [string, string][] = [
      ['forged payload, original signature', `${header}.${forgedPayload}.${signature}`],
      ['signature stripped', `${header}.${ownerA.split('.')[1]}.`],
      [
        'signature of another token',
        `${ownerA.split('.').slice(0, 2).join('.')}.${ownerB.split('.')[2]}`,
      ],
      ['expired', await sign({ org }, a.owner.id, { exp: Math.floor(Date.now() / 1000) - 60 })],
      ['not yet valid', await sign({ org }, a.owner.id, { nbf: '1h' })],
      ['alg: none', unsecured],
      ['alg: none, with a signature', `${unsecured}${signature}`],
      [
        'wrong key',
        await sign({ org }, a.owner.id, { key: new TextEncoder().encode(`${TEST_SECRET}!`) }),
      ],
      ['empty key', await sign({ org }, a.owner.id, { key: new Uint8Array(32) })],
      [
        'RS256 from nobody',
        await new SignJWT({ org })
          .setProtectedHeader({ alg: 'RS256' })
          .setSubject(a.owner.id)
          .setIssuer(ISSUER)
          .setAudience(AUDIENCE)
          .setExpirationTime('1h')
          .sign(privateKey),
      ],
      ["A's user, B's organization", await sign({ org: b.org.id }, a.owner.id)],
      ['sub not a uuid', await sign({ org }, "' OR 1=1 --")],
      ['org not a uuid', await sign({ org: 'acme' }, a.owner.id)],
      ['org an array', await sign({ org: [org, b.org.id] }, a.owner.id)],
      ['garbage', 'not.a.token'],
      ['three dots', '...'],
      ['one segment', 'eyJhbGciOiJIUzI1NiJ9'],
      ['4 KB of base64', 'A'.repeat(4096)],
      ['over 4 KB', `${ownerA}${'A'.repeat(4096)}`],
    ];
    for (const [label, token] of bad) await refused(label, token);
  });

  it('malformed Authorization headers (raw: fetch would not send some of them)', async () => {
    const headers = [
      'Bearer',
      'Bearer ',
      `Bearer  ${ownerA}`,
      `bearer ${ownerA}`,
      `Basic ${Buffer.from('a:b').toString('base64')}`,
      `Bearer ${ownerA}, Bearer ${ownerB}`,
      `Bearer ${ownerA}\u00e9`,
      `Bearer ${ownerA.replace('.', '\u00ff.')}`,
    ];
    for (const header of headers) {
      const body = JSON.stringify({ query: VIEWER });
      const outcome = await raw(
        `authorization: ${header.slice(0, 20)}`,
        Buffer.from(
          `POST /graphql HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nAuthorization: ${header}\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
          'latin1',
        ),
      );
      judge(outcome, { status: 401, code: 'UNAUTHENTICATED' });
    }
    // Two Authorization headers: Node keeps the first and drops the others (documented for
    // `authorization`), so the request is the first token's, never a mix of the two.
    const body = JSON.stringify({ query: VIEWER });
    const two = await raw(
      'two authorization headers',
      `POST /graphql HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nAuthorization: Bearer ${ownerA}\r\nAuthorization: Bearer ${ownerB}\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    judge(two, { status: 200 });
    expect(two.body?.data?.viewer).toEqual({ name: 'Olive Owner' });
  });

  it('a deleted user and a deleted organization: their tokens stop working at once', async () => {
    const doomedOrg = await seedTenant(system, 'doomed');
    const doomedUser = await system.user.create({
      data: { organizationId: a.org.id, email: 'doomed@example.com', name: 'Doomed' },
    });
    const orgToken = await tokens.issue({
      userId: doomedOrg.owner.id,
      organizationId: doomedOrg.org.id,
    });
    const userToken = await tokens.issue({ userId: doomedUser.id, organizationId: a.org.id });
    // Positive controls: both work before the deletion.
    for (const token of [orgToken, userToken]) {
      const before = await gql('token before deletion', VIEWER, {}, token);
      judge(before, { status: 200 });
      expect(before.body?.data?.viewer).toBeTruthy();
    }
    await system.user.delete({
      where: { organizationId_id: { organizationId: a.org.id, id: doomedUser.id } },
    });
    await system.organization.delete({ where: { id: doomedOrg.org.id } });
    await refused('deleted user', userToken);
    await refused('deleted organization', orgToken);
    // Also on a mutation, and on a request that needs no authentication at all.
    const mutation = await gql(
      'deleted user: createPost',
      'mutation { createPost(input: { title: "ghost" }) { id } }',
      {},
      userToken,
    );
    judge(mutation, { status: 401, code: 'UNAUTHENTICATED' });
    judge(await gql('deleted org: __typename', '{ __typename }', {}, orgToken), {
      status: 401,
      code: 'UNAUTHENTICATED',
    });
  });
});

stillServing();
