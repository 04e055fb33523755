import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_AUDIENCE, createAdminCredentials } from '../../src/admin/credential.ts';
import { ADMIN_PATH } from '../../src/admin/endpoint.ts';
import { AUDIENCE, ISSUER } from '../../src/auth/tokens.ts';
import { createSystemClient, type SystemClient } from '../../src/db/system.ts';
import { type Api, createApi } from '../../src/http/yoga.ts';
import type { JobName, JobQueue } from '../../src/jobs/queue.ts';
import { createLogger } from '../../src/logging.ts';
import { models } from '../../src/tenancy/models.ts';
import {
  codes,
  createTestApi,
  field,
  type GraphQLResponse,
  type Org,
  signUpOrg,
  TEST_SECRET,
  type TestApi,
} from '../support/api.ts';
import { storedExport } from '../support/exports.ts';
import { createRowOfEveryModel, parentsOfApiOrg } from '../support/fixtures.ts';

/**
 * Platform administration over the real API: its own endpoint and credential, suspension that
 * takes effect on the next request, deletion and export through the job queue (workers running
 * in-process, no retries, so a failing job reaches the dead letters at once), and an audit entry
 * for every admin action. Every refusal sits next to the same request succeeding for the party
 * allowed to make it.
 */
let t: TestApi;
let api: Api;
let system: SystemClient;
let electric: Server;
let a: Org;
let b: Org;
let orgA: string;
let orgB: string;
const credentials = createAdminCredentials(TEST_SECRET);
let adminToken: string;

type Response = GraphQLResponse & { status: number; headers: Headers; text: string };

async function request(path: string, init: RequestInit): Promise<Response> {
  const response = await api.yoga.fetch(`http://yoga${path}`, init);
  const text = await response.text();
  let body: GraphQLResponse = {};
  try {
    body = JSON.parse(text) as GraphQLResponse;
  } catch {}
  return { ...body, status: response.status, headers: response.headers, text };
}

function post(path: string, query: string, variables = {}, token?: string, headers = {}) {
  return request(path, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: JSON.stringify({ query, variables }),
  });
}

const adminGql = (query: string, variables = {}, token = adminToken, headers = {}) =>
  post(ADMIN_PATH, query, variables, token, headers);
const gql = (query: string, variables = {}, token?: string) =>
  post('/graphql', query, variables, token);

const ORG_FIELDS = 'id name slug createdAt suspendedAt deletionRequestedAt memberCount postCount';
const ENTRY_FIELDS =
  'id organizationId actorType actorId actorLabel action targetType targetId details ipAddress requestId createdAt';
const VIEWER = '{ viewer { name } }';
const ORGANIZATIONS = `query($first: Int, $after: String) { organizations(first: $first, after: $after) {
  totalCount hasNextPage endCursor nodes { ${ORG_FIELDS} } } }`;

type AdminEntry = { action: string; details: string | null } & Record<string, unknown>;

async function auditLog(organizationId: string): Promise<AdminEntry[]> {
  const response = await adminGql(
    `query($id: ID!) { auditLog(organizationId: $id, first: 100) { ${ENTRY_FIELDS} } }`,
    { id: organizationId },
  );
  return field<AdminEntry[]>(response, 'auditLog');
}

async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function jobs(): JobQueue {
  if (!t.jobs) throw new Error('createTestApi({ jobs }) gave no queue');
  return t.jobs;
}

const jobDone = (name: JobName, id: string) =>
  until(`${name} ${id}`, async () => (await jobs().state(name, id)) === 'completed');

beforeAll(async () => {
  t = await createTestApi({ jobs: { retryLimit: 0 } });
  system = createSystemClient(t.database);
  // A stand-in for ElectricSQL behind the shape proxy: it answers every request with no rows.
  electric = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('[]');
  });
  await new Promise<void>((resolve) => electric.listen(0, '127.0.0.1', resolve));
  // The same database, queue and secret as `t`, with the admin endpoint and the shape proxy on.
  api = createApi({
    database: t.database,
    tokens: t.tokens,
    jobs: jobs(),
    adminSecret: TEST_SECRET,
    electricUrl: `http://127.0.0.1:${(electric.address() as AddressInfo).port}`,
    logger: createLogger('silent'),
    introspection: true,
    graphiql: false,
  });
  a = await signUpOrg(t, 'acme');
  b = await signUpOrg(t, 'globex');
  orgA = (await system.organization.findUniqueOrThrow({ where: { slug: 'acme' } })).id;
  orgB = (await system.organization.findUniqueOrThrow({ where: { slug: 'globex' } })).id;
  adminToken = await credentials.issue('ops@example.com');
});

