import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { planBegin } from '../../src/db/bound-pg-client.ts';
import { type Prisma, PrismaClient } from '../../src/generated/prisma/client.ts';
import { BoundAdapterFactory, withOrganization } from '../../src/tenancy/binding.ts';
import { parseOrganizationId } from '../../src/tenancy/ids.ts';
import { forOrganization } from '../../src/tenancy/scope.ts';
import { keyOf, useTwoTenants } from '../support/tenants.ts';

/**
 * A read-only unit of work (`read`): one transaction bound to one organization, for a whole
 * GraphQL query operation. On a server its statements carry the binding themselves; a single
 * scoped operation's BEGIN carries it.
 */
const t = useTwoTenants();

describe('a unit of work', () => {
  it('reads only its organization, like the scoped client (positive control on the same ids)', async () => {
    const work = await t.clients.read(forOrganization(t.a.org));
    try {
      expect(await work.db.post.findUnique({ where: keyOf(t.a.post) })).toMatchObject({
        id: t.a.post.id,
      });
      expect(await work.db.post.findUnique({ where: keyOf(t.b.post) })).toBeNull();
      expect(await work.db.post.findMany()).toHaveLength(1);
      expect(await work.db.comment.count()).toBe(1);
    } finally {
      await work.end('commit');
    }
  });

  it('cannot write, not even its own organization (and ends cleanly after the refusal)', async () => {
    const work = await t.clients.read(forOrganization(t.a.org));
    await expect(
      work.db.post.update({ where: keyOf(t.a.post), data: { title: 'written' } }),
    ).rejects.toThrow(/read-only/);
    await work.end('rollback');
    const own = await t.system.post.findUniqueOrThrow({ where: keyOf(t.a.post) });
    expect(own.title).toBe('Hello');
    // Positive control: the same update through the scoped client is allowed.
    await t.dbA.post.update({ where: keyOf(t.a.post), data: { title: 'written' } });
    expect((await t.system.post.findUniqueOrThrow({ where: keyOf(t.a.post) })).title).toBe(
      'written',
    );
  });

  it('cannot write another organization either', async () => {
    const work = await t.clients.read(forOrganization(t.a.org));
    await expect(
      work.db.post.update({ where: keyOf(t.b.post), data: { title: 'stolen' } }),
    ).rejects.toThrow();
    await work.end('commit');
    expect(await t.system.post.findUniqueOrThrow({ where: keyOf(t.b.post) })).toMatchObject({
      title: 'Hello',
    });
  });

  it('gives its connection back: many more units of work than connections, one after another', async () => {
    for (let i = 0; i < 30; i++) {
      const work = await t.clients.read(forOrganization(i % 2 ? t.a.org : t.b.org));
      expect(await work.db.post.count()).toBe(1);
      await work.end(i % 3 ? 'commit' : 'rollback');
    }
  });

  it('ending twice is harmless', async () => {
    const work = await t.clients.read(forOrganization(t.a.org));
    await work.end('commit');
    await work.end('rollback');
  });
});

describe('the binding rides with BEGIN', () => {
  it('is never added outside a transaction the binding opens (the system client, any other BEGIN)', () => {
    expect(planBegin('BEGIN')).toBeNull();
  });

  describe.runIf(!!process.env.TEST_DATABASE_URL)('on a server', () => {
    const sent: string[] = [];
    const original = pg.Client.prototype.query;
    beforeEach(() => {
      sent.length = 0;
      pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
        const [config] = args;
        const text = typeof config === 'string' ? config : (config as { text?: string })?.text;
        if (typeof text === 'string') sent.push(text);
        return (original as (...a: unknown[]) => unknown).apply(this, args);
      } as typeof original;
    });
    afterEach(() => {
      pg.Client.prototype.query = original;
    });

    it('a read-only unit of work: no BEGIN or COMMIT is sent; every statement carries the binding', async () => {
      const work = await t.clients.read(forOrganization(t.a.org));
      await work.db.post.count();
      await work.db.user.count();
      await work.end('commit');
      expect(sent).toHaveLength(2);
      expect(sent.every((sql) => sql.includes('SELECT COUNT'))).toBe(true);
      // The binding travels inside each statement's message (checked on the wire below).
    });

    it('the database itself sees each statement bound and read-only (no scoping extension in the way)', async () => {
      // Only the binding: a bare PrismaClient over the bound adapter, as the pool's owner login.
      // Unbound, its reads would see every organization (the owner bypasses RLS).
      const bindingOnly = new PrismaClient({
        adapter: new BoundAdapterFactory(t.database.adapter),
      });
      try {
        const asA = <T>(work: (tx: Prisma.TransactionClient) => Promise<T>) =>
          withOrganization(
            parseOrganizationId(t.a.org.id),
            () => bindingOnly.$transaction((tx) => work(tx)),
            { readOnly: true },
          );
        const rows = await asA((tx) => tx.post.findMany({ select: { organizationId: true } }));
        expect(rows).toEqual([{ organizationId: t.a.org.id }]);
        await expect(
          asA((tx) => tx.post.updateMany({ data: { title: 'written' } })),
        ).rejects.toThrow(/read-only/);
        expect(sent.some((sql) => sql === 'BEGIN' || sql.startsWith('BEGIN;'))).toBe(false);
        // Positive control: the same client, no binding: the owner sees both organizations.
        expect(await bindingOnly.organization.count()).toBe(0); // bound to nothing: fail closed
        expect(await t.system.post.count()).toBe(2);
      } finally {
        await bindingOnly.$disconnect();
      }
    });

    it('a single scoped operation: BEGIN with the binding, the statement, COMMIT (no separate bind)', async () => {
      expect(await t.dbA.post.count()).toBe(1);
      expect(sent).toHaveLength(3);
      expect(sent[0]).toContain(t.a.org.id);
      expect(sent.filter((sql) => sql.includes('scopegraph:bind'))).toHaveLength(1);
    });

    it('concurrent operations of two organizations each bind their own', async () => {
      const dbB = t.clients.scopedDb(forOrganization(t.b.org));
      const counts = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          i % 2
            ? t.dbA.post.findMany({ select: { organizationId: true } })
            : dbB.post.findMany({ select: { organizationId: true } }),
        ),
      );
      counts.forEach((rows, i) => {
        expect(rows).toEqual([{ organizationId: i % 2 ? t.a.org.id : t.b.org.id }]);
      });
    });
  });
});
