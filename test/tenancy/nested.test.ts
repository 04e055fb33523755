import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createSystemClient, type SystemClient } from '../../src/db/system.ts';
import { TenantViolation } from '../../src/tenancy/errors.ts';
import { forOrganization } from '../../src/tenancy/scope.ts';
import {
  createScopedClients,
  type ScopedClients,
  type ScopedDb,
} from '../../src/tenancy/scoped-client.ts';
import { openTestDatabase, type TestDatabase } from '../support/database.ts';
import { keyOf, seedTwoTenants, type Tenant } from '../support/tenants.ts';

let database: TestDatabase;
let system: SystemClient;
let clients: ScopedClients;
let a: Tenant;
let b: Tenant;
let dbA: ScopedDb;

beforeAll(async () => {
  database = await openTestDatabase();
  system = createSystemClient(database);
  clients = createScopedClients(database.adapter);
});

afterAll(async () => {
  await clients.disconnect();
  await system.$disconnect();
  await database.drop();
});

beforeEach(async () => {
  await system.organization.deleteMany();
  ({ a, b } = await seedTwoTenants(system));
  dbA = clients.scopedDb(forOrganization(a.org));
});

describe('nested reads', () => {
  it('include and select of to-many relations hold only own rows', async () => {
    const org = await dbA.organization.findUniqueOrThrow({
      where: { id: a.org.id },
      include: { posts: { include: { comments: true, author: true } }, users: true },
    });
    expect(org.users.map((u) => u.organizationId)).toEqual([a.org.id, a.org.id]);
    expect(org.posts).toHaveLength(1);
    expect(org.posts[0]?.comments.map((c) => c.id)).toEqual([a.comment.id]);
    expect(org.posts[0]?.author.id).toBe(a.owner.id);

    const users = await dbA.user.findMany({
      select: { id: true, posts: { select: { id: true, comments: { select: { id: true } } } } },
    });
    const postIds = users.flatMap((u) => u.posts.map((p) => p.id));
    expect(postIds).toEqual([a.post.id]);
  });

  it('_count counts only own rows', async () => {
    const post = await dbA.post.findUniqueOrThrow({
      where: keyOf(a.post),
      include: { _count: true },
    });
    expect(post._count).toEqual({ comments: 1 });
    const org = await dbA.organization.findUniqueOrThrow({
      where: { id: a.org.id },
      select: { _count: { select: { users: true, posts: { where: { title: 'Hello' } } } } },
    });
    expect(org._count).toEqual({ users: 2, posts: 1 });
  });

  it('a to-one include of another tenant row is impossible: the row itself is not found', async () => {
    expect(
      await dbA.comment.findUnique({ where: keyOf(b.comment), include: { post: true } }),
    ).toBeNull();
  });
});

describe('nested writes', () => {
  it('nested create and createMany land in the scope organization', async () => {
    const post = await dbA.post.create({
      data: {
        organizationId: a.org.id,
        title: 'With comments',
        authorId: a.owner.id,
        comments: {
          create: [{ body: 'one', authorId: a.member.id }],
          createMany: { data: [{ body: 'two', authorId: a.owner.id }] },
        },
      },
      include: { comments: true },
    });
    expect(post.comments.map((c) => c.organizationId)).toEqual([a.org.id, a.org.id]);

    // The checked form (relations instead of foreign-key scalars) gets the organization too,
    // at every level. (Prisma's types ask for it; the walk adds it where it is missing.)
    const checked = (await (dbA.comment.create as (args: unknown) => Promise<unknown>)({
      data: {
        body: 'checked',
        author: { connect: keyOf(a.owner) },
        post: { create: { title: 'inline', author: { connect: keyOf(a.member) } } },
      },
      include: { post: true },
    })) as { organizationId: string; post: { organizationId: string } };
    expect(checked.organizationId).toBe(a.org.id);
    expect(checked.post.organizationId).toBe(a.org.id);
  });

  it('nested data naming another organization is refused before the database', async () => {
    await expect(
      dbA.post.create({
        data: {
          organizationId: a.org.id,
          title: 'x',
          authorId: a.owner.id,
          comments: {
            // @ts-expect-error nested rows inherit the organization: naming one is not even typed
            create: [{ body: 'x', authorId: a.owner.id, organizationId: b.org.id }],
          },
        },
      }),
    ).rejects.toBeInstanceOf(TenantViolation);
    await expect(
      dbA.comment.create({
        data: {
          body: 'x',
          organization: { connect: { id: a.org.id } },
          author: { connect: keyOf(a.owner) },
          post: { connect: keyOf(b.post) },
        },
      }),
    ).rejects.toBeInstanceOf(TenantViolation);
    await expect(
      dbA.post.create({
        data: {
          title: 'x',
          author: { connect: keyOf(a.owner) },
          organization: { connect: { id: b.org.id } },
        },
      }),
    ).rejects.toBeInstanceOf(TenantViolation);
    expect(await system.post.count({ where: { title: 'x' } })).toBe(0);
  });

  it('connect to another tenant row fails: not found, and the composite foreign key', async () => {
    // Through the relation: the other tenant's user does not exist for this scope.
    await expect(
      dbA.post.create({
        data: {
          title: 'stolen author',
          organization: { connect: { id: a.org.id } },
          author: { connect: { organizationId_id: { organizationId: a.org.id, id: b.owner.id } } },
        },
      }),
    ).rejects.toMatchObject({ code: 'P2025' });
    // As a raw foreign key: (organization A, user of B) matches no row of users.
    await expect(
      dbA.post.create({
        data: { organizationId: a.org.id, title: 'stolen author', authorId: b.owner.id },
      }),
    ).rejects.toMatchObject({ code: 'P2003' });
    await expect(
      dbA.comment.create({
        data: { organizationId: a.org.id, body: 'x', postId: b.post.id, authorId: a.owner.id },
      }),
    ).rejects.toMatchObject({ code: 'P2003' });
    // Positive control: the same calls with own rows work.
    await expect(
      dbA.comment.create({
        data: { organizationId: a.org.id, body: 'ok', postId: a.post.id, authorId: a.owner.id },
      }),
    ).resolves.toMatchObject({ organizationId: a.org.id });
    expect(await system.post.count({ where: { title: 'stolen author' } })).toBe(0);
  });

  it('nested update/delete through a relation touch only own rows', async () => {
    await dbA.post.update({
      where: keyOf(a.post),
      data: {
        comments: {
          updateMany: { where: {}, data: { body: 'bulk edited' } },
          deleteMany: { id: b.comment.id },
        },
      },
    });
    expect(await system.comment.findUnique({ where: keyOf(a.comment) })).toMatchObject({
      body: 'bulk edited',
    });
    expect(await system.comment.findUnique({ where: keyOf(b.comment) })).toMatchObject({
      body: 'Nice',
    });
    // Naming the other organization in a nested key is refused before the database...
    await expect(
      dbA.post.update({
        where: keyOf(a.post),
        data: { comments: { delete: keyOf(b.comment) } },
      }),
    ).rejects.toBeInstanceOf(TenantViolation);
    // ...and the other tenant's id under one's own organization is simply not connected.
    await expect(
      dbA.post.update({
        where: keyOf(a.post),
        data: {
          comments: {
            delete: { organizationId_id: { organizationId: a.org.id, id: b.comment.id } },
          },
        },
      }),
    ).rejects.toMatchObject({ code: 'P2017' });
    expect(await system.comment.count({ where: { organizationId: b.org.id } })).toBe(1);
  });
});

