import { beforeEach, describe, expect, it } from 'vitest';
import { TenantViolation } from '../../src/tenancy/errors.ts';
import { modelInfo } from '../../src/tenancy/models.ts';
import { forOrganization } from '../../src/tenancy/scope.ts';
import {
  createRowOfEveryModel,
  delegateName,
  parentsOf,
  tenantModelNames,
} from '../support/fixtures.ts';
import { keyOf, useTwoTenants } from '../support/tenants.ts';

const t = useTwoTenants();

describe('nested reads', () => {
  it('include and select of to-many relations hold only own rows', async () => {
    const org = await t.dbA.organization.findUniqueOrThrow({
      where: { id: t.a.org.id },
      include: { posts: { include: { comments: true, author: true } }, users: true },
    });
    expect(org.users.map((u) => u.organizationId)).toEqual([t.a.org.id, t.a.org.id]);
    expect(org.posts).toHaveLength(1);
    expect(org.posts[0]?.comments.map((c) => c.id)).toEqual([t.a.comment.id]);
    expect(org.posts[0]?.author.id).toBe(t.a.owner.id);

    const users = await t.dbA.user.findMany({
      select: { id: true, posts: { select: { id: true, comments: { select: { id: true } } } } },
    });
    const postIds = users.flatMap((u) => u.posts.map((p) => p.id));
    expect(postIds).toEqual([t.a.post.id]);
  });

  it('_count counts only own rows', async () => {
    const post = await t.dbA.post.findUniqueOrThrow({
      where: keyOf(t.a.post),
      include: { _count: true },
    });
    // Its one own comment; every other relation of a fresh post counts nothing.
    const { comments, ...others } = post._count;
    expect(comments).toBe(1);
    expect(Object.values(others).every((count) => count === 0)).toBe(true);
    const org = await t.dbA.organization.findUniqueOrThrow({
      where: { id: t.a.org.id },
      select: { _count: { select: { users: true, posts: { where: { title: 'Hello' } } } } },
    });
    expect(org._count).toEqual({ users: 2, posts: 1 });
  });

  it('a to-one include of another tenant row is impossible: the row itself is not found', async () => {
    expect(
      await t.dbA.comment.findUnique({ where: keyOf(t.b.comment), include: { post: true } }),
    ).toBeNull();
  });
});

describe('nested writes', () => {
  it('nested create and createMany land in the scope organization', async () => {
    const post = await t.dbA.post.create({
      data: {
        organizationId: t.a.org.id,
        title: 'With comments',
        authorId: t.a.owner.id,
        comments: {
          create: [{ body: 'one', authorId: t.a.member.id }],
          createMany: { data: [{ body: 'two', authorId: t.a.owner.id }] },
        },
      },
      include: { comments: true },
    });
    expect(post.comments.map((c) => c.organizationId)).toEqual([t.a.org.id, t.a.org.id]);

    // The checked form (relations instead of foreign-key scalars) gets the organization too,
    // at every level. (Prisma's types ask for it; the walk adds it where it is missing.)
    const checked = (await (t.dbA.comment.create as (args: unknown) => Promise<unknown>)({
      data: {
        body: 'checked',
        author: { connect: keyOf(t.a.owner) },
        post: { create: { title: 'inline', author: { connect: keyOf(t.a.member) } } },
      },
      include: { post: true },
    })) as { organizationId: string; post: { organizationId: string } };
    expect(checked.organizationId).toBe(t.a.org.id);
    expect(checked.post.organizationId).toBe(t.a.org.id);
  });

  it('nested data naming another organization is refused before the t.database', async () => {
    await expect(
      t.dbA.post.create({
        data: {
          organizationId: t.a.org.id,
          title: 'x',
          authorId: t.a.owner.id,
          comments: {
            // @ts-expect-error nested rows inherit the organization: naming one is not even typed
            create: [{ body: 'x', authorId: t.a.owner.id, organizationId: t.b.org.id }],
          },
        },
      }),
    ).rejects.toBeInstanceOf(TenantViolation);
    await expect(
      t.dbA.comment.create({
        data: {
          body: 'x',
          organization: { connect: { id: t.a.org.id } },
          author: { connect: keyOf(t.a.owner) },
          post: { connect: keyOf(t.b.post) },
        },
      }),
    ).rejects.toBeInstanceOf(TenantViolation);
    await expect(
      t.dbA.post.create({
        data: {
          title: 'x',
          author: { connect: keyOf(t.a.owner) },
          organization: { connect: { id: t.b.org.id } },
        },
      }),
    ).rejects.toBeInstanceOf(TenantViolation);
    expect(await t.system.post.count({ where: { title: 'x' } })).toBe(0);
  });

  it('connect to another tenant row fails: not found, and the composite foreign key', async () => {
    // Through the relation: the other tenant's user does not exist for this scope.
    await expect(
      t.dbA.post.create({
        data: {
          title: 'stolen author',
          organization: { connect: { id: t.a.org.id } },
          author: {
            connect: { organizationId_id: { organizationId: t.a.org.id, id: t.b.owner.id } },
          },
        },
      }),
    ).rejects.toMatchObject({ code: 'P2025' });
    // As a raw foreign key: (organization A, user of B) matches no row of users.
    await expect(
      t.dbA.post.create({
        data: { organizationId: t.a.org.id, title: 'stolen author', authorId: t.b.owner.id },
      }),
    ).rejects.toMatchObject({ code: 'P2003' });
    await expect(
      t.dbA.comment.create({
        data: {
          organizationId: t.a.org.id,
          body: 'x',
          postId: t.b.post.id,
          authorId: t.a.owner.id,
        },
      }),
    ).rejects.toMatchObject({ code: 'P2003' });
    // Positive control: the same calls with own rows work.
    await expect(
      t.dbA.comment.create({
        data: {
          organizationId: t.a.org.id,
          body: 'ok',
          postId: t.a.post.id,
          authorId: t.a.owner.id,
        },
      }),
    ).resolves.toMatchObject({ organizationId: t.a.org.id });
    expect(await t.system.post.count({ where: { title: 'stolen author' } })).toBe(0);
  });

  it('nested update/delete through a relation touch only own rows', async () => {
    await t.dbA.post.update({
      where: keyOf(t.a.post),
      data: {
        comments: {
          updateMany: { where: {}, data: { body: 'bulk edited' } },
          deleteMany: { id: t.b.comment.id },
        },
      },
    });
    expect(await t.system.comment.findUnique({ where: keyOf(t.a.comment) })).toMatchObject({
      body: 'bulk edited',
    });
    expect(await t.system.comment.findUnique({ where: keyOf(t.b.comment) })).toMatchObject({
      body: 'Nice',
    });
    // Naming the other organization in a nested key is refused before the t.database...
    await expect(
      t.dbA.post.update({
        where: keyOf(t.a.post),
        data: { comments: { delete: keyOf(t.b.comment) } },
      }),
    ).rejects.toBeInstanceOf(TenantViolation);
    // ...and the other tenant's id under one's own organization is simply not connected.
    await expect(
      t.dbA.post.update({
        where: keyOf(t.a.post),
        data: {
          comments: {
            delete: { organizationId_id: { organizationId: t.a.org.id, id: t.b.comment.id } },
          },
        },
      }),
    ).rejects.toMatchObject({ code: 'P2017' });
    expect(await t.system.comment.count({ where: { organizationId: t.b.org.id } })).toBe(1);
  });
});

