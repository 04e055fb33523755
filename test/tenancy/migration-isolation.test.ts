// Every tenant table a migration creates gets row-level security in the same migration, and
// `db:migration` writes it: nobody has to remember to copy the block.
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { afterAll, describe, expect, it } from 'vitest';
import { applyMigrations, createMigration } from '../../src/db/migrations/commands.ts';
import {
  distributedTables,
  tenantTables,
  withDistribution,
} from '../../src/db/migrations/distribution.ts';
import { createdTables, isolatedTables } from '../../src/db/migrations/isolation.ts';

const migrationsDir = fileURLToPath(new URL('../../prisma/migrations', import.meta.url));
const schemaPath = fileURLToPath(new URL('../../prisma/schema.prisma', import.meta.url));
const folders = (await readdir(migrationsDir, { withFileTypes: true }))
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort();
const temporaryDirs: string[] = [];
// The first tables got their hand-written policies in the migration right after (before any
// deployment); every later migration isolates the tenant tables it creates itself.
const ISOLATED_LATER: Readonly<Record<string, string>> = {
  '20261123094329_init': '20261123094330_row_level_security',
};
const migrationSql = (folder: string) =>
  readFile(path.join(migrationsDir, folder, 'migration.sql'), 'utf8');

afterAll(async () => {
  await Promise.all(temporaryDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('the project migrations', () => {
  it.each(folders)('%s isolates every tenant table it creates', async (folder) => {
    const sql = await migrationSql(folder);
    const later = ISOLATED_LATER[folder];
    const isolated = await isolatedTables(later ? sql + (await migrationSql(later)) : sql);
    const missing = (await createdTables(sql))
      .filter((t) => t.tenantOwned && !isolated.has(t.table))
      .map((t) => t.table);
    expect(
      missing,
      `prisma/migrations/${folder}/migration.sql creates tenant tables without row-level ` +
        `security. Add at its end:\n${missing.map((t) => `SELECT enable_tenant_isolation('"${t}"');`).join('\n')}\n` +
        '(append_only => true for an APPEND_ONLY_MODELS table), or create it with `npm run db:migration`.',
    ).toEqual([]);
  });
});

describe('sharding on Citus', () => {
  it('every tenant model of the registry is distributed by a migration', async () => {
    const tenant = await tenantTables(schemaPath);
    expect(tenant.length).toBeGreaterThan(5);
    const distributed = new Set<string>();
    for (const folder of folders) {
      for (const table of await distributedTables(await migrationSql(folder)))
        distributed.add(table);
    }
    const missing = tenant.filter((table) => !distributed.has(table));
    expect(
      missing,
      `Tenant tables no migration distributes on Citus. Add to the migration that creates them, ` +
        `before its foreign keys:\nSELECT distribute_tenant_tables(ARRAY[${missing.map((t) => `'"${t}"'`).join(', ')}]::regclass[]);\n` +
        '(`npm run db:migration` writes it).',
    ).toEqual([]);
  });

  it('db:migration puts the distribution before the first foreign key, after the tables', async () => {
    const sql = [
      'CREATE TYPE "Kind" AS ENUM (\'A\');',
      'CREATE TABLE "projects" ("organization_id" UUID NOT NULL, "id" UUID NOT NULL);',
      'CREATE TABLE "widgets" ("id" INTEGER NOT NULL);',
      '',
      '-- AddForeignKey',
      'ALTER TABLE "projects" ADD CONSTRAINT "projects_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE NO ACTION;',
      '',
    ].join('\n');
    const written = await withDistribution(sql, '\n-- isolation\n');
    const call = `SELECT distribute_tenant_tables(ARRAY['"projects"']::regclass[]);`;
    expect(written).toContain(call);
    expect(written.indexOf('-- isolation')).toBeLessThan(written.indexOf(call));
    expect(written.indexOf(call)).toBeGreaterThan(written.indexOf('CREATE TABLE "widgets"'));
    expect(written.indexOf(call)).toBeLessThan(written.indexOf('-- AddForeignKey'));
    expect([...(await distributedTables(written))]).toEqual(['projects']);
    // What Prisma wrote is all still there, in order.
    expect(
      written.replace('\n-- isolation\n', '').replace(/\n-- Sharding[^\n]*\n[^\n]*\n/, ''),
    ).toBe(sql.replace(/;\n(?=\n-- AddForeignKey)/, ';\n\n'));
    // An enum alone still gets the call (its cast); a migration with neither, nothing.
    expect(await withDistribution('CREATE TYPE "K" AS ENUM (\'A\');', '')).toContain(
      'SELECT distribute_tenant_tables(ARRAY[]::regclass[]);',
    );
    expect(await withDistribution('ALTER TABLE "posts" ADD COLUMN "x" TEXT;', '')).toBe(
      'ALTER TABLE "posts" ADD COLUMN "x" TEXT;',
    );
  });
});

describe('db:migration', () => {
  // A throwaway tenant model, a throwaway append-only one and a global one, in a copy of the schema.
  const added = `
model Project {
  organizationId String   @map("organization_id") @db.Uuid
  id             String   @default(uuid(7)) @db.Uuid
  name           String
  @@id([organizationId, id])
  @@map("projects")
}

model ProjectEvent {
  organizationId String @map("organization_id") @db.Uuid
  id             String @default(uuid(7)) @db.Uuid
  @@id([organizationId, id])
}

model Widget {
  id Int @id
  @@map("widgets")
}
`;

  it('writes the isolation for each new tenant table, and it applies', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'scopegraph-isolation-'));
    temporaryDirs.push(dir);
    await cp(migrationsDir, dir, { recursive: true });
    const changedSchema = path.join(dir, 'schema.prisma');
    await writeFile(changedSchema, `${await readFile(schemaPath, 'utf8')}\n${added}`);
    const opts = {
      migrationsDir: dir,
      schemaPath: changedSchema,
      appendOnlyModels: new Set(['ProjectEvent']),
    };
    const pglite = await PGlite.create();
    try {
      const factory = new PrismaPGlite(pglite);
      const created = await createMigration(factory, 'add_project', opts);
      expect(created?.sql).toContain(`SELECT enable_tenant_isolation('"projects"');`);
      expect(created?.sql).toContain(
        `SELECT enable_tenant_isolation('"ProjectEvent"', append_only => true);`,
      );
      expect(created?.sql).not.toContain(`'"widgets"'`);
      expect([...(await distributedTables(created?.sql ?? ''))].sort()).toEqual([
        'ProjectEvent',
        'projects',
      ]);
      // The guard above reads these calls, and misses a table once its call is gone.
      const sql = created?.sql ?? '';
      expect([...(await isolatedTables(sql))].sort()).toEqual(['ProjectEvent', 'projects']);
      const withoutCall = sql.replace(`SELECT enable_tenant_isolation('"projects"');`, '');
      expect([...(await isolatedTables(withoutCall))]).toEqual(['ProjectEvent']);

      await applyMigrations(factory, opts);
      const { rows } = await pglite.query(
        `SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
                (SELECT count(*)::int FROM pg_policy p WHERE p.polrelid = c.oid
                   AND p.polname = 'tenant_isolation') AS policies,
                (SELECT count(*)::int FROM pg_trigger t WHERE t.tgrelid = c.oid
                   AND t.tgname = 'append_only') AS triggers,
                has_table_privilege('scopegraph_app', c.oid, 'UPDATE') AS can_update
           FROM pg_class c WHERE c.relname IN ('projects', 'ProjectEvent', 'widgets')
          ORDER BY c.relname`,
      );
      expect(rows).toEqual([
        {
          relname: 'ProjectEvent',
          relrowsecurity: true,
          relforcerowsecurity: true,
          policies: 1,
          triggers: 1,
          can_update: false,
        },
        {
          relname: 'projects',
          relrowsecurity: true,
          relforcerowsecurity: true,
          policies: 1,
          triggers: 0,
          can_update: true,
        },
        {
          relname: 'widgets',
          relrowsecurity: false,
          relforcerowsecurity: false,
          policies: 0,
          triggers: 0,
          can_update: false,
        },
      ]);
    } finally {
      await pglite.close();
    }
  });
});
