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

/**
 * Every tenant-owned model, every operation of the scoped client: the call on the other
 * tenant's row is denied (not found, nothing changed), and the same call on the caller's own
 * row, through the same client, works. The rows of both tenants look alike by content.
 */

type Row = { organizationId: string; id: string };
type Delegate = Record<string, (args?: unknown) => Promise<unknown>>;

const MODELS = [
  {
    model: 'user',
    row: (t: Tenant): Row => t.member,
    change: { name: 'Renamed' },
    newRow: (_t: Tenant) => ({ email: 'new@example.com', name: 'New Person' }),
  },
  {
    model: 'post',
    row: (t: Tenant): Row => t.post,
    change: { title: 'Edited' },
    newRow: (t: Tenant) => ({ title: 'New post', authorId: t.owner.id }),
  },
  {
    model: 'comment',
    row: (t: Tenant): Row => t.comment,
    change: { body: 'Edited' },
    newRow: (t: Tenant) => ({ body: 'New comment', postId: t.post.id, authorId: t.owner.id }),
  },
] as const;

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

function delegate(db: ScopedDb | SystemClient, model: string): Delegate {
  return (db as unknown as Record<string, Delegate>)[model] as Delegate;
}

describe.each(MODELS)('$model through a scoped client', ({ model, row, change, newRow }) => {
  const scoped = () => delegate(dbA, model);
  const unscoped = () => delegate(system, model);
  const stored = (r: Row) => unscoped().findUnique?.({ where: keyOf(r) });

  it('findUnique / findUniqueOrThrow', async () => {
    expect(await scoped().findUnique?.({ where: keyOf(row(b)) })).toBeNull();
    // The other tenant's id under the caller's own organization is just as absent.
    expect(
      await scoped().findUnique?.({
        where: { organizationId_id: { organizationId: a.org.id, id: row(b).id } },
      }),
    ).toBeNull();
    await expect(scoped().findUniqueOrThrow?.({ where: keyOf(row(b)) })).rejects.toMatchObject({
      code: 'P2025',
    });
    expect(await scoped().findUnique?.({ where: keyOf(row(a)) })).toMatchObject({ id: row(a).id });
    expect(await scoped().findUniqueOrThrow?.({ where: keyOf(row(a)) })).toMatchObject({
      id: row(a).id,
    });
  });

  it('findFirst / findFirstOrThrow', async () => {
    expect(await scoped().findFirst?.({ where: { id: row(b).id } })).toBeNull();
    await expect(scoped().findFirstOrThrow?.({ where: { id: row(b).id } })).rejects.toMatchObject({
      code: 'P2025',
    });
    // Filtering on the other organization explicitly does not widen the scope.
    expect(await scoped().findFirst?.({ where: { organizationId: b.org.id } })).toBeNull();
    expect(await scoped().findFirst?.({ where: { id: row(a).id } })).toMatchObject({
      id: row(a).id,
    });
    expect(await scoped().findFirstOrThrow?.({ where: { id: row(a).id } })).toMatchObject({
      id: row(a).id,
    });
  });

  it('findMany', async () => {
    const both = { where: { id: { in: [row(a).id, row(b).id] } } };
    expect(await scoped().findMany?.(both)).toEqual([expect.objectContaining({ id: row(a).id })]);
    const all = (await scoped().findMany?.()) as Row[];
    expect(all.length).toBeGreaterThan(0);
    expect(all.every((r) => r.organizationId === a.org.id)).toBe(true);
    expect(await scoped().findMany?.({ where: { organizationId: b.org.id } })).toEqual([]);
  });

  it('count / aggregate / groupBy', async () => {
    expect(await scoped().count?.({ where: { id: row(b).id } })).toBe(0);
    expect(await scoped().count?.({ where: { id: row(a).id } })).toBe(1);
    const total = (await unscoped().count?.()) as number;
    const own = (await scoped().count?.()) as number;
    expect(own).toBe(total / 2);
    expect(
      await scoped().aggregate?.({
        where: { id: { in: [row(a).id, row(b).id] } },
        _count: { _all: true },
      }),
    ).toEqual({ _count: { _all: 1 } });
    expect(await scoped().groupBy?.({ by: ['organizationId'], _count: { _all: true } })).toEqual([
      { organizationId: a.org.id, _count: { _all: own } },
    ]);
  });

  it('update', async () => {
    await expect(scoped().update?.({ where: keyOf(row(b)), data: change })).rejects.toMatchObject({
      code: 'P2025',
    });
    expect(await stored(row(b))).toEqual(await stored(row(b)));
    expect(await stored(row(b))).not.toMatchObject(change);
    expect(await scoped().update?.({ where: keyOf(row(a)), data: change })).toMatchObject(change);
  });

  it('updateMany / updateManyAndReturn', async () => {
    expect(await scoped().updateMany?.({ where: { id: row(b).id }, data: change })).toEqual({
      count: 0,
    });
    expect(
      await scoped().updateManyAndReturn?.({ where: { id: row(b).id }, data: change }),
    ).toEqual([]);
    expect(await stored(row(b))).not.toMatchObject(change);
    expect(await scoped().updateMany?.({ where: { id: row(a).id }, data: change })).toEqual({
      count: 1,
    });
    expect(
      await scoped().updateManyAndReturn?.({ where: { id: row(a).id }, data: change }),
    ).toEqual([expect.objectContaining({ id: row(a).id, ...change })]);
  });

  it('upsert: the other tenant row is never updated', async () => {
    const created = (await scoped().upsert?.({
      where: keyOf(row(b)),
      create: newRow(a),
      update: change,
    })) as Row;
    expect(created.organizationId).toBe(a.org.id);
    expect(created.id).not.toBe(row(b).id);
    expect(await stored(row(b))).not.toMatchObject(change);
    expect(
      await scoped().upsert?.({ where: keyOf(row(a)), create: newRow(a), update: change }),
    ).toMatchObject({ id: row(a).id, ...change });
  });

  it('delete / deleteMany', async () => {
    await expect(scoped().delete?.({ where: keyOf(row(b)) })).rejects.toMatchObject({
      code: 'P2025',
    });
    expect(await scoped().deleteMany?.({ where: { id: row(b).id } })).toEqual({ count: 0 });
    expect(await stored(row(b))).not.toBeNull();
    expect(await scoped().delete?.({ where: keyOf(row(a)) })).toMatchObject({ id: row(a).id });
    expect(await stored(row(a))).toBeNull();
    expect(await scoped().deleteMany?.({ where: { id: row(a).id } })).toEqual({ count: 0 });
  });

  it('create injects the organization; naming another is refused', async () => {
    await expect(
      scoped().create?.({ data: { ...newRow(a), organizationId: b.org.id } }),
    ).rejects.toBeInstanceOf(TenantViolation);
    const created = (await scoped().create?.({ data: newRow(a) })) as Row;
    expect(created.organizationId).toBe(a.org.id);
    // Naming its own organization is allowed.
    const explicit = (await scoped().create?.({
      data: {
        ...newRow(a),
        ...(model === 'user' ? { email: 'x@example.com' } : {}),
        organizationId: a.org.id,
      },
    })) as Row;
    expect(explicit.organizationId).toBe(a.org.id);
  });

  it('createMany / createManyAndReturn inject into every row', async () => {
    const rows = (n: number) =>
      Array.from({ length: n }, (_, i) => ({
        ...newRow(a),
        ...(model === 'user' ? { email: `bulk${n}-${i}@example.com` } : {}),
      }));
    await expect(
      scoped().createMany?.({ data: [...rows(1), { ...rows(2)[1], organizationId: b.org.id }] }),
    ).rejects.toBeInstanceOf(TenantViolation);
    const before = (await unscoped().count?.({ where: { organizationId: b.org.id } })) as number;
    expect(await scoped().createMany?.({ data: rows(3) })).toEqual({ count: 3 });
    const returned = (await scoped().createManyAndReturn?.({ data: rows(2) })) as Row[];
    expect(returned.map((r) => r.organizationId)).toEqual([a.org.id, a.org.id]);
    expect(await unscoped().count?.({ where: { organizationId: b.org.id } })).toBe(before);
  });

  it('changing organizationId is refused, not ignored', async () => {
    for (const organizationId of [b.org.id, a.org.id]) {
      await expect(
        scoped().update?.({ where: keyOf(row(a)), data: { organizationId } }),
      ).rejects.toBeInstanceOf(TenantViolation);
      await expect(
        scoped().updateMany?.({ where: { id: row(a).id }, data: { organizationId } }),
      ).rejects.toBeInstanceOf(TenantViolation);
      await expect(
        scoped().upsert?.({ where: keyOf(row(a)), create: newRow(a), update: { organizationId } }),
      ).rejects.toBeInstanceOf(TenantViolation);
    }
    await expect(
      scoped().update?.({
        where: keyOf(row(a)),
        data: { organization: { connect: { id: b.org.id } } },
      }),
    ).rejects.toBeInstanceOf(TenantViolation);
    expect(await stored(row(a))).toMatchObject({ organizationId: a.org.id });
  });
});