describe('raw SQL', () => {
  it('is refused on the scoped client and inside its transactions', async () => {
    // @ts-expect-error raw SQL does not type-check on a scoped client
    expect(() => t.dbA.$queryRaw`SELECT 1`).toThrow(TenantViolation);
    // @ts-expect-error
    expect(() => t.dbA.$executeRaw`SELECT 1`).toThrow(TenantViolation);
    // @ts-expect-error
    expect(() => t.dbA.$queryRawUnsafe('SELECT 1')).toThrow(TenantViolation);
    // @ts-expect-error
    expect(() => t.dbA.$executeRawUnsafe('SELECT 1')).toThrow(TenantViolation);
    await expect(
      t.dbA.$transaction(async (tx) => {
        await tx.$queryRawUnsafe('SELECT * FROM posts');
      }),
    ).rejects.toBeInstanceOf(TenantViolation);
    await expect(
      t.dbA.$transaction(async (tx) => {
        await tx.$executeRaw`DELETE FROM posts`;
      }),
    ).rejects.toBeInstanceOf(TenantViolation);
    expect(await t.system.post.count()).toBe(2);
  });
});

describe('transactions through the scoped client', () => {
  it('interactive transactions stay scoped', async () => {
    const result = await t.dbA.$transaction(async (tx) => {
      const posts = await tx.post.findMany();
      const foreign = await tx.post.findUnique({ where: keyOf(t.b.post) });
      const created = await tx.post.create({
        data: { organizationId: t.a.org.id, title: 'in tx', authorId: t.a.owner.id },
      });
      return { posts, foreign, created };
    });
    expect(result.posts.map((p) => p.id)).toEqual([t.a.post.id]);
    expect(result.foreign).toBeNull();
    expect(result.created.organizationId).toBe(t.a.org.id);
  });

  it('are atomic: a failure rolls back everything', async () => {
    await expect(
      t.dbA.$transaction(async (tx) => {
        await tx.post.create({
          data: { organizationId: t.a.org.id, title: 'rolled back', authorId: t.a.owner.id },
        });
        await tx.comment.create({
          data: {
            organizationId: t.a.org.id,
            body: 'x',
            postId: t.b.post.id,
            authorId: t.a.owner.id,
          },
        });
      }),
    ).rejects.toMatchObject({ code: 'P2003' });
    expect(await t.system.post.count({ where: { title: 'rolled back' } })).toBe(0);
  });

  it('batch transactions stay scoped', async () => {
    const [posts, count, foreign] = await t.dbA.$transaction([
      t.dbA.post.findMany(),
      t.dbA.comment.count(),
      t.dbA.user.findUnique({ where: keyOf(t.b.owner) }),
    ]);
    expect(posts.map((p) => p.id)).toEqual([t.a.post.id]);
    expect(count).toBe(1);
    expect(foreign).toBeNull();
  });

  it('concurrent interactive transactions of different tenants stay apart', async () => {
    const dbB = t.clients.scopedDb(forOrganization(t.b.org));
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        (i % 2 === 0 ? t.dbA : dbB).$transaction(async (tx) => {
          const posts = await tx.post.findMany();
          const users = await tx.user.count();
          return { posts, users };
        }),
      ),
    );
    results.forEach(({ posts, users }, i) => {
      expect(posts.map((p) => p.organizationId)).toEqual([i % 2 === 0 ? t.a.org.id : t.b.org.id]);
      expect(users).toBe(2);
    });
  });

  it('concurrent scoped t.clients of different tenants never see each other', async () => {
    const dbB = t.clients.scopedDb(forOrganization(t.b.org));
    const rounds = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        (i % 2 === 0 ? t.dbA : dbB).post.findUnique({
          where: keyOf(i % 2 === 0 ? t.a.post : t.b.post),
        }),
      ),
    );
    rounds.forEach((post, i) => {
      expect(post?.organizationId).toBe(i % 2 === 0 ? t.a.org.id : t.b.org.id);
    });
  });
});

