import { beforeEach, describe, expect, it } from 'vitest';
import { TenantViolation } from '../../src/tenancy/errors.ts';
import { modelInfo } from '../../src/tenancy/models.ts';
import {
  createRow,
  delegateName,
  type FixtureRow,
  fixtureFor,
  parentsOf,
  rowData,
  tenantModelNames,
} from '../support/fixtures.ts';
import { keyOf, type Tenant, useTwoTenants } from '../support/tenants.ts';

/**
 * Every tenant-owned model of the registry, every operation of the scoped client: the call on the other
 * tenant's row is denied (not found, nothing changed), and the same call on the caller's own
 * row, through the same client, works. The rows of both tenants look alike by content.
 */

type Row = FixtureRow;
type Delegate = Record<string, (args?: unknown) => Promise<unknown>>;

/** Every tenant-owned model a scope may change (append-only ones are tested below). */
const MODELS = tenantModelNames
  .filter((name) => !modelInfo(name).appendOnly)
  .map((name) => ({ name, model: delegateName(name) }));

/** The operations the matrix below exercises, each in a test of its own. */
const OPERATIONS = [
  'findUnique',
  'findUniqueOrThrow',
  'findFirst',
  'findFirstOrThrow',
  'findMany',
  'create',
  'createMany',
  'createManyAndReturn',
  'update',
  'updateMany',
  'updateManyAndReturn',
  'upsert',
  'delete',
  'deleteMany',
  'groupBy',
  'count',
  'aggregate',
];
// The client's delegates carry these too: MongoDB only, refused by a SQL provider.
const NOT_SQL = ['findRaw', 'aggregateRaw'];

const t = useTwoTenants();

function delegate(db: object, model: string): Delegate {
  return (db as unknown as Record<string, Delegate>)[model] as Delegate;
}

it.each(MODELS)('the matrix covers every operation of the $name delegate', ({ model }) => {
  const operations = (scoped: object) =>
    Object.keys(delegate(scoped, model)).filter(
      (key) => typeof delegate(scoped, model)[key] === 'function' && !NOT_SQL.includes(key),
    );
  expect(operations(t.dbA).sort()).toEqual([...OPERATIONS].sort());
  expect(operations(t.system).sort()).toEqual([...OPERATIONS].sort());
});

