import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSystemClient, type SystemClient } from '../../../src/db/system.ts';
import { forOrganization } from '../../../src/tenancy/scope.ts';
import { createScopedClients, type ScopedClients } from '../../../src/tenancy/scoped-client.ts';
import { openTestDatabase, type TestDatabase } from '../../support/database.ts';
import { seedTenant, seedTwoTenants, type Tenant } from '../../support/tenants.ts';

/**
 * Writes that fail half-way leave nothing behind, and deleting an organization removes its
 * rows and no one else's: checked with the system client, which sees every tenant.
 */

// One database for the checks that need no fault injected, on PGlite and on the server.
let database: TestDatabase;
let system: SystemClient;

beforeAll(async () => {
  database = await openTestDatabase();
  system = createSystemClient(database);
});

afterAll(async () => {
  await system?.$disconnect();
  await database?.drop();
});

describe('atomic writes: a failure half-way leaves nothing behind', () => {
  let clients: ScopedClients;
  let a: Tenant;
  let b: Tenant;

  beforeAll(async () => {
    clients = createScopedClients(database.adapter);
    ({ a, b } = await seedTwoTenants(system));
  });

  afterAll(() => clients?.disconnect());

  const snapshot = async () => ({
    posts: await system.post.findMany({ orderBy: { id: 'asc' } }),
    comments: await system.comment.findMany({ orderBy: { id: 'asc' } }),
  });

  it('post.create with nested comments, one of them pointing into another tenant', async () => {
    const before = await snapshot();
    const dbA = clients.scopedDb(forOrganization(a.org));
    await expect(
      dbA.post.create({
        data: {
          organizationId: a.org.id,
          authorId: a.owner.id,
          title: 'atomic nested',
          comments: {
            create: [
              { body: 'fine', authorId: a.member.id },
              // (organization A, a user of B) matches no user: the composite foreign key fails.
              { body: 'foreign author', authorId: b.member.id },
            ],
          },
        },
      }),
    ).rejects.toMatchObject({ code: 'P2003' });
    expect(await snapshot()).toEqual(before);
  });

  it('an interactive transaction that fails after its first write', async () => {
    const before = await snapshot();
    const dbA = clients.scopedDb(forOrganization(a.org));
    const written: string[] = [];
    await expect(
      dbA.$transaction(async (tx) => {
        const post = await tx.post.create({
          data: { organizationId: a.org.id, authorId: a.owner.id, title: 'atomic interactive' },
        });
        written.push(post.id);
        await tx.comment.create({
          data: { organizationId: a.org.id, postId: post.id, authorId: b.member.id, body: 'x' },
        });
      }),
    ).rejects.toMatchObject({ code: 'P2003' });
    // The same after two good writes, when the application itself gives up.
    await expect(
      dbA.$transaction(async (tx) => {
        const post = await tx.post.create({
          data: { organizationId: a.org.id, authorId: a.owner.id, title: 'atomic interactive' },
        });
        await tx.comment.create({
          data: { organizationId: a.org.id, postId: post.id, authorId: a.member.id, body: 'x' },
        });
        written.push(post.id);
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    expect(written).toHaveLength(2); // the writes did happen inside the transactions
    expect(await snapshot()).toEqual(before);
  });

  it('a batch transaction whose second statement fails', async () => {
    const before = await snapshot();
    const dbA = clients.scopedDb(forOrganization(a.org));
    await expect(
      dbA.$transaction([
        dbA.post.create({
          data: { organizationId: a.org.id, authorId: a.owner.id, title: 'atomic batch' },
        }),
        dbA.comment.create({
          data: { organizationId: a.org.id, postId: a.post.id, authorId: b.owner.id, body: 'x' },
        }),
      ]),
    ).rejects.toMatchObject({ code: 'P2003' });
    expect(await snapshot()).toEqual(before);
    // Positive control: the same batch with an own author commits both rows.
    await dbA.$transaction([
      dbA.post.create({
        data: { organizationId: a.org.id, authorId: a.owner.id, title: 'atomic batch' },
      }),
      dbA.comment.create({
        data: { organizationId: a.org.id, postId: a.post.id, authorId: a.owner.id, body: 'x' },
      }),
    ]);
    const after = await snapshot();
    expect(after.posts).toHaveLength(before.posts.length + 1);
    expect(after.comments).toHaveLength(before.comments.length + 1);
  });
});

describe('deleting an organization', () => {
  it('removes every row of its own and none of anyone else', async () => {
    const a = await seedTenant(system, 'initech');
    const b = await seedTenant(system, 'umbrella');
    // More than one row per table, and rows of each tenant created in between the other's.
    for (const t of [a, b, a, b]) {
      const post = await system.post.create({
        data: { organizationId: t.org.id, authorId: t.member.id, title: 'more' },
      });
      await system.comment.createMany({
        data: [t.owner, t.member].map((author) => ({
          organizationId: t.org.id,
          postId: post.id,
          authorId: author.id,
          body: 'more',
        })),
      });
    }
    const rowsOf = async (organizationId: string) => ({
      organization: await system.organization.findUnique({ where: { id: organizationId } }),
      users: await system.user.findMany({ where: { organizationId }, orderBy: { id: 'asc' } }),
      posts: await system.post.findMany({ where: { organizationId }, orderBy: { id: 'asc' } }),
      comments: await system.comment.findMany({
        where: { organizationId },
        orderBy: { id: 'asc' },
      }),
    });
    const counts = (rows: Awaited<ReturnType<typeof rowsOf>>) => ({
      organization: rows.organization ? 1 : 0,
      users: rows.users.length,
      posts: rows.posts.length,
      comments: rows.comments.length,
    });
    // Everyone but A: B, and whatever other tenants the database holds.
    const othersOf = async () => ({
      organizations: await system.organization.findMany({
        where: { id: { not: a.org.id } },
        orderBy: { id: 'asc' },
      }),
      users: await system.user.findMany({
        where: { organizationId: { not: a.org.id } },
        orderBy: { id: 'asc' },
      }),
      posts: await system.post.findMany({
        where: { organizationId: { not: a.org.id } },
        orderBy: { id: 'asc' },
      }),
      comments: await system.comment.findMany({
        where: { organizationId: { not: a.org.id } },
        orderBy: { id: 'asc' },
      }),
    });
    const aBefore = await rowsOf(a.org.id);
    const bBefore = await rowsOf(b.org.id);
    const othersBefore = await othersOf();
    expect(counts(aBefore)).toEqual({ organization: 1, users: 2, posts: 3, comments: 5 });
    expect(counts(bBefore)).toEqual(counts(aBefore));

    await system.organization.delete({ where: { id: a.org.id } });

    expect(counts(await rowsOf(a.org.id))).toEqual({
      organization: 0,
      users: 0,
      posts: 0,
      comments: 0,
    });
    // Not only the counts: the other tenant's rows are exactly as they were.
    expect(await rowsOf(b.org.id)).toEqual(bBefore);
    expect(await othersOf()).toEqual(othersBefore);
  });
});
