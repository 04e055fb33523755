// The binding's Citus form (src/db/bound-pg-client.ts), on any PostgreSQL server: configured on
// (`citus: true`), the pool's client binds with BEGIN and literal SET LOCALs instead of
// set_config() in an implicit transaction, the form Citus forwards to its workers. Plain
// PostgreSQL runs it too (a `citus.*` setting is a placeholder there), so CI checks it; on a real
// coordinator test/isolation/citus.test.ts shows where the statements go.
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BindingClient } from '../../src/db/bound-pg-client.ts';
import { PrefixedQuery } from '../../src/db/prefixed-query.ts';
import { APP_ROLE, BIND_SQL, citusBindStatements } from '../../src/tenancy/binding.ts';
import { forOrganization } from '../../src/tenancy/scope.ts';
import { keyOf, useTwoTenants } from '../support/tenants.ts';

type Sent = { sql: string; prefixes: string[]; suffixes: string[] };

describe('the Citus binding statements', () => {
  it('print the organization id only as a UUID, and refuse anything else', () => {
    const id = '3a9f5cfe-ee5f-4c24-bd50-4d769de84abd';
    expect(citusBindStatements(id)).toEqual([
      "SET LOCAL citus.propagate_set_commands = 'local'",
      `SET LOCAL app.organization_id = '${id}'`,
      'SET LOCAL ROLE scopegraph_app',
    ]);
    for (const hostile of ["x'; RESET ROLE; --", `${id}'`, 'not-a-uuid', ' ']) {
      expect(() => citusBindStatements(hostile)).toThrow(/organization id/);
    }
    // None bound: the policies match no row.
    expect(citusBindStatements('')).toContain("SET LOCAL app.organization_id = ''");
  });
});