afterAll(async () => {
  await api?.close();
  await new Promise((resolve) => electric?.close(resolve));
  await system?.$disconnect();
  await t?.close();
});

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
    const off = await t.fetch({
      path: ADMIN_PATH,
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
      body: JSON.stringify({ query: LIST }),
    });
    expect(off.status).toBe(404);
    expect((await adminGql(LIST)).status).toBe(200);
  });

  it('keeps the request limits and CSRF prevention of the main endpoint', async () => {
    const query = encodeURIComponent('{ organizations { totalCount } }');
    const get = (headers: Record<string, string>) =>
      request(`${ADMIN_PATH}?query=${query}`, {
        headers: { authorization: `Bearer ${adminToken}`, ...headers },
      });
    expect((await get({})).status).toBe(403);
    expect((await get({ 'x-graphql-yoga-csrf': '1' })).status).toBe(200);
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
    const server = createServer(api.yoga);
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

describe('export and deletion through the job queue', () => {
  it('exportOrganization creates an export the job makes READY', async () => {
    const response = await adminGql(
      `mutation($id: ID!) { exportOrganization(id: $id) { exportId jobId } }`,
      { id: orgA },
    );
    const { exportId, jobId } = field<{ exportId: string; jobId: string }>(
      response,
      'exportOrganization',
    );
    const key = { organizationId_id: { organizationId: orgA, id: exportId } };
    expect(await system.dataExport.findUnique({ where: key })).toMatchObject({
      requestedById: null,
    });
    await jobDone('export-organization', jobId);
    const done = await system.dataExport.findUniqueOrThrow({ where: key });
    expect(done.status).toBe('READY');
    const text = await storedExport(system, exportId);
    expect(text).toContain(orgA);
    expect(text).not.toContain(orgB);
    const [entry] = await auditLog(orgA);
    expect(entry).toMatchObject({
      action: 'organization.export_requested',
      actorType: 'PLATFORM_ADMIN',
    });
    expect(JSON.parse(entry?.details ?? 'null')).toEqual({ exportId });
  });

  it('deleteOrganization removes every row of it, none of anyone else, and keeps its audit log', async () => {
    const c = await signUpOrg(t, 'initech');
    const orgC = (await system.organization.findUniqueOrThrow({ where: { slug: 'initech' } })).id;
    // Let the notify-comment jobs of the sign-ups land first, so that nothing else moves.
    await until('notifications', async () => {
      const counts = await Promise.all(
        [orgA, orgB, orgC].map((organizationId) =>
          system.notification.count({ where: { organizationId } }),
        ),
      );
      return counts.every((count) => count > 0);
    });
    // A row of every tenant-owned model from its fixture factory, so "none left" covers each.
    await createRowOfEveryModel(system, parentsOfApiOrg(orgC, c));
    const before = await rowCounts([orgA, orgB, orgC]);
    expect(Object.entries(before[orgC] ?? {}).filter(([, count]) => count === 0)).toEqual([]);
    expect(before[orgC]?.User).toBe(4);
    expect(before[orgC]?.Notification).toBeGreaterThan(0);

    const DELETE = `mutation($id: ID!) { deleteOrganization(id: $id) {
      jobId organization { id deletionRequestedAt } } }`;
    const first = field<{ jobId: string; organization: { deletionRequestedAt: string } }>(
      await adminGql(DELETE, { id: orgC }, adminToken, { 'x-request-id': 'delete-initech' }),
      'deleteOrganization',
    );
    expect(first.organization.deletionRequestedAt).toEqual(expect.any(String));
    // Its tokens stop working at once, whether or not the job has run yet.
    expect(await gql(VIEWER, {}, c.owner.token)).toFailWith('UNAUTHENTICATED');
    // A second call changes and records nothing (or finds the organization already gone).
    const second = await adminGql(DELETE, { id: orgC });
    if (second.errors) expect(codes(second)).toEqual(['NOT_FOUND']);
    else {
      expect(field<typeof first>(second, 'deleteOrganization').organization).toEqual(
        first.organization,
      );
    }
    await jobDone('delete-organization', first.jobId);
    await until(
      'the organization to be gone',
      async () => (await system.organization.findUnique({ where: { id: orgC } })) === null,
    );

    const after = await rowCounts([orgA, orgB, orgC]);
    for (const [model, count] of Object.entries(after[orgC] ?? {})) {
      if (model === 'AuditEntry') expect(count).toBeGreaterThan(0);
      else expect({ model, count }).toEqual({ model, count: 0 });
    }
    expect(after[orgA]).toEqual(before[orgA]);
    expect(after[orgB]).toEqual(before[orgB]);
    expect(
      codes(await adminGql(`query($id: ID!) { organization(id: $id) { id } }`, { id: orgC })),
    ).toEqual(['NOT_FOUND']);

    // The audit log outlives the organization, and is still readable by a platform admin.
    const entries = await auditLog(orgC);
    const actions = entries.map((e) => e.action);
    expect(actions.filter((action) => action === 'organization.deletion_requested')).toHaveLength(
      1,
    );
    expect(actions).toContain('organization.deleted');
    expect(actions).toContain('member.added');
    expect(entries.find((e) => e.action === 'organization.deletion_requested')).toMatchObject({
      actorLabel: 'ops@example.com',
      requestId: 'delete-initech',
    });
    // The others' logs hold nothing of it.
    for (const org of [orgA, orgB]) {
      expect((await auditLog(org)).map((e) => e.targetId)).not.toContain(orgC);
    }
  });

  it('deadLetterJobs lists a job that failed all of its attempts', async () => {
    const jobId = await jobs().send('export-organization', {
      organizationId: 'not-a-uuid',
      exportId: '00000000-0000-4000-8000-000000000000',
    });
    const LIST = `{ deadLetterJobs(limit: 10) { id queue data retries error createdAt failedAt } }`;
    const listed = await until('the dead letter', async () => {
      const response = await adminGql(LIST);
      const jobsListed = field<{ id: string; queue: string; data: string; error: string | null }[]>(
        response,
        'deadLetterJobs',
      );
      return jobsListed.find((job) => job.id === jobId);
    });
    expect(listed.queue).toBe('export-organization');
    expect(JSON.parse(listed.data)).toMatchObject({ organizationId: 'not-a-uuid' });
    expect(listed.error).toEqual(expect.any(String));
    expect(codes(await adminGql('{ deadLetterJobs(limit: 0) { id } }'))).toEqual([
      'BAD_USER_INPUT',
    ]);
    // A tenant cannot ask for them.
    expect(codes(await gql('{ deadLetterJobs { id } }', {}, a.owner.token))).toEqual([
      'GRAPHQL_VALIDATION_FAILED',
    ]);
  });
});

describe('without a job queue, or when it fails', () => {
  it('deletion is SERVICE_UNAVAILABLE and changes nothing; an unexpected error says nothing', async () => {
    const failing = {
      deadLetters: () =>
        Promise.reject(new Error('relation "pgboss.job" does not exist at 10.1.2.3:5432')),
    } as unknown as JobQueue;
    const logger = createLogger('silent');
    const base = { database: t.database, tokens: t.tokens, logger, introspection: false };
    const noQueue = createApi({ ...base, graphiql: false, adminSecret: TEST_SECRET });
    const broken = createApi({ ...base, graphiql: false, adminSecret: TEST_SECRET, jobs: failing });
    const call = async (target: Api, query: string) =>
      (
        await target.yoga.fetch(`http://yoga${ADMIN_PATH}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
          body: JSON.stringify({ query }),
        })
      ).text();
    try {
      const deletion = JSON.parse(
        await call(noQueue, `mutation { deleteOrganization(id: "${orgB}") { jobId } }`),
      ) as GraphQLResponse;
      expect(deletion).toFailWith('SERVICE_UNAVAILABLE');
      const row = await system.organization.findUniqueOrThrow({ where: { id: orgB } });
      expect(row.deletionRequestedAt).toBeNull();

      const text = await call(broken, '{ deadLetterJobs { id } }');
      expect(JSON.parse(text) as GraphQLResponse).toFailWith('INTERNAL_SERVER_ERROR');
      expect(text).toContain('Unexpected error.');
      expect(text).not.toMatch(/pgboss|10\.1\.2\.3|relation/);
      // Introspection follows the API's setting for admins too.
      expect(await call(broken, '{ __schema { types { name } } }')).not.toContain('Organization');
    } finally {
      await noQueue.close();
      await broken.close();
    }
    expect(field(await adminGql('{ deadLetterJobs { id } }'), 'deadLetterJobs')).toEqual(
      expect.any(Array),
    );
  });
});

/** Rows of every tenant-owned model (src/tenancy/models.ts), per organization. */
async function rowCounts(
  organizationIds: string[],
): Promise<Record<string, Record<string, number>>> {
  const delegates = system as unknown as Record<
    string,
    { count: (args: { where: { organizationId: string } }) => Promise<number> }
  >;
  const counts: Record<string, Record<string, number>> = {};
  for (const organizationId of organizationIds) {
    const perModel: Record<string, number> = {};
    for (const model of models.values()) {
      if (model.global) continue;
      const delegate = delegates[model.name.charAt(0).toLowerCase() + model.name.slice(1)];
      if (!delegate) throw new Error(`No delegate for ${model.name}`);
      perModel[model.name] = await delegate.count({ where: { organizationId } });
    }
    counts[organizationId] = perModel;
  }
  return counts;
}
