import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSystemClient, type SystemClient } from '../../src/db/system.ts';
import { encodeGlobalId } from '../../src/schema/ids.ts';
import { TenantViolation } from '../../src/tenancy/errors.ts';
import { forOrganization } from '../../src/tenancy/scope.ts';
import { createScopedClients, type ScopedClients } from '../../src/tenancy/scoped-client.ts';
import { codes, createTestApi, field, type Org, signUpOrg, type TestApi } from '../support/api.ts';

/**
 * The tenant side of the audit log: sensitive member actions are recorded through the member's
 * scoped client, in the same transaction as the change; the OWNER reads its own organization's
 * entries and nothing else; nobody, not even the system client, changes or removes an entry.
 */
let t: TestApi;
let a: Org;
let b: Org;
let system: SystemClient;
let clients: ScopedClients;
let orgA: string;
let orgB: string;

type Entry = {
  id: string;
  action: string;
  actorType: string;
  actorId: string | null;
  actorLabel: string;
  targetType: string | null;
  targetId: string | null;
  /** Parsed from the JSON text the API returns. */
  details: unknown;
  ipAddress: string | null;
  requestId: string | null;
  createdAt: string;
};

const ENTRY_FIELDS =
  'id action actorType actorId actorLabel targetType targetId details ipAddress requestId createdAt';
const LOG = `query($first: Int, $after: String) { auditLog(first: $first, after: $after) {
  totalCount edges { cursor node { ${ENTRY_FIELDS} } } pageInfo { hasNextPage endCursor } } }`;
const PASSWORD = 'another-pass-1';

beforeAll(async () => {
  t = await createTestApi();
  a = await signUpOrg(t, 'acme');
  b = await signUpOrg(t, 'globex');
  system = createSystemClient(t.database);
  clients = createScopedClients(t.database.adapter);
  orgA = (await system.organization.findUniqueOrThrow({ where: { slug: 'acme' } })).id;
  orgB = (await system.organization.findUniqueOrThrow({ where: { slug: 'globex' } })).id;
});

afterAll(async () => {
  await clients.disconnect();
  await system.$disconnect();
  await t.close();
});

async function log(token: string, first = 100, after?: string) {
  const response = await t.gql(LOG, { first, after }, token);
  const connection = field<{
    totalCount: number;
    edges: { cursor: string; node: Entry }[];
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
  }>(response, 'auditLog');
  const entries = connection.edges.map(({ node }) => ({
    ...node,
    details: typeof node.details === 'string' ? JSON.parse(node.details) : node.details,
  }));
  return { ...connection, entries };
}

async function newest(token: string): Promise<Entry> {
  const [entry] = (await log(token, 1)).entries;
  if (!entry) throw new Error('The audit log is empty');
  return entry;
}

async function addMember(org: Org, email: string, role: 'ADMIN' | 'MEMBER') {
  const created = await t.gql(
    `mutation($input: CreateMemberInput!) { createMember(input: $input) { id } }`,
    { input: { email, name: 'Temp', password: PASSWORD, role } },
    org.owner.token,
  );
  const userId = field<{ id: string }>(created, 'createMember').id;
  const signIn = await t.gql(`mutation($input: SignInInput!) { signIn(input: $input) { token } }`, {
    input: { organizationSlug: org.slug, email, password: PASSWORD },
  });
  return { userId, token: field<{ token: string }>(signIn, 'signIn').token };
}

const CHANGE_ROLE = `mutation($userId: ID!, $role: Role!) {
  changeMemberRole(input: { userId: $userId, role: $role }) { id role } }`;
const REMOVE = `mutation($userId: ID!) { removeMember(userId: $userId) { deletedId } }`;
const VIEWER = '{ viewer { id } }';