describe('raw SQL', () => {
  it('is refused on the scoped client and inside its transactions', async () => {
    // @ts-expect-error raw SQL does not type-check on a scoped client
    expect(() => dbA.$queryRaw`SELECT 1`).toThrow(TenantViolation);
    // @ts-expect-error
    expect(() => dbA.$executeRaw`SELECT 1`).toThrow(TenantViolation);
    // @ts-expect-error
    expect(() => dbA.$queryRawUnsafe('SELECT 1')).toThrow(TenantViolation);
    // @ts-expect-error
    expect(() => dbA.$executeRawUnsafe('SELECT 1')).toThrow(TenantViolation);
    await expect(
      dbA.$transaction(async (tx) => {
        await tx.$queryRawUnsafe('SELECT * FROM posts');
      }),
    ).rejects.toBeInstanceOf(TenantViolation);
    await expect(
      dbA.$transaction(async (tx) => {
        await tx.$executeRaw`DELETE FROM posts`;
      }),
    ).rejects.toBeInstanceOf(TenantViolation);
    expect(await system.post.count()).toBe(2);
  });
});

describe('transactions through the scoped client', () => {
  it('interactive transactions stay scoped', async () => {
    const result = await dbA.$transaction(async (tx) => {
      const posts = await tx.post.findMany();
      const foreign = await tx.post.findUnique({ where: keyOf(b.post) });
      const created = await tx.post.create({
        data: { organizationId: a.org.id, title: 'in tx', authorId: a.owner.id },
      });
      return { posts, foreign, created };
    });
    expect(result.posts.map((p) => p.id)).toEqual([a.post.id]);
    expect(result.foreign).toBeNull();
    expect(result.created.organizationId).toBe(a.org.id);
  });

  it('are atomic: a failure rolls back everything', async () => {
    await expect(
      dbA.$transaction(async (tx) => {
        await tx.post.create({
          data: { organizationId: a.org.id, title: 'rolled back', authorId: a.owner.id },
        });
        await tx.comment.create({
          data: { organizationId: a.org.id, body: 'x', postId: b.post.id, authorId: a.owner.id },
        });
      }),
    ).rejects.toMatchObject({ code: 'P2003' });
    expect(await system.post.count({ where: { title: 'rolled back' } })).toBe(0);
  });

  it('batch transactions stay scoped', async () => {
    const [posts, count, foreign] = await dbA.$transaction([
      dbA.post.findMany(),
      dbA.comment.count(),
      dbA.user.findUnique({ where: keyOf(b.owner) }),
    ]);
    expect(posts.map((p) => p.id)).toEqual([a.post.id]);
    expect(count).toBe(1);
    expect(foreign).toBeNull();
  });

  it('concurrent interactive transactions of different tenants stay apart', async () => {
    const dbB = clients.scopedDb(forOrganization(b.org));
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        (i % 2 === 0 ? dbA : dbB).$transaction(async (tx) => {
          const posts = await tx.post.findMany();
          const users = await tx.user.count();
          return { posts, users };
        }),
      ),
    );
    results.forEach(({ posts, users }, i) => {
      expect(posts.map((p) => p.organizationId)).toEqual([i % 2 === 0 ? a.org.id : b.org.id]);
      expect(users).toBe(2);
    });
  });

  it('concurrent scoped clients of different tenants never see each other', async () => {
    const dbB = clients.scopedDb(forOrganization(b.org));
    const rounds = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        (i % 2 === 0 ? dbA : dbB).post.findUnique({ where: keyOf(i % 2 === 0 ? a.post : b.post) }),
      ),
    );
    rounds.forEach((post, i) => {
      expect(post?.organizationId).toBe(i % 2 === 0 ? a.org.id : b.org.id);
    });
  });
});
