import { readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { tableNames } from '../../src/db/migrations/isolation.ts';
import { createSystemClient, type SystemClient } from '../../src/db/system.ts';
import { PrismaClient } from '../../src/generated/prisma/client.ts';
import {
  APP_ROLE,
  BoundAdapterFactory,
  citusBindStatements,
  withOrganization,
} from '../../src/tenancy/binding.ts';
import { parseOrganizationId } from '../../src/tenancy/ids.ts';
import { models } from '../../src/tenancy/models.ts';
import { forOrganization } from '../../src/tenancy/scope.ts';
import { createScopedClients } from '../../src/tenancy/scoped-client.ts';
import { openTestDatabase, runsOnCitus, type TestDatabase } from '../support/database.ts';
import { createRowOfEveryModel, parentsOf } from '../support/fixtures.ts';
import { keyOf, seedTwoTenants, type Tenant } from '../support/tenants.ts';

/**
 * What the database guarantees on its own, whatever the code above it does: a client with
 * only the row-level-security binding (the scoping extension left out, as if it had a bug),
 * a client with no binding at all, the application role trying to escape, and foreign keys
 * that cannot point into another tenant.
 */

let database: TestDatabase;
let system: SystemClient;
let bindingOnly: PrismaClient;
let a: Tenant;
let b: Tenant;

beforeAll(async () => {
  database = await openTestDatabase();
  system = createSystemClient(database);
  bindingOnly = new PrismaClient({ adapter: new BoundAdapterFactory(database.adapter) });
});

afterAll(async () => {
  await bindingOnly.$disconnect();
  await system.$disconnect();
  await database.drop();
});

beforeEach(async () => {
  await system.organization.deleteMany();
  ({ a, b } = await seedTwoTenants(system));
});

const asA = <T>(work: () => Promise<T>) => withOrganization(parseOrganizationId(a.org.id), work);

/** Runs statements as the application role, the way the binding does, outside Prisma's API. */
/**
 * Binds `organizationId` by hand, in a transaction: set_config, or on Citus (which forwards
 * only SET LOCAL, once told to) the statements the pool's client sends there.
 */
const bindByHand = (organizationId: string): string[] =>
  runsOnCitus()
    ? [...citusBindStatements(organizationId)]
    : [`SELECT set_config('app.organization_id', '${organizationId}', true)`];

async function asAppRole(statements: string[]): Promise<unknown> {
  return system.$transaction(async (tx) => {
    if (runsOnCitus()) await tx.$executeRawUnsafe(citusBindStatements('')[0] ?? '');
    await tx.$executeRawUnsafe(`SET LOCAL ROLE ${APP_ROLE}`);
    let last: unknown;
    for (const sql of statements) last = await tx.$queryRawUnsafe(sql);
    return last;
  });
}

describe('row-level security without the scoping extension', () => {
  it('reads only the bound organization', async () => {
    const posts = await asA(() => bindingOnly.post.findMany());
    expect(posts.map((p) => p.id)).toEqual([a.post.id]);
    expect(await asA(() => bindingOnly.user.count())).toBe(2);
    expect(await asA(() => bindingOnly.organization.findMany())).toEqual([
      expect.objectContaining({ id: a.org.id }),
    ]);
    expect(await asA(() => bindingOnly.post.findUnique({ where: keyOf(b.post) }))).toBeNull();
  });

  it('cannot write another organization', async () => {
    await expect(
      asA(() =>
        bindingOnly.post.create({
          data: { organizationId: b.org.id, authorId: b.owner.id, title: 'planted' },
        }),
      ),
    ).rejects.toThrow(/row-level security/i);
    expect(
      await asA(() =>
        bindingOnly.post.updateMany({ where: { id: b.post.id }, data: { title: 'defaced' } }),
      ),
    ).toEqual({ count: 0 });
    expect(await asA(() => bindingOnly.comment.deleteMany())).toEqual({ count: 1 });
    // Moving an own row into the other organization is refused by WITH CHECK.
    await expect(
      asA(() =>
        bindingOnly.user.update({ where: keyOf(a.member), data: { organizationId: b.org.id } }),
      ),
    ).rejects.toThrow();
    expect(await system.post.findUnique({ where: keyOf(b.post) })).toMatchObject({
      title: 'Hello',
    });
    expect(await system.comment.count({ where: { organizationId: b.org.id } })).toBe(1);
    expect(await system.user.count({ where: { organizationId: b.org.id } })).toBe(2);
  });

  it('with no organization bound: zero rows and refused inserts', async () => {
    expect(await bindingOnly.post.findMany()).toEqual([]);
    expect(await bindingOnly.organization.count()).toBe(0);
    await expect(
      bindingOnly.post.create({
        data: { organizationId: a.org.id, authorId: a.owner.id, title: 'nobody' },
      }),
    ).rejects.toThrow(/row-level security/i);
    // The fluent API is not seen by query extensions; the binding still applies.
    const dbA = createScopedClients(database.adapter).scopedDb(forOrganization(a.org));
    const comments = await dbA.post.findUnique({ where: keyOf(a.post) }).comments();
    expect(comments?.every((c) => c.organizationId === a.org.id)).toBe(true);
  });
});

describe('the application role', () => {
  it('cannot disable, bypass or escape row-level security', async () => {
    await expect(asAppRole(['ALTER TABLE posts DISABLE ROW LEVEL SECURITY'])).rejects.toThrow(
      /owner/i,
    );
    await expect(asAppRole(['ALTER TABLE posts NO FORCE ROW LEVEL SECURITY'])).rejects.toThrow(
      /owner/i,
    );
    await expect(asAppRole(['DROP POLICY tenant_isolation ON posts'])).rejects.toThrow(/owner/i);
    await expect(
      asAppRole(['SET LOCAL row_security = off', 'SELECT * FROM posts']),
    ).rejects.toThrow(/row-level security/i);
    await expect(asAppRole(['SELECT * FROM _prisma_migrations'])).rejects.toThrow(
      /permission denied/i,
    );
    // Positive control: the same role reads normally once an organization is set.
    expect(await asAppRole([...bindByHand(a.org.id), 'SELECT id FROM posts'])).toEqual([
      { id: a.post.id },
    ]);
  });

  // SET ROLE is checked against the session's login, not the current role: a session that
  // logged in as the owner could switch back with raw SQL, which is why scoped clients refuse
  // raw SQL and why production logs the API in as a member of the app role (README).
  it.runIf(database?.url ?? process.env.TEST_DATABASE_URL)(
    'a login that is a member of the app role cannot become anyone else',
    async () => {
      await system.$executeRawUnsafe(`DO $$ BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'scopegraph_test_login') THEN
          CREATE ROLE scopegraph_test_login LOGIN IN ROLE ${APP_ROLE};
        END IF; END $$`);
      const url = new URL(database.url ?? '');
      url.username = 'scopegraph_test_login';
      const client = new pg.Client({ connectionString: url.toString() });
      await client.connect();
      try {
        await expect(client.query('SET ROLE postgres')).rejects.toThrow(/permission denied/i);
        await client.query(`SET ROLE ${APP_ROLE}`);
        expect((await client.query('SELECT count(*)::int AS n FROM posts')).rows).toEqual([
          { n: 0 },
        ]);
        await client.query('BEGIN');
        for (const sql of bindByHand(a.org.id)) await client.query(sql);
        expect((await client.query('SELECT count(*)::int AS n FROM posts')).rows).toEqual([
          { n: 1 },
        ]);
        await client.query('COMMIT');
      } finally {
        await client.end();
      }
    },
  );

  it('has no BYPASSRLS, is no superuser and owns no table', async () => {
    const [role] = await system.$queryRawUnsafe<{ rolbypassrls: boolean; rolsuper: boolean }[]>(
      'SELECT rolbypassrls, rolsuper FROM pg_roles WHERE rolname = $1',
      APP_ROLE,
    );
    expect(role).toEqual({ rolbypassrls: false, rolsuper: false });
    const owned = await system.$queryRawUnsafe<unknown[]>(
      'SELECT tablename FROM pg_tables WHERE tableowner = $1',
      APP_ROLE,
    );
    expect(owned).toEqual([]);
  });
});

describe('schema guarantees for every tenant-owned table', () => {
  const tenantModels = [...models.values()].filter((m) => m.global === null);
  // The tables come from the data model (@@map honoured), not from a list kept by hand.
  const tableOf = tableNames(
    readFileSync(new URL('../../prisma/schema.prisma', import.meta.url), 'utf8'),
  );
  const tenantTables = tenantModels.map((model) => ({
    model: model.name,
    table: tableOf.get(model.name) ?? model.name,
    // Each relation over foreign-key fields needs its own composite foreign key.
    foreignKeys: [...model.relations.values()].filter((r) => r.fromFields.length > 0).length,
  }));
  const fix = (model: string, table: string, what: string) =>
    `${model} (table ${table}) ${what}: create it through \`npm run db:migration\`, which adds ` +
    `SELECT enable_tenant_isolation('"${table}"'), with the primary key @@id([organizationId, id]) ` +
    'and relations over [organizationId, <key>] in prisma/schema.prisma';

  it('every table with an organization_id column is a tenant-owned model, and the reverse', async () => {
    const tables = await system.$queryRawUnsafe<{ table_name: string }[]>(
      `SELECT table_name FROM information_schema.columns
       WHERE table_schema = 'public' AND column_name = 'organization_id' ORDER BY table_name`,
    );
    expect(tables.map((t) => t.table_name)).toEqual(tenantTables.map((t) => t.table).sort());
  });

  it.each(tenantTables)(
    '$model ($table): forced RLS, a policy, PK, indexes and foreign keys led by organization_id',
    async ({ model, table, foreignKeys: relationCount }) => {
      const [rls] = await system.$queryRawUnsafe<{ enabled: boolean; forced: boolean }[]>(
        `SELECT relrowsecurity AS enabled, relforcerowsecurity AS forced FROM pg_class
       WHERE oid = to_regclass($1)`,
        `"${table}"`,
      );
      expect(rls, fix(model, table, 'needs its table with forced row-level security')).toEqual({
        enabled: true,
        forced: true,
      });
      const policies = await system.$queryRawUnsafe<{ qual: string; with_check: string }[]>(
        'SELECT qual, with_check FROM pg_policies WHERE tablename = $1',
        table,
      );
      expect(policies, fix(model, table, 'needs exactly one tenant_isolation policy')).toHaveLength(
        1,
      );
      expect(policies[0]?.qual).toContain('app.organization_id');
      expect(policies[0]?.with_check).toContain('app.organization_id');
      const [pk] = await system.$queryRawUnsafe<{ def: string }[]>(
        `SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint
       WHERE conrelid = $1::regclass AND contype = 'p'`,
        `"${table}"`,
      );
      expect(pk?.def, fix(model, table, 'needs the primary key (organization_id, id)')).toBe(
        'PRIMARY KEY (organization_id, id)',
      );
      const indexes = await system.$queryRawUnsafe<{ indexdef: string }[]>(
        'SELECT indexdef FROM pg_indexes WHERE tablename = $1',
        table,
      );
      expect(indexes.length).toBeGreaterThan(0);
      for (const { indexdef } of indexes)
        expect(indexdef, fix(model, table, 'has an index not led by organization_id')).toMatch(
          /\(organization_id[,)]/,
        );
      const foreignKeys = await system.$queryRawUnsafe<{ def: string }[]>(
        `SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint
       WHERE conrelid = $1::regclass AND contype = 'f'`,
        `"${table}"`,
      );
      expect(
        foreignKeys.length,
        fix(model, table, `needs one foreign key per relation (${relationCount})`),
      ).toBe(relationCount);
      for (const { def } of foreignKeys) {
        const message = fix(model, table, `has a foreign key not led by organization_id: ${def}`);
        expect(def, message).toMatch(/^FOREIGN KEY \(organization_id[,)]/);
        if (!def.includes('REFERENCES organizations'))
          expect(def, message).toMatch(/\(organization_id, id\)/);
      }
    },
  );

  it('a composite foreign key stops even the owner from pointing into another tenant', async () => {
    await expect(
      system.comment.create({
        data: { organizationId: a.org.id, postId: b.post.id, authorId: a.owner.id, body: 'x' },
      }),
    ).rejects.toMatchObject({ code: 'P2003' });
    await expect(
      system.comment.create({
        data: { organizationId: a.org.id, postId: a.post.id, authorId: a.owner.id, body: 'ok' },
      }),
    ).resolves.toMatchObject({ organizationId: a.org.id });
  });

  it('emails are unique per organization, not globally', async () => {
    // Both tenants already have owner@example.com; a second one in the same tenant is refused.
    await expect(
      system.user.create({
        data: { organizationId: a.org.id, email: 'owner@example.com', name: 'Dup' },
      }),
    ).rejects.toMatchObject({ code: 'P2002' });
  });

  it('deleting an organization removes all of its rows and none of the other', async () => {
    // One more row of every model (an audit entry among them) from its fixture factory, so a new
    // model has rows in both organizations without a seed of its own.
    for (const tenant of [a, b]) await createRowOfEveryModel(system, parentsOf(tenant));
    await system.organization.delete({ where: { id: a.org.id } });
    for (const model of tenantModels) {
      const name = model.name.charAt(0).toLowerCase() + model.name.slice(1);
      const delegate = Reflect.get(system, name) as { count: (args: unknown) => Promise<number> };
      // The audit log keeps its record of the organization: it is append-only, with no foreign key.
      const left = await delegate.count({ where: { organizationId: a.org.id } });
      expect({ model: model.name, left }).toEqual({
        model: model.name,
        left: model.appendOnly ? 1 : 0,
      });
      expect(await delegate.count({ where: { organizationId: b.org.id } })).toBeGreaterThan(0);
    }
  });
});

describe('pooled connections', () => {
  it('carry no tenant setting or role after scoped work', async () => {
    const dbA = createScopedClients(database.adapter).scopedDb(forOrganization(a.org));
    await Promise.all(Array.from({ length: 20 }, () => dbA.post.findMany()));
    await dbA.$transaction(async (tx) => tx.post.count());
    const sessions = await Promise.all(
      Array.from({ length: 5 }, () =>
        system.$queryRawUnsafe<{ org: string | null; role: string }[]>(
          "SELECT current_setting('app.organization_id', true) AS org, current_user AS role",
        ),
      ),
    );
    for (const [session] of sessions) {
      expect(session?.org ?? '').toBe('');
      expect(session?.role).not.toBe(APP_ROLE);
    }
  });
});