describe('Organization (global: a scope sees only its own)', () => {
  it('reads only its own organization', async () => {
    expect(await dbA.organization.findMany()).toEqual([expect.objectContaining({ id: a.org.id })]);
    expect(await dbA.organization.findUnique({ where: { id: b.org.id } })).toBeNull();
    expect(await dbA.organization.findUnique({ where: { slug: b.org.slug } })).toBeNull();
    expect(await dbA.organization.findUnique({ where: { id: a.org.id } })).toMatchObject({
      slug: a.org.slug,
    });
    expect(await dbA.organization.count()).toBe(1);
  });

  it('may rename itself but not another organization', async () => {
    await expect(
      dbA.organization.update({ where: { id: b.org.id }, data: { name: 'Taken over' } }),
    ).rejects.toMatchObject({ code: 'P2025' });
    expect(await dbA.organization.updateMany({ data: { name: 'Everyone' } })).toEqual({ count: 1 });
    expect(await system.organization.findUnique({ where: { id: b.org.id } })).toMatchObject({
      name: b.org.name,
    });
    await expect(
      dbA.organization.update({ where: { id: a.org.id }, data: { id: b.org.id } }),
    ).rejects.toBeInstanceOf(TenantViolation);
  });

  it('cannot create or delete organizations', async () => {
    await expect(
      dbA.organization.create({ data: { name: 'New', slug: 'new' } }),
    ).rejects.toBeInstanceOf(TenantViolation);
    await expect(dbA.organization.delete({ where: { id: a.org.id } })).rejects.toBeInstanceOf(
      TenantViolation,
    );
    await expect(dbA.organization.deleteMany()).rejects.toBeInstanceOf(TenantViolation);
    expect(await system.organization.count()).toBe(2);
  });
});