describe.each(MODELS)('$name through a scoped client', ({ name, model }) => {
  const scoped = () => delegate(t.dbA, model);
  const unscoped = () => delegate(t.system, model);
  const stored = (r: Row) => unscoped().findUnique?.({ where: keyOf(r) });
  const fixture = fixtureFor(name);
  const change = fixture.change;
  const newRow = (tenant: Tenant) => rowData(t.system, name, parentsOf(tenant));
  // A row of each tenant from the model's fixture factory, created alike.
  const rows = {} as { a: Row; b: Row };
  const row = (tenant: Tenant): Row => (tenant === t.a ? rows.a : rows.b);
  beforeEach(async () => {
    rows.a = await createRow(t.system, name, parentsOf(t.a));
    rows.b = await createRow(t.system, name, parentsOf(t.b));
  });

  it('findUnique / findUniqueOrThrow', async () => {
    expect(await scoped().findUnique?.({ where: keyOf(row(t.b)) })).toBeNull();
    // The other tenant's id under the caller's own organization is just as absent.
    expect(
      await scoped().findUnique?.({
        where: { organizationId_id: { organizationId: t.a.org.id, id: row(t.b).id } },
      }),
    ).toBeNull();
    await expect(scoped().findUniqueOrThrow?.({ where: keyOf(row(t.b)) })).rejects.toMatchObject({
      code: 'P2025',
    });
    expect(await scoped().findUnique?.({ where: keyOf(row(t.a)) })).toMatchObject({
      id: row(t.a).id,
    });
    expect(await scoped().findUniqueOrThrow?.({ where: keyOf(row(t.a)) })).toMatchObject({
      id: row(t.a).id,
    });
  });

  it('findFirst / findFirstOrThrow', async () => {
    expect(await scoped().findFirst?.({ where: { id: row(t.b).id } })).toBeNull();
    await expect(scoped().findFirstOrThrow?.({ where: { id: row(t.b).id } })).rejects.toMatchObject(
      {
        code: 'P2025',
      },
    );
    // Filtering on the other organization explicitly does not widen the scope.
    expect(await scoped().findFirst?.({ where: { organizationId: t.b.org.id } })).toBeNull();
    expect(await scoped().findFirst?.({ where: { id: row(t.a).id } })).toMatchObject({
      id: row(t.a).id,
    });
    expect(await scoped().findFirstOrThrow?.({ where: { id: row(t.a).id } })).toMatchObject({
      id: row(t.a).id,
    });
  });

  it('findMany', async () => {
    const both = { where: { id: { in: [row(t.a).id, row(t.b).id] } } };
    expect(await scoped().findMany?.(both)).toEqual([expect.objectContaining({ id: row(t.a).id })]);
    const all = (await scoped().findMany?.()) as Row[];
    expect(all.length).toBeGreaterThan(0);
    expect(all.every((r) => r.organizationId === t.a.org.id)).toBe(true);
    expect(await scoped().findMany?.({ where: { organizationId: t.b.org.id } })).toEqual([]);
  });

  it('count / aggregate / groupBy', async () => {
    expect(await scoped().count?.({ where: { id: row(t.b).id } })).toBe(0);
    expect(await scoped().count?.({ where: { id: row(t.a).id } })).toBe(1);
    const total = (await unscoped().count?.()) as number;
    const own = (await scoped().count?.()) as number;
    expect(own).toBe(total / 2);
    expect(
      await scoped().aggregate?.({
        where: { id: { in: [row(t.a).id, row(t.b).id] } },
        _count: { _all: true },
      }),
    ).toEqual({ _count: { _all: 1 } });
    expect(await scoped().groupBy?.({ by: ['organizationId'], _count: { _all: true } })).toEqual([
      { organizationId: t.a.org.id, _count: { _all: own } },
    ]);
  });

  it('update', async () => {
    await expect(scoped().update?.({ where: keyOf(row(t.b)), data: change })).rejects.toMatchObject(
      {
        code: 'P2025',
      },
    );
    expect(await stored(row(t.b))).toEqual(await stored(row(t.b)));
    expect(await stored(row(t.b))).not.toMatchObject(change);
    expect(await scoped().update?.({ where: keyOf(row(t.a)), data: change })).toMatchObject(change);
  });

  it('updateMany / updateManyAndReturn', async () => {
    expect(await scoped().updateMany?.({ where: { id: row(t.b).id }, data: change })).toEqual({
      count: 0,
    });
    expect(
      await scoped().updateManyAndReturn?.({ where: { id: row(t.b).id }, data: change }),
    ).toEqual([]);
    expect(await stored(row(t.b))).not.toMatchObject(change);
    expect(await scoped().updateMany?.({ where: { id: row(t.a).id }, data: change })).toEqual({
      count: 1,
    });
    expect(
      await scoped().updateManyAndReturn?.({ where: { id: row(t.a).id }, data: change }),
    ).toEqual([expect.objectContaining({ id: row(t.a).id, ...change })]);
  });

  it('upsert: the other tenant row is never updated', async () => {
    const created = (await scoped().upsert?.({
      where: keyOf(row(t.b)),
      create: await newRow(t.a),
      update: change,
    })) as Row;
    expect(created.organizationId).toBe(t.a.org.id);
    expect(created.id).not.toBe(row(t.b).id);
    expect(await stored(row(t.b))).not.toMatchObject(change);
    expect(
      await scoped().upsert?.({
        where: keyOf(row(t.a)),
        create: await newRow(t.a),
        update: change,
      }),
    ).toMatchObject({ id: row(t.a).id, ...change });
  });

  it('delete / deleteMany', async () => {
    await expect(scoped().delete?.({ where: keyOf(row(t.b)) })).rejects.toMatchObject({
      code: 'P2025',
    });
    expect(await scoped().deleteMany?.({ where: { id: row(t.b).id } })).toEqual({ count: 0 });
    expect(await stored(row(t.b))).not.toBeNull();
    expect(await scoped().delete?.({ where: keyOf(row(t.a)) })).toMatchObject({ id: row(t.a).id });
    expect(await stored(row(t.a))).toBeNull();
    expect(await scoped().deleteMany?.({ where: { id: row(t.a).id } })).toEqual({ count: 0 });
  });

  it('create injects the organization; naming another is refused', async () => {
    await expect(
      scoped().create?.({ data: { ...(await newRow(t.a)), organizationId: t.b.org.id } }),
    ).rejects.toBeInstanceOf(TenantViolation);
    const created = (await scoped().create?.({ data: await newRow(t.a) })) as Row;
    expect(created.organizationId).toBe(t.a.org.id);
    // Naming its own organization is allowed.
    const explicit = (await scoped().create?.({
      data: { ...(await newRow(t.a)), organizationId: t.a.org.id },
    })) as Row;
    expect(explicit.organizationId).toBe(t.a.org.id);
  });

  it('createMany / createManyAndReturn inject into every row', async () => {
    const rows = (n: number) => Promise.all(Array.from({ length: n }, () => newRow(t.a)));
    await expect(
      scoped().createMany?.({
        data: [...(await rows(1)), { ...(await rows(2))[1], organizationId: t.b.org.id }],
      }),
    ).rejects.toBeInstanceOf(TenantViolation);
    const before = (await unscoped().count?.({ where: { organizationId: t.b.org.id } })) as number;
    expect(await scoped().createMany?.({ data: await rows(3) })).toEqual({ count: 3 });
    const returned = (await scoped().createManyAndReturn?.({ data: await rows(2) })) as Row[];
    expect(returned.map((r) => r.organizationId)).toEqual([t.a.org.id, t.a.org.id]);
    expect(await unscoped().count?.({ where: { organizationId: t.b.org.id } })).toBe(before);
  });

  it('changing organizationId is refused, not ignored', async () => {
    for (const organizationId of [t.b.org.id, t.a.org.id]) {
      await expect(
        scoped().update?.({ where: keyOf(row(t.a)), data: { organizationId } }),
      ).rejects.toBeInstanceOf(TenantViolation);
      await expect(
        scoped().updateMany?.({ where: { id: row(t.a).id }, data: { organizationId } }),
      ).rejects.toBeInstanceOf(TenantViolation);
      await expect(
        scoped().upsert?.({
          where: keyOf(row(t.a)),
          create: await newRow(t.a),
          update: { organizationId },
        }),
      ).rejects.toBeInstanceOf(TenantViolation);
    }
    await expect(
      scoped().update?.({
        where: keyOf(row(t.a)),
        data: { organization: { connect: { id: t.b.org.id } } },
      }),
    ).rejects.toBeInstanceOf(TenantViolation);
    expect(await stored(row(t.a))).toMatchObject({ organizationId: t.a.org.id });
  });
});

