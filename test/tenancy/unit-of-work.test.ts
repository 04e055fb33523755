import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bindOnBegin } from '../../src/tenancy/binding.ts';
import { forOrganization } from '../../src/tenancy/scope.ts';
import { keyOf, useTwoTenants } from '../support/tenants.ts';

/**
 * A unit of work (`begin`): one transaction bound to one organization, for a whole GraphQL query
 * operation. On a server, the binding travels with BEGIN in one round trip.
 */
const t = useTwoTenants();

describe('a unit of work', () => {
  it('reads only its organization, like the scoped client (positive control on the same ids)', async () => {
    const work = await t.clients.begin(forOrganization(t.a.org));
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

  it('commits what it wrote, or rolls it back', async () => {
    const kept = await t.clients.begin(forOrganization(t.a.org));
    await kept.db.post.update({ where: keyOf(t.a.post), data: { title: 'kept' } });
    await kept.end('commit');
    const dropped = await t.clients.begin(forOrganization(t.a.org));
    await dropped.db.post.update({ where: keyOf(t.a.post), data: { title: 'dropped' } });
    await dropped.end('rollback');
    expect(await t.system.post.findUniqueOrThrow({ where: keyOf(t.a.post) })).toMatchObject({
      title: 'kept',
    });
  });

  it('cannot write another organization, and ends cleanly after the refusal', async () => {
    const work = await t.clients.begin(forOrganization(t.a.org));
    await expect(
      work.db.post.update({ where: keyOf(t.b.post), data: { title: 'stolen' } }),
    ).rejects.toThrow();
    await work.end('rollback');
    expect(await t.system.post.findUniqueOrThrow({ where: keyOf(t.b.post) })).toMatchObject({
      title: 'Hello',
    });
  });

  it('gives its connection back: many more units of work than connections, one after another', async () => {
    for (let i = 0; i < 30; i++) {
      const work = await t.clients.begin(forOrganization(i % 2 ? t.a.org : t.b.org));
      expect(await work.db.post.count()).toBe(1);
      await work.end(i % 3 ? 'commit' : 'rollback');
    }
  });

  it('ending twice is harmless', async () => {
    const work = await t.clients.begin(forOrganization(t.a.org));
    await work.end('commit');
    await work.end('rollback');
  });
});

describe('the binding rides with BEGIN', () => {
  it('is never added outside a transaction the binding opens (the system client, any other BEGIN)', () => {
    expect(bindOnBegin('BEGIN')).toBeNull();
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

    it('a unit of work: one message opens the transaction and binds it, then only the reads', async () => {
      const work = await t.clients.begin(forOrganization(t.a.org));
      await work.db.post.count();
      await work.db.user.count();
      await work.end('commit');
      expect(sent).toHaveLength(4);
      expect(sent[0]).toMatch(
        /^BEGIN; SELECT \/\* scopegraph:bind \*\/ set_config\('role', 'scopegraph_app', true\), set_config\('app\.organization_id', '[0-9a-f-]{36}', true\)$/,
      );
      expect(sent[0]).toContain(t.a.org.id);
      expect(sent.slice(1, 3).every((sql) => sql.includes('SELECT COUNT'))).toBe(true);
      expect(sent[3]).toBe('COMMIT');
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
