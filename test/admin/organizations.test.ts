import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ADMIN_PATH } from '../../src/admin/endpoint.ts';
import { codes, field, type GraphQLResponse, type Org, signUpOrg } from '../support/api.ts';
import {
  a,
  adminGql,
  adminToken,
  auditLog,
  b,
  gql,
  ORG_FIELDS,
  ORGANIZATIONS,
  orgA,
  orgB,
  request,
  system,
  t,
  useAdminApi,
  VIEWER,
} from './setup.ts';

/** Listing organizations, and suspension taking effect on the next request of every token. */
useAdminApi();

describe('organizations', () => {
  it('lists them page by page, with their counts', async () => {
    const first = field<{
      totalCount: number;
      hasNextPage: boolean;
      endCursor: string;
      nodes: { id: string; slug: string; memberCount: number; postCount: number }[];
    }>(await adminGql(ORGANIZATIONS, { first: 1 }), 'organizations');
    expect(first.totalCount).toBeGreaterThanOrEqual(2);
    expect(first.hasNextPage).toBe(true);
    expect(first.nodes).toEqual([expect.objectContaining({ slug: 'acme', id: orgA })]);
    const second = field<{ nodes: { slug: string; memberCount: number; postCount: number }[] }>(
      await adminGql(ORGANIZATIONS, { first: 1, after: first.endCursor }),
      'organizations',
    );
    expect(second.nodes).toEqual([
      expect.objectContaining({ slug: 'globex', memberCount: 3, postCount: 1 }),
    ]);
    expect(await adminGql(ORGANIZATIONS, { first: 0 })).toFailWith('BAD_USER_INPUT');
    expect(await adminGql(ORGANIZATIONS, { first: 101 })).toFailWith('BAD_USER_INPUT');
    expect(codes(await adminGql(ORGANIZATIONS, { after: 'not-a-cursor' }))).toEqual([
      'BAD_USER_INPUT',
    ]);
  });

  it('an unknown id is NOT_FOUND, a malformed one BAD_USER_INPUT, everywhere', async () => {
    const missing = '00000000-0000-4000-8000-000000000000';
    const operations = [
      `query($id: ID!) { organization(id: $id) { id } }`,
      `mutation($id: ID!) { suspendOrganization(id: $id, reason: "r") { id } }`,
      `mutation($id: ID!) { resumeOrganization(id: $id) { id } }`,
      `mutation($id: ID!) { deleteOrganization(id: $id) { jobId } }`,
      `mutation($id: ID!) { exportOrganization(id: $id) { jobId } }`,
    ];
    for (const operation of operations) {
      expect(codes(await adminGql(operation, { id: missing })), operation).toEqual(['NOT_FOUND']);
      expect(codes(await adminGql(operation, { id: 'acme' })), operation).toEqual([
        'BAD_USER_INPUT',
      ]);
    }
    const suspend = `mutation($id: ID!, $reason: String!) { suspendOrganization(id: $id, reason: $reason) { id } }`;
    for (const reason of ['', '   ', 'x'.repeat(501), 'bell\u0007']) {
      expect(await adminGql(suspend, { id: orgB, reason })).toFailWith('BAD_USER_INPUT');
    }
    // The positive control: a known id, with its audit log.
    const known = await adminGql(
      `query($id: ID!) { organization(id: $id) { ${ORG_FIELDS} auditLog(first: 5) { action actorLabel } } }`,
      { id: orgB },
    );
    expect(field(known, 'organization')).toMatchObject({
      id: orgB,
      slug: 'globex',
      suspendedAt: null,
      memberCount: 3,
      auditLog: expect.arrayContaining([
        { action: 'member.added', actorLabel: 'owner@example.com' },
      ]),
    });
    // A NOT_FOUND for an unknown id did not suspend anything either.
    expect(
      (await system.organization.findUniqueOrThrow({ where: { id: orgB } })).suspendedAt,
    ).toBeNull();
  });
});
describe('suspension', () => {
  const SUSPEND = `mutation($id: ID!, $reason: String!) {
    suspendOrganization(id: $id, reason: $reason) { id suspendedAt } }`;
  const RESUME = `mutation($id: ID!) { resumeOrganization(id: $id) { id suspendedAt } }`;
  const CREATE_POST = `mutation { createPost(input: { title: "During" }) { id } }`;
  const signIn = (org: Org) =>
    gql(`mutation($input: SignInInput!) { signIn(input: $input) { token } }`, {
      input: {
        organizationSlug: org.slug,
        email: 'owner@example.com',
        password: 'correct-horse-9',
      },
    });
  const shape = (token: string) =>
    request('/v1/shape?table=posts&offset=-1', { headers: { authorization: `Bearer ${token}` } });

  it('refuses every token of the organization on the next request, until resumed', async () => {
    for (const org of [a, b]) {
      expect((await gql(VIEWER, {}, org.member.token)).errors).toBeUndefined();
    }
    const suspended = await adminGql(
      SUSPEND,
      { id: orgA, reason: ' Unpaid invoices ' },
      adminToken,
      {
        'x-forwarded-for': '203.0.113.9',
        'x-request-id': 'suspend-acme-1',
      },
    );
    const suspendedAt = field<{ suspendedAt: string }>(
      suspended,
      'suspendOrganization',
    ).suspendedAt;
    expect(suspendedAt).toEqual(expect.any(String));

    // A query (one unit of work) and a mutation (its own path): both 403 with the stable code.
    for (const token of [a.owner.token, a.admin.token, a.member.token]) {
      const query = await gql(VIEWER, {}, token);
      expect(query.status).toBe(403);
      expect(query).toFailWith('ORGANIZATION_SUSPENDED');
      expect(query.errors?.[0]?.message).toBe('This organization is suspended');
    }
    expect(await gql(CREATE_POST, {}, a.member.token)).toFailWith('ORGANIZATION_SUSPENDED');
    expect(await signIn(a)).toFailWith('ORGANIZATION_SUSPENDED');
    const refusedShape = await shape(a.owner.token);
    expect(refusedShape.status).toBe(403);
    expect(JSON.parse(refusedShape.text)).toMatchObject({ code: 'ORGANIZATION_SUSPENDED' });
    // The other organization is untouched.
    expect(field(await gql(VIEWER, {}, b.member.token), 'viewer')).toEqual({ name: 'Mia Member' });
    expect(field(await gql(CREATE_POST, {}, b.member.token), 'createPost')).toBeTruthy();
    expect(field(await signIn(b), 'signIn')).toBeTruthy();
    expect((await shape(b.owner.token)).status).toBe(200);

    // Suspending again changes nothing and records nothing.
    const again = await adminGql(SUSPEND, { id: orgA, reason: 'again' });
    expect(field<{ suspendedAt: string }>(again, 'suspendOrganization').suspendedAt).toBe(
      suspendedAt,
    );

    // Resumed over HTTP without a proxy: the socket's address is recorded.
    const server = createServer(t.api.yoga);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const resumed = await fetch(`http://127.0.0.1:${port}${ADMIN_PATH}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
        body: JSON.stringify({ query: RESUME, variables: { id: orgA } }),
      });
      expect(((await resumed.json()) as GraphQLResponse).data?.resumeOrganization).toEqual({
        id: orgA,
        suspendedAt: null,
      });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    for (const token of [a.owner.token, a.member.token]) {
      expect((await gql(VIEWER, {}, token)).errors).toBeUndefined();
    }
    expect(field(await signIn(a), 'signIn')).toBeTruthy();
    expect((await shape(a.owner.token)).status).toBe(200);

    const entries = (await auditLog(orgA)).filter((e) => e.action.startsWith('organization.'));
    expect(entries.map((e) => e.action)).toEqual([
      'organization.resumed',
      'organization.suspended',
    ]);
    expect(entries[1]).toMatchObject({
      organizationId: orgA,
      actorType: 'PLATFORM_ADMIN',
      actorId: null,
      actorLabel: 'ops@example.com',
      targetType: 'Organization',
      targetId: orgA,
      // In-process (no socket) and no TRUST_PROXY: X-Forwarded-For is not taken as the address.
      ipAddress: null,
      requestId: 'suspend-acme-1',
    });
    expect(JSON.parse(entries[1]?.details ?? 'null')).toEqual({ reason: 'Unpaid invoices' });
    expect(['127.0.0.1', '::ffff:127.0.0.1']).toContain(entries[0]?.ipAddress);
    // The OWNER sees the platform's actions on its organization in its own log.
    const ownerView = await gql(
      '{ auditLog(first: 2) { edges { node { action actorType actorLabel } } } }',
      {},
      a.owner.token,
    );
    expect(
      field<{ edges: { node: unknown }[] }>(ownerView, 'auditLog').edges.map((e) => e.node),
    ).toEqual([
      {
        action: 'organization.resumed',
        actorType: 'PLATFORM_ADMIN',
        actorLabel: 'ops@example.com',
      },
      {
        action: 'organization.suspended',
        actorType: 'PLATFORM_ADMIN',
        actorLabel: 'ops@example.com',
      },
    ]);
    expect((await auditLog(orgB)).map((e) => e.action)).not.toContain('organization.suspended');
  });

  it('an organization whose deletion was requested is UNAUTHENTICATED at once', async () => {
    const c = await signUpOrg(t, 'pending-deletion');
    expect((await gql(VIEWER, {}, c.owner.token)).errors).toBeUndefined();
    await system.organization.update({
      where: { slug: 'pending-deletion' },
      data: { deletionRequestedAt: new Date() },
    });
    const refused = await gql(VIEWER, {}, c.owner.token);
    expect(refused.status).toBe(401);
    expect(refused).toFailWith('UNAUTHENTICATED');
    expect(await signIn(c)).toFailWith('UNAUTHENTICATED');
    expect((await gql(VIEWER, {}, b.owner.token)).errors).toBeUndefined();
  });
});
