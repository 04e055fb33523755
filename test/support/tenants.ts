import { afterAll, beforeAll, beforeEach } from 'vitest';
import { createSystemClient, type SystemClient } from '../../src/db/system.ts';
import type {
  Comment,
  DataExport,
  DataExportChunk,
  Notification,
  Organization,
  Post,
  User,
} from '../../src/generated/prisma/client.ts';
import { forOrganization } from '../../src/tenancy/scope.ts';
import {
  createScopedClients,
  type ScopedClients,
  type ScopedDb,
} from '../../src/tenancy/scoped-client.ts';
import { openTestDatabase, type TestDatabase, type TestDatabaseOptions } from './database.ts';

export type Tenant = Readonly<{
  org: Organization;
  owner: User;
  member: User;
  post: Post;
  comment: Comment;
  notification: Notification;
  dataExport: DataExport;
  dataExportChunk: DataExportChunk;
}>;

/**
 * Two organizations whose data look alike (same emails, titles and bodies), so a test that
 * finds "a row" cannot tell by content whose it is, only by organization.
 */
export async function seedTwoTenants(system: SystemClient): Promise<{ a: Tenant; b: Tenant }> {
  const a = await seedTenant(system, 'acme');
  const b = await seedTenant(system, 'globex');
  return { a, b };
}

export async function seedTenant(system: SystemClient, slug: string): Promise<Tenant> {
  const org = await system.organization.create({ data: { name: `Org ${slug}`, slug } });
  const owner = await system.user.create({
    data: {
      organizationId: org.id,
      email: 'owner@example.com',
      name: 'Olive Owner',
      role: 'OWNER',
    },
  });
  const member = await system.user.create({
    data: { organizationId: org.id, email: 'member@example.com', name: 'Max Member' },
  });
  const post = await system.post.create({
    data: { organizationId: org.id, authorId: owner.id, title: 'Hello', content: 'First post' },
  });
  const comment = await system.comment.create({
    data: { organizationId: org.id, postId: post.id, authorId: member.id, body: 'Nice' },
  });
  const notification = await system.notification.create({
    data: { organizationId: org.id, recipientId: owner.id, commentId: comment.id, kind: 'TEST' },
  });
  const dataExport = await system.dataExport.create({
    data: { organizationId: org.id, requestedById: owner.id },
  });
  const dataExportChunk = await system.dataExportChunk.create({
    data: { organizationId: org.id, exportId: dataExport.id, seq: 0, content: '{}\n' },
  });
  return { org, owner, member, post, comment, notification, dataExport, dataExportChunk };
}

/** The primary key of a tenant row, as Prisma's unique input spells it. */
export function keyOf(row: { organizationId: string; id: string }) {
  return { organizationId_id: { organizationId: row.organizationId, id: row.id } };
}

/**
 * One database per test file, reseeded with two look-alike tenants before each test. The
 * returned object's fields are filled in by the hooks.
 */
export function useTwoTenants(options: TestDatabaseOptions = {}) {
  const state = {} as {
    database: TestDatabase;
    system: SystemClient;
    clients: ScopedClients;
    a: Tenant;
    b: Tenant;
    dbA: ScopedDb;
  };
  beforeAll(async () => {
    state.database = await openTestDatabase(options);
    state.system = createSystemClient(state.database);
    state.clients = createScopedClients(state.database.adapter);
  });
  afterAll(async () => {
    await state.clients.disconnect();
    await state.system.$disconnect();
    await state.database.drop();
  });
  beforeEach(async () => {
    await state.system.organization.deleteMany();
    const { a, b } = await seedTwoTenants(state.system);
    state.a = a;
    state.b = b;
    state.dbA = state.clients.scopedDb(forOrganization(a.org));
  });
  return state;
}