describe('Organization (global: a scope sees only its own)', () => {
  it('reads only its own organization', async () => {
    expect(await t.dbA.organization.findMany()).toEqual([
      expect.objectContaining({ id: t.a.org.id }),
    ]);
    expect(await t.dbA.organization.findUnique({ where: { id: t.b.org.id } })).toBeNull();
    expect(await t.dbA.organization.findUnique({ where: { slug: t.b.org.slug } })).toBeNull();
    expect(await t.dbA.organization.findUnique({ where: { id: t.a.org.id } })).toMatchObject({
      slug: t.a.org.slug,
    });
    expect(await t.dbA.organization.count()).toBe(1);
  });

  it('may rename itself but not another organization', async () => {
    await expect(
      t.dbA.organization.update({ where: { id: t.b.org.id }, data: { name: 'Taken over' } }),
    ).rejects.toMatchObject({ code: 'P2025' });
    expect(await t.dbA.organization.updateMany({ data: { name: 'Everyone' } })).toEqual({
      count: 1,
    });
    expect(await t.system.organization.findUnique({ where: { id: t.b.org.id } })).toMatchObject({
      name: t.b.org.name,
    });
    await expect(
      t.dbA.organization.update({ where: { id: t.a.org.id }, data: { id: t.b.org.id } }),
    ).rejects.toBeInstanceOf(TenantViolation);
  });

  it("cannot lift its own suspension or deletion: those columns are the platform's", async () => {
    await t.system.organization.update({
      where: { id: t.a.org.id },
      data: { suspendedAt: new Date(), deletionRequestedAt: new Date() },
    });
    for (const data of [{ suspendedAt: null }, { deletionRequestedAt: null }]) {
      await expect(t.dbA.organization.update({ where: { id: t.a.org.id }, data })).rejects.toThrow(
        /permission denied/,
      );
    }
    expect(await t.system.organization.findUnique({ where: { id: t.a.org.id } })).toMatchObject({
      suspendedAt: expect.any(Date),
      deletionRequestedAt: expect.any(Date),
    });
  });

  it('cannot create or delete organizations', async () => {
    await expect(
      t.dbA.organization.create({ data: { name: 'New', slug: 'new' } }),
    ).rejects.toBeInstanceOf(TenantViolation);
    await expect(t.dbA.organization.delete({ where: { id: t.a.org.id } })).rejects.toBeInstanceOf(
      TenantViolation,
    );
    await expect(t.dbA.organization.deleteMany()).rejects.toBeInstanceOf(TenantViolation);
    expect(await t.system.organization.count()).toBe(2);
  });
});

