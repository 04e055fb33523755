import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { planBegin } from '../../src/db/bound-pg-client.ts';
import { type Prisma, PrismaClient } from '../../src/generated/prisma/client.ts';
import { BoundAdapterFactory, withOrganization } from '../../src/tenancy/binding.ts';
import { parseOrganizationId } from '../../src/tenancy/ids.ts';
import { forOrganization } from '../../src/tenancy/scope.ts';
import { runsOnCitus } from '../support/database.ts';
import { keyOf, useTwoTenants } from '../support/tenants.ts';

/**
 * A unit of work: one transaction bound to one organization, for a whole GraphQL operation.
 * `read` (a query operation) cannot write; on a server its statements carry the binding
 * themselves. `write` (a mutation operation) runs its parts behind savepoints and its
 * after-commit tasks after COMMIT; on a server BEGIN and the binding travel with its first
 * statement, as with a single scoped operation.
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

describe('a unit of work that writes', () => {
  const titles = async () =>
    (await t.system.post.findMany({ select: { title: true }, orderBy: { title: 'asc' } })).map(
      (post) => post.title,
    );
  const newPost = (title: string) => ({
    organizationId: t.a.org.id,
    authorId: t.a.post.authorId,
    title,
  });

  it('writes its organization only, and its writes are there for everyone once it ends', async () => {
    const work = await t.clients.write(forOrganization(t.a.org));
    await work.db.post.create({ data: newPost('written') });
    await expect(
      work.db.post.update({ where: keyOf(t.b.post), data: { title: 'stolen' } }),
    ).rejects.toThrow();
    await work.end('rollback');
    expect(await titles()).toEqual(['Hello', 'Hello']);
    // Positive control: the same write, committed.
    const again = await t.clients.write(forOrganization(t.a.org));
    await again.db.post.create({ data: newPost('written') });
    await again.end('commit');
    expect(await titles()).toEqual(['Hello', 'Hello', 'written']);
  });

  it('a part that fails leaves nothing of its writes or its tasks; the parts around it stand', async () => {
    const work = await t.clients.write(forOrganization(t.a.org));
    const ran: string[] = [];
    const seenByTask: string[][] = [];
    await work.atomic(async () => {
      await work.db.post.create({ data: newPost('first') });
      work.afterCommit(async () => {
        ran.push('first');
        seenByTask.push(await titles());
      });
    });
    await expect(
      work.atomic(async () => {
        await work.db.post.create({ data: newPost('failed') });
        work.afterCommit(() => ran.push('failed'));
        // A statement that fails in the database: the transaction is aborted until rolled back.
        await work.db.post.create({ data: { ...newPost('dup'), id: t.a.post.id } });
      }),
    ).rejects.toThrow();
    await work.atomic(async () => {
      await work.db.post.create({ data: newPost('last') });
      work.afterCommit(() => ran.push('last'));
    });
    expect(ran).toEqual([]); // nothing before COMMIT
    await work.end('commit');
    expect(ran).toEqual(['first', 'last']);
    // The task ran after COMMIT: another connection already saw every committed row.
    expect(seenByTask).toEqual([['Hello', 'Hello', 'first', 'last']]);
    expect(await titles()).toEqual(['Hello', 'Hello', 'first', 'last']);
  });

  it('rolled back: none of its tasks run', async () => {
    const work = await t.clients.write(forOrganization(t.a.org));
    const ran: string[] = [];
    await work.db.post.create({ data: newPost('never') });
    work.afterCommit(() => ran.push('never'));
    await work.end('rollback');
    expect(ran).toEqual([]);
    expect(await titles()).toEqual(['Hello', 'Hello']);
  });
});

describe('the binding rides with BEGIN', () => {
  it('is never added outside a transaction the binding opens (the system client, any other BEGIN)', () => {
    expect(planBegin('BEGIN')).toBeNull();
  });

  // The wire form on PostgreSQL; Citus' own is test/tenancy/citus-binding.test.ts.
  describe.runIf(!!process.env.TEST_DATABASE_URL && !runsOnCitus())('on a server', () => {
    const sent: string[] = [];
    const prefixes: ({ sql: string; args: string[] }[] | undefined)[] = [];
    const original = pg.Client.prototype.query;
    beforeEach(() => {
      sent.length = 0;
      prefixes.length = 0;
      pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
        const [config] = args;
        const text = typeof config === 'string' ? config : (config as { text?: string })?.text;
        if (typeof text === 'string') {
          sent.push(text);
          prefixes.push((config as { prefixes?: { sql: string; args: string[] }[] }).prefixes);
        }
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

    it("a single scoped operation: BEGIN and the binding in the statement's message, then COMMIT", async () => {
      expect(await t.dbA.post.count()).toBe(1);
      expect(sent).toHaveLength(2);
      expect(sent[0]).toContain('SELECT COUNT');
      expect(prefixes[0]).toEqual([
        { sql: 'BEGIN', args: [] },
        { sql: expect.stringContaining('scopegraph:bind'), args: ['scopegraph_app', t.a.org.id] },
      ]);
      expect(sent[1]).toBe('COMMIT');
    });

    it('a unit of work that writes: BEGIN and the binding with its first statement, nothing else of its own', async () => {
      const work = await t.clients.write(forOrganization(t.a.org));
      await work.db.post.count();
      await work.db.post.update({ where: keyOf(t.a.post), data: { title: 'written' } });
      await work.end('commit');
      expect(sent).toEqual([
        expect.stringContaining('SELECT COUNT'),
        expect.stringContaining('UPDATE'),
        'COMMIT',
      ]);
      expect(prefixes[0]?.map((prefix) => prefix.sql)).toEqual([
        'BEGIN',
        expect.stringContaining('scopegraph:bind'),
      ]);
      expect(prefixes.slice(1)).toEqual([undefined, undefined]);
      expect((await t.system.post.findUniqueOrThrow({ where: keyOf(t.a.post) })).title).toBe(
        'written',
      );
    });

    it('a unit of work that ends before any statement sends nothing', async () => {
      const work = await t.clients.write(forOrganization(t.a.org));
      await work.end('commit');
      expect(sent).toEqual([]);
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