/**
 * Every relation of the registry between tenant-owned models, read and written nested. Rows come
 * from the seed plus one more of every model from its fixture factory, so each relation has some.
 */
type AnyDelegate = Record<string, (args?: unknown) => Promise<unknown>>;
type AnyRow = Record<string, unknown> & { organizationId: string; id: string };
const on = (db: object, model: string) =>
  (db as unknown as Record<string, AnyDelegate>)[delegateName(model)] as AnyDelegate;

const RELATIONS = tenantModelNames.flatMap((name) =>
  [...modelInfo(name).relations.values()]
    .filter((r) => modelInfo(r.target).global === null)
    .map((r) => ({ name, ...r, label: `${name}.${r.field} → ${r.target}${r.isList ? '[]' : ''}` })),
);

describe.each(RELATIONS)('registry relation $label', ({ name, field, target, isList }) => {
  beforeEach(async () => {
    await createRowOfEveryModel(t.system, parentsOf(t.a));
    await createRowOfEveryModel(t.system, parentsOf(t.b));
  });
  const having = (organizationId: string) => ({
    organizationId,
    ...(isList ? { [field]: { some: {} } } : {}),
  });
  const rowOf = async (organizationId: string) => {
    const row = await on(t.system, name).findFirst?.({ where: having(organizationId) });
    if (!row) throw new Error(`No ${name} row with ${field}: its fixture factory should make one`);
    return row as AnyRow;
  };

  it('include reads the same related rows as the database holds for the own organization', async () => {
    // A list in a stated order: without one, its order is whatever the plan gives (on Citus,
    // where relations load by a statement each, it differs between two reads).
    const args = {
      include: { [field]: isList ? { orderBy: { id: 'asc' } } : true },
      orderBy: { id: 'asc' },
    };
    const scoped = await on(t.dbA, name).findMany?.(args);
    const system = await on(t.system, name).findMany?.({
      ...args,
      where: { organizationId: t.a.org.id },
    });
    expect(scoped).toEqual(system);
    // Positive control: some own row has related rows, all of the own organization.
    const own = (await on(t.dbA, name).findUnique?.({
      where: keyOf(await rowOf(t.a.org.id)),
      include: { [field]: true },
    })) as AnyRow;
    const related = ([] as (AnyRow | null)[]).concat(own[field] as AnyRow);
    expect(related.length).toBeGreaterThan(0);
    for (const r of related) expect(r?.organizationId).toBe(t.a.org.id);
    // The other tenant's row, with the same include, is not found at all.
    expect(
      await on(t.dbA, name).findUnique?.({
        where: keyOf(await rowOf(t.b.org.id)),
        include: { [field]: true },
      }),
    ).toBeNull();
  });

  it.skipIf(modelInfo(name).appendOnly)(
    "connect to the other tenant's row is refused, nothing changes",
    async () => {
      const own = await rowOf(t.a.org.id);
      const foreign = (await on(t.system, target).findFirst?.({
        where: { organizationId: t.b.org.id },
      })) as AnyRow;
      const stored = async () => [
        await on(t.system, name).findUnique?.({ where: keyOf(own), include: { [field]: true } }),
        await on(t.system, target).findUnique?.({ where: keyOf(foreign) }),
      ];
      const before = await stored();
      const connect = isList ? [keyOf(foreign)] : keyOf(foreign);
      await expect(
        on(t.dbA, name).update?.({ where: keyOf(own), data: { [field]: { connect } } }),
      ).rejects.toThrow();
      expect(await stored()).toEqual(before);
      // Positive control: the same connect to an own row of the target works.
      const mine = (await on(t.system, target).findFirst?.({
        where: { organizationId: t.a.org.id },
      })) as AnyRow;
      const connectOwn = isList ? [keyOf(mine)] : keyOf(mine);
      await expect(
        on(t.dbA, name).update?.({ where: keyOf(own), data: { [field]: { connect: connectOwn } } }),
      ).resolves.toMatchObject({ id: own.id });
    },
  );
});