/** Every append-only model of the registry (APPEND_ONLY_MODELS in src/tenancy/models.ts). */
const APPEND_ONLY = tenantModelNames
  .filter((name) => modelInfo(name).appendOnly)
  .map((name) => ({ name, model: delegateName(name) }));

it('the registry has append-only models for the block below to cover', () => {
  expect(APPEND_ONLY.length).toBeGreaterThan(0);
});

describe.each(APPEND_ONLY)(
  '$name (append-only: created and read, never changed)',
  ({ name, model }) => {
    const scoped = () => delegate(t.dbA, model);
    const unscoped = () => delegate(t.system, model);
    const { change } = fixtureFor(name);
    const stored = (r: Row) => unscoped().findUnique?.({ where: keyOf(r) });

    it('reads are scoped; creates inject the organization; nothing else is allowed', async () => {
      const b = await createRow(t.system, name, parentsOf(t.b));
      const data = () => rowData(t.system, name, parentsOf(t.a));
      await expect(
        scoped().create?.({ data: { ...(await data()), organizationId: t.b.org.id } }),
      ).rejects.toBeInstanceOf(TenantViolation);
      const a = (await scoped().create?.({ data: await data() })) as Row;
      expect(a.organizationId).toBe(t.a.org.id);
      expect(await scoped().createMany?.({ data: [await data()] })).toEqual({ count: 1 });
      // The positive control and the denial, through the same client.
      expect(await scoped().findUnique?.({ where: keyOf(a) })).toMatchObject({ id: a.id });
      expect(await scoped().findUnique?.({ where: keyOf(b) })).toBeNull();
      const visible = (await scoped().findMany?.()) as Row[];
      expect(visible).toHaveLength(2);
      expect(visible.every((r) => r.organizationId === t.a.org.id)).toBe(true);
      expect(await scoped().count?.({ where: { id: b.id } })).toBe(0);

      const refused = [
        () => scoped().update?.({ where: keyOf(a), data: change }),
        () => scoped().updateMany?.({ data: change }),
        () => scoped().updateManyAndReturn?.({ data: change }),
        async () => scoped().upsert?.({ where: keyOf(a), create: await data(), update: {} }),
        () => scoped().delete?.({ where: keyOf(a) }),
        () => scoped().deleteMany?.(),
      ];
      for (const call of refused) await expect(call()).rejects.toBeInstanceOf(TenantViolation);
      expect(await stored(a)).toEqual(a);
    });

    it('the database refuses to change or remove a row, even for the system client', async () => {
      const a = await createRow(t.system, name, parentsOf(t.a));
      await expect(unscoped().update?.({ where: keyOf(a), data: change })).rejects.toThrow(
        /append-only/,
      );
      await expect(unscoped().delete?.({ where: keyOf(a) })).rejects.toThrow(/append-only/);
      // Writing a new row still works (the positive control).
      await expect(createRow(t.system, name, parentsOf(t.a))).resolves.toMatchObject({
        organizationId: t.a.org.id,
      });
      expect(await stored(a)).toEqual(a);
    });
  },
);