describe('sensitive member actions are recorded', () => {
  it('a role change: the actor, the target, from/to, the address and the request id', async () => {
    const m = await addMember(a, 'role-change@example.com', 'MEMBER');
    t.sql.statements.length = 0;
    const changed = await t.gql(CHANGE_ROLE, { userId: m.userId, role: 'ADMIN' }, a.owner.token, {
      'x-forwarded-for': '198.51.100.7, 10.0.0.1',
      'x-request-id': 'role-change-1',
    });
    expect(field(changed, 'changeMemberRole')).toEqual({ id: m.userId, role: 'ADMIN' });
    expect(await newest(a.owner.token)).toMatchObject({
      action: 'member.role_changed',
      actorType: 'MEMBER',
      actorId: a.owner.userId,
      actorLabel: 'owner@example.com',
      targetType: 'User',
      targetId: m.userId,
      details: { from: 'MEMBER', to: 'ADMIN' },
      // In-process there is no socket, and X-Forwarded-For is nobody's word without TRUST_PROXY
      // (test/api/edge-guards.test.ts records it through a trusted proxy).
      ipAddress: null,
      requestId: 'role-change-1',
    });
    // The change and its entry went in one transaction: no BEGIN between the two statements.
    const statements = t.sql.statements;
    const update = statements.findIndex((sql) => /^UPDATE "public"\."users"/.test(sql));
    const insert = statements.findIndex((sql) => /^INSERT INTO "public"\."audit_log"/.test(sql));
    expect(update).toBeGreaterThan(0);
    expect(insert).toBeGreaterThan(update);
    expect(statements.slice(update, insert)).not.toContain('BEGIN');
    expect(statements.slice(0, update)).toContain('BEGIN');
  });

  it('a role "change" to the same role records nothing', async () => {
    const m = await addMember(a, 'same-role@example.com', 'MEMBER');
    const before = (await log(a.owner.token)).totalCount;
    const same = await t.gql(CHANGE_ROLE, { userId: m.userId, role: 'MEMBER' }, a.owner.token);
    expect(field(same, 'changeMemberRole')).toEqual({ id: m.userId, role: 'MEMBER' });
    expect((await log(a.owner.token)).totalCount).toBe(before);
  });

  it('an added member, and an X-Forwarded-For that is not an address is not recorded', async () => {
    const created = await t.gql(
      `mutation($input: CreateMemberInput!) { createMember(input: $input) { id } }`,
      { input: { email: 'added@example.com', name: 'Added', password: PASSWORD, role: 'MEMBER' } },
      a.admin.token,
      { 'x-forwarded-for': '<script>, 10.0.0.1' },
    );
    const userId = field<{ id: string }>(created, 'createMember').id;
    const entry = await newest(a.owner.token);
    expect(entry).toMatchObject({
      action: 'member.added',
      actorId: a.admin.userId,
      actorLabel: 'admin@example.com',
      targetId: userId,
      details: { email: 'added@example.com', role: 'MEMBER' },
      ipAddress: null,
    });
    expect(entry.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("over HTTP without a proxy, the socket's address is recorded", async () => {
    const server: Server = createServer(t.api.yoga);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const response = await fetch(`http://127.0.0.1:${port}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${a.owner.token}` },
        body: JSON.stringify({
          query: `mutation { createMember(input: { email: "socket@example.com", name: "S", password: "${PASSWORD}" }) { id } }`,
        }),
      });
      expect(response.status).toBe(200);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    const entry = await newest(a.owner.token);
    expect(entry.action).toBe('member.added');
    expect(['127.0.0.1', '::ffff:127.0.0.1']).toContain(entry.ipAddress);
  });
});

describe('removeMember', () => {
  it('an ADMIN removes a MEMBER but not the OWNER or another ADMIN; nobody removes themselves', async () => {
    const m1 = await addMember(a, 'remove-m1@example.com', 'MEMBER');
    const m2 = await addMember(a, 'remove-m2@example.com', 'ADMIN');
    // A MEMBER removes nobody.
    expect(codes(await t.gql(REMOVE, { userId: m1.userId }, a.member.token))).toEqual([
      'FORBIDDEN',
    ]);
    expect(codes(await t.gql(REMOVE, { userId: a.owner.userId }, a.admin.token))).toEqual([
      'FORBIDDEN',
    ]);
    expect(await t.gql(REMOVE, { userId: m2.userId }, a.admin.token)).toFailWith('FORBIDDEN');
    expect(codes(await t.gql(REMOVE, { userId: a.admin.userId }, a.admin.token))).toEqual([
      'BAD_USER_INPUT',
    ]);
    expect(codes(await t.gql(REMOVE, { userId: a.owner.userId }, a.owner.token))).toEqual([
      'BAD_USER_INPUT',
    ]);
    // Each refused target is still there and still signed in.
    for (const token of [m1.token, m2.token, a.admin.token, a.owner.token]) {
      expect((await t.gql(VIEWER, {}, token)).errors).toBeUndefined();
    }

    // The positive controls: the ADMIN removes the MEMBER, the OWNER removes the ADMIN.
    const byAdmin = await t.gql(REMOVE, { userId: m1.userId }, a.admin.token, {
      'x-forwarded-for': '192.0.2.44',
      'x-request-id': 'remove-1',
    });
    expect(field(byAdmin, 'removeMember')).toEqual({ deletedId: m1.userId });
    expect(await newest(a.owner.token)).toMatchObject({
      action: 'member.removed',
      actorId: a.admin.userId,
      actorLabel: 'admin@example.com',
      targetType: 'User',
      targetId: m1.userId,
      details: { email: 'remove-m1@example.com', role: 'MEMBER' },
      ipAddress: null,
      requestId: 'remove-1',
    });
    expect(await t.gql(VIEWER, {}, m1.token)).toFailWith('UNAUTHENTICATED');

    const byOwner = await t.gql(REMOVE, { userId: m2.userId }, a.owner.token);
    expect(field(byOwner, 'removeMember')).toEqual({ deletedId: m2.userId });
    expect(await newest(a.owner.token)).toMatchObject({
      action: 'member.removed',
      actorLabel: 'owner@example.com',
      targetId: m2.userId,
    });
    expect(await t.gql(VIEWER, {}, m2.token)).toFailWith('UNAUTHENTICATED');
  });

  it("another organization's member is NOT_FOUND, and stays", async () => {
    expect(codes(await t.gql(REMOVE, { userId: b.member.userId }, a.owner.token))).toEqual([
      'NOT_FOUND',
    ]);
    expect((await t.gql(VIEWER, {}, b.member.token)).errors).toBeUndefined();
    const entries = (await log(b.owner.token)).entries;
    expect(entries.map((entry) => entry.action)).not.toContain('member.removed');
    // The same call in its own organization works (on a member made for it).
    const m = await addMember(b, 'remove-b@example.com', 'MEMBER');
    expect(field(await t.gql(REMOVE, { userId: m.userId }, b.owner.token), 'removeMember')).toEqual(
      { deletedId: m.userId },
    );
  });
});

describe('auditLog', () => {
  it("the OWNER reads its own organization's entries, newest first, and none of another's", async () => {
    await system.auditEntry.createMany({
      data: [orgA, orgB].map((organizationId) => ({
        organizationId,
        actorType: 'PLATFORM_ADMIN' as const,
        actorLabel: 'seed',
        action: organizationId === orgA ? 'seed.acme' : 'seed.globex',
      })),
    });
    const ownA = await system.auditEntry.findMany({ where: { organizationId: orgA } });
    const ownB = await system.auditEntry.findMany({ where: { organizationId: orgB } });
    expect(ownB.length).toBeGreaterThan(0);

    const seenA = await log(a.owner.token);
    expect(seenA.totalCount).toBe(ownA.length);
    expect(seenA.entries.map((entry) => entry.id).sort()).toEqual(
      ownA.map((entry) => encodeGlobalId('AuditEntry', entry.id)).sort(),
    );
    expect(seenA.entries.map((entry) => entry.action)).toContain('seed.acme');
    expect(JSON.stringify(seenA)).not.toContain('seed.globex');
    const times = seenA.entries.map((entry) => Date.parse(entry.createdAt));
    expect(times).toEqual([...times].sort((x, y) => y - x));

    const seenB = await log(b.owner.token);
    expect(seenB.entries.map((entry) => entry.id).sort()).toEqual(
      ownB.map((entry) => encodeGlobalId('AuditEntry', entry.id)).sort(),
    );
    expect(JSON.stringify(seenB)).not.toContain('seed.acme');
  });

  it('pages with cursors; another organization’s cursor is an empty page', async () => {
    const all = (await log(a.owner.token)).entries;
    expect(all.length).toBeGreaterThan(4);
    const first = await log(a.owner.token, 2);
    expect(first.pageInfo.hasNextPage).toBe(true);
    const second = await log(a.owner.token, 2, first.pageInfo.endCursor ?? undefined);
    expect([...first.entries, ...second.entries].map((e) => e.id)).toEqual(
      all.slice(0, 4).map((e) => e.id),
    );
    const foreignCursor = (await log(b.owner.token, 1)).edges[0]?.cursor;
    expect(foreignCursor).toBeDefined();
    expect((await log(a.owner.token, 10, foreignCursor)).entries).toEqual([]);
  });

  it('an ADMIN and a MEMBER are FORBIDDEN, and anonymous is UNAUTHENTICATED', async () => {
    for (const token of [a.admin.token, a.member.token]) {
      const response = await t.gql(LOG, { first: 5 }, token);
      expect(response).toFailWith('FORBIDDEN');
      expect(response.data).toBeNull();
    }
    expect(await t.gql(LOG, { first: 5 })).toFailWith('UNAUTHENTICATED');
    // Not through `node` either: an AuditEntry is not a node.
    const [entry] = (await log(a.owner.token, 1)).entries;
    const viaNode = await t.gql(
      `query($id: ID!) { node(id: $id) { id } }`,
      { id: entry?.id },
      a.member.token,
    );
    expect(viaNode.data?.node ?? null).toBeNull();
  });
});

describe('entries are never changed or removed', () => {
  it('the scoped client creates and reads entries, and refuses every other operation', async () => {
    const organization = await system.organization.findUniqueOrThrow({ where: { id: orgA } });
    const db = clients.scopedDb(forOrganization(organization));
    const created = await db.auditEntry.create({
      data: {
        organizationId: orgA,
        actorType: 'MEMBER',
        actorLabel: 'scoped@example.com',
        action: 'test.scoped',
      },
    });
    const key = { organizationId_id: { organizationId: orgA, id: created.id } };
    expect(await db.auditEntry.findUnique({ where: key })).toMatchObject({ action: 'test.scoped' });
    const refused = [
      () => db.auditEntry.update({ where: key, data: { action: 'changed' } }),
      () => db.auditEntry.updateMany({ data: { action: 'changed' } }),
      () => db.auditEntry.delete({ where: key }),
      () => db.auditEntry.deleteMany({}),
      () =>
        db.auditEntry.upsert({
          where: key,
          create: {
            organizationId: orgA,
            actorType: 'MEMBER',
            actorLabel: 'x',
            action: 'x',
          },
          update: { action: 'changed' },
        }),
    ];
    for (const operation of refused) {
      await expect(operation()).rejects.toBeInstanceOf(TenantViolation);
    }
    expect(await system.auditEntry.findUnique({ where: key })).toMatchObject({
      action: 'test.scoped',
    });
  });

  it('the database refuses UPDATE and DELETE even to the system client, which can insert', async () => {
    const created = await system.auditEntry.create({
      data: {
        organizationId: orgB,
        actorType: 'PLATFORM_ADMIN',
        actorLabel: 'system',
        action: 'test.system',
      },
    });
    const key = { organizationId_id: { organizationId: orgB, id: created.id } };
    await expect(
      system.auditEntry.update({ where: key, data: { action: 'changed' } }),
    ).rejects.toThrow(/append-only/);
    await expect(system.auditEntry.delete({ where: key })).rejects.toThrow(/append-only/);
    await expect(system.auditEntry.deleteMany({ where: { organizationId: orgB } })).rejects.toThrow(
      /append-only/,
    );
    await expect(
      system.$executeRaw`UPDATE audit_log SET action = 'changed' WHERE id = ${created.id}::uuid`,
    ).rejects.toThrow(/append-only/);
    expect(await system.auditEntry.findUnique({ where: key })).toMatchObject({
      action: 'test.system',
    });
  });
});