describe.runIf(!!process.env.TEST_DATABASE_URL)(
  'the Citus form of the binding, on a server',
  () => {
    // One connection: what one unit of work leaves on it, the next one finds.
    const t = useTwoTenants({ citus: true, poolSize: 1 });
    const sent: Sent[] = [];
    const query = pg.Client.prototype.query;

    beforeEach(() => {
      sent.length = 0;
      // BindingClient sends through whatever pg.Client#query is at call time (as the bench counts).
      pg.Client.prototype.query = function record(this: pg.Client, ...args: unknown[]) {
        const [config] = args as [
          { text?: string; prefixes?: { sql: string }[]; suffixes?: { sql: string }[] } | string,
        ];
        if (config instanceof PrefixedQuery) {
          sent.push({
            sql: String((config as unknown as { text: string }).text),
            prefixes: config.prefixes.map((p) => p.sql),
            suffixes: config.suffixes.map((p) => p.sql),
          });
        } else if (typeof config === 'string' || typeof config?.text === 'string') {
          sent.push({
            sql: typeof config === 'string' ? config : String(config.text),
            prefixes: [],
            suffixes: [],
          });
        }
        return (query as (...a: unknown[]) => unknown).apply(this, args);
      } as typeof query;
    });
    afterEach(() => {
      pg.Client.prototype.query = query;
    });

    const binding = (organizationId: string) => citusBindStatements(organizationId);

    it('a read-only unit of work: each statement in BEGIN READ ONLY, the SET LOCALs, and COMMIT, in one message', async () => {
      const work = await t.clients.read(forOrganization(t.a.org));
      try {
        expect(await work.db.post.findMany()).toHaveLength(1);
        expect(await work.db.post.findUnique({ where: keyOf(t.b.post) })).toBeNull();
      } finally {
        await work.end('commit');
      }
      const statements = sent.filter((s) => s.sql.includes('"posts"'));
      expect(statements).toHaveLength(2);
      for (const statement of statements) {
        expect(statement.prefixes).toEqual(['BEGIN READ ONLY', ...binding(t.a.org.id)]);
        expect(statement.suffixes).toEqual(['COMMIT']);
      }
      // Nothing else went out: no BEGIN or COMMIT of their own, no set_config.
      expect(sent.filter((s) => !s.sql.includes('"posts"'))).toEqual([]);
    });

    it('a read-only unit of work cannot write, and a failed statement leaves no transaction open', async () => {
      const work = await t.clients.read(forOrganization(t.a.org));
      await expect(
        work.db.post.update({ where: keyOf(t.a.post), data: { title: 'written' } }),
      ).rejects.toThrow(/read-only/);
      await work.end('rollback');
      // The one connection was rolled back (else: "current transaction is aborted"), and holds
      // no binding: the system client on it is the owner again, with no organization set.
      expect(sent.map((s) => s.sql)).toContain('ROLLBACK');
      const after = await t.system.post.findUniqueOrThrow({ where: keyOf(t.a.post) });
      expect(after.title).toBe('Hello');
      const [state] = await t.system.$queryRawUnsafe<{ org: string | null; own_role: boolean }[]>(
        "SELECT current_setting('app.organization_id', true) AS org, current_user = session_user AS own_role",
      );
      expect(['', null]).toContain(state?.org);
      expect(state?.own_role).toBe(true);
    });

    it('a write: BEGIN and the SET LOCALs travel with its first statement; the organization stays its own', async () => {
      const work = await t.clients.write(forOrganization(t.a.org));
      try {
        await work.db.post.update({ where: keyOf(t.a.post), data: { title: 'mine' } });
        await expect(
          work.db.post.update({ where: keyOf(t.b.post), data: { title: 'stolen' } }),
        ).rejects.toThrow();
      } finally {
        await work.end('rollback');
      }
      const first = sent.find((s) => s.prefixes.length > 0);
      expect(first?.prefixes).toEqual(['BEGIN', ...binding(t.a.org.id)]);
      expect(first?.suffixes).toEqual([]);
      expect(sent.filter((s) => s.sql === 'BEGIN')).toEqual([]);
      // Rolled back: neither title changed.
      const titles = await t.system.post.findMany({ select: { title: true } });
      expect(titles.map((p) => p.title)).toEqual(['Hello', 'Hello']);
    });

    it('a single scoped operation: BEGIN and the SET LOCALs with its statement', async () => {
      expect(await t.dbA.post.count()).toBe(1);
      expect(sent.find((s) => s.sql.includes('"posts"'))?.prefixes).toEqual([
        'BEGIN',
        ...binding(t.a.org.id),
      ]);
    });

    it('an explicit bind statement in a transaction (a batch) is preceded by its SET LOCALs', async () => {
      const client = new BindingClient({ connectionString: t.database.url, citus: true });
      await client.connect();
      try {
        await client.query('BEGIN');
        await client.query({ text: BIND_SQL, values: [APP_ROLE, t.a.org.id] });
        const { rows } = await client.query(
          "SELECT current_setting('app.organization_id') AS org, current_user::text AS role",
        );
        expect(rows).toEqual([{ org: t.a.org.id, role: APP_ROLE }]);
        expect(sent.find((s) => s.sql === BIND_SQL)?.prefixes).toEqual(binding(t.a.org.id));
        await client.query('ROLLBACK');
        // What it binds is checked before anything is printed into SQL.
        await client.query('BEGIN');
        await expect(
          client.query({ text: BIND_SQL, values: [APP_ROLE, "x'; RESET ROLE; --"] }),
        ).rejects.toThrow(/Unexpected arguments/);
        await client.query('ROLLBACK');
      } finally {
        await client.end();
      }
    });

    it('Prisma loads relations with a statement each, not joins (Citus routes each to one shard)', async () => {
      const work = await t.clients.read(forOrganization(t.a.org));
      try {
        const post = await work.db.post.findFirst({ include: { author: true, comments: true } });
        expect(post?.author.id).toBe(t.a.owner.id);
        expect(post?.comments).toHaveLength(1);
      } finally {
        await work.end('commit');
      }
      const reads = sent.filter((s) => s.prefixes.length > 0).map((s) => s.sql);
      expect(reads.some((sql) => /JOIN LATERAL/i.test(sql))).toBe(false);
      expect(reads.filter((sql) => /"users"|"comments"/.test(sql)).length).toBeGreaterThanOrEqual(
        2,
      );
    });
  },
);
