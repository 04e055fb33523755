import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import type { SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import pg from 'pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  applyMigrations,
  createMigration,
  migrationStatus,
  pendingSchemaChanges,
} from '../src/db/migrations/commands.ts';
import { adminQuery, databaseUrl, uniqueName } from './support/server.ts';

const migrationsDir = fileURLToPath(new URL('../prisma/migrations', import.meta.url));
const schemaPath = fileURLToPath(new URL('../prisma/schema.prisma', import.meta.url));
const projectMigrations = (await readdir(migrationsDir, { withFileTypes: true }))
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort();

/** One un-migrated database per file: fresh in-memory PGlite, or its own database on the server. */
interface UnmigratedDatabase {
  factory: SqlMigrationAwareDriverAdapterFactory;
  query(sql: string): Promise<Record<string, unknown>[]>;
  /** Empties it again between scenarios. */
  reset(): Promise<void>;
  /** Shadow databases left on the server ([] on PGlite, whose shadows live in memory). */
  shadowDatabases(): Promise<string[]>;
  close(): Promise<void>;
}

async function openUnmigratedDatabase(): Promise<UnmigratedDatabase> {
  const resetSql = 'DROP SCHEMA public CASCADE; CREATE SCHEMA public;';
  const serverUrl = process.env.TEST_DATABASE_URL;
  if (!serverUrl) {
    const pglite = await PGlite.create();
    return {
      factory: new PrismaPGlite(pglite),
      query: async (sql) => (await pglite.query<Record<string, unknown>>(sql)).rows,
      reset: async () => void (await pglite.exec(resetSql)),
      shadowDatabases: async () => [],
      close: () => pglite.close(),
    };
  }
  const name = uniqueName('scopegraph_test_migrations');
  await adminQuery(serverUrl, `CREATE DATABASE "${name}"`);
  const pool = new pg.Pool({ connectionString: databaseUrl(serverUrl, name), max: 2 });
  return {
    factory: new PrismaPg({ connectionString: databaseUrl(serverUrl, name) }),
    query: async (sql) => (await pool.query(sql)).rows,
    reset: async () => void (await pool.query(resetSql)),
    shadowDatabases: async () =>
      (
        await pool.query<{ datname: string }>(
          "SELECT datname FROM pg_database WHERE datname LIKE 'prisma_shadow_%'",
        )
      ).rows.map((row) => row.datname),
    close: async () => {
      await pool.end();
      await adminQuery(serverUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    },
  };
}

/** A migrations folder of its own in the OS temp dir: `{ folder: sql }`. */
async function migrationsFolder(migrations: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'scopegraph-migrations-'));
  temporaryDirs.push(dir);
  for (const [folder, sql] of Object.entries(migrations)) {
    await mkdir(path.join(dir, folder));
    await writeFile(path.join(dir, folder, 'migration.sql'), sql);
  }
  return dir;
}

const temporaryDirs: string[] = [];
let db: UnmigratedDatabase;

beforeAll(async () => {
  db = await openUnmigratedDatabase();
});

afterAll(async () => {
  await db?.close();
  await Promise.all(temporaryDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('the project migrations', () => {
  it('are all pending on an empty database', async () => {
    const status = await migrationStatus(db.factory);
    expect(status).toMatchObject({ pending: projectMigrations, applied: [], upToDate: false });
  });

  it('deploy applies them all and records them in _prisma_migrations', async () => {
    const { applied } = await applyMigrations(db.factory);
    expect(applied).toEqual(projectMigrations);
    const recorded = await db.query(
      'SELECT migration_name, finished_at, logs FROM _prisma_migrations ORDER BY migration_name',
    );
    expect(recorded.map((row) => row.migration_name)).toEqual(projectMigrations);
    for (const row of recorded)
      expect(row).toMatchObject({ finished_at: expect.any(Date), logs: null });
    expect(await db.query("SELECT to_regclass('public.comments') IS NOT NULL AS exists")).toEqual([
      { exists: true },
    ]);
  });

  it('a second deploy applies nothing', async () => {
    expect(await applyMigrations(db.factory)).toEqual({ applied: [] });
  });

  it('status then reports the database as up to date', async () => {
    const status = await migrationStatus(db.factory);
    expect(status).toMatchObject({
      local: projectMigrations,
      applied: projectMigrations,
      pending: [],
      failed: [],
      edited: [],
      unknown: [],
      upToDate: true,
    });
    expect(status.summary).toContain('up to date');
  });

  it('match prisma/schema.prisma (drift check)', async () => {
    const missing = await pendingSchemaChanges(db.factory);
    expect(
      missing,
      'prisma/schema.prisma has changes that no migration makes. Run `npm run db:migration -- <name>`, ' +
        'review the new prisma/migrations/<timestamp>_<name>/migration.sql and commit it. ' +
        `The SQL it needs:\n${missing}`,
    ).toBe('');
    expect(await db.shadowDatabases()).toEqual([]);
  });
});

describe('createMigration', () => {
  it('writes the next migration in the standard layout, then nothing once in sync', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'scopegraph-migrations-'));
    temporaryDirs.push(dir);
    await cp(migrationsDir, dir, { recursive: true });
    const changedSchema = path.join(dir, 'schema.prisma');
    const widget = 'model Widget {\n  id   Int    @id\n  name String\n\n  @@map("widgets")\n}\n';
    await writeFile(changedSchema, `${await readFile(schemaPath, 'utf8')}\n${widget}`);
    const opts = { migrationsDir: dir, schemaPath: changedSchema };

    const created = await createMigration(db.factory, 'Add widgets', opts);

    expect(created?.name).toMatch(/^\d{14}_add_widgets$/);
    expect(created?.name.localeCompare(projectMigrations.at(-1) ?? '')).toBe(1);
    expect(created?.path).toBe(path.join(dir, created?.name ?? '', 'migration.sql'));
    expect(created?.sql).toContain('CREATE TABLE "widgets"');
    expect(created?.sql).not.toContain('"organizations"');
    expect(await readFile(created?.path ?? '', 'utf8')).toBe(created?.sql);
    expect(await readFile(path.join(dir, 'migration_lock.toml'), 'utf8')).toContain(
      'provider = "postgresql"',
    );
    expect(await createMigration(db.factory, 'again', opts)).toBeNull();
    expect(await db.shadowDatabases()).toEqual([]);
  });
});

describe('deploy', () => {
  it('fails loudly on a broken migration, records it as failed and applies none of it', async () => {
    await db.reset();
    const dir = await migrationsFolder({
      '20000101000000_first': 'CREATE TABLE "first" ("id" INTEGER PRIMARY KEY);',
      '20000102000000_broken':
        'CREATE TABLE "half_done" ("id" INTEGER PRIMARY KEY);\nSELECT * FROM "no_such_table";',
      '20000103000000_after': 'CREATE TABLE "after" ("id" INTEGER PRIMARY KEY);',
    });

    await expect(applyMigrations(db.factory, { migrationsDir: dir })).rejects.toThrow(
      /no_such_table[\s\S]*20000102000000_broken/,
    );

    const recorded = await db.query(
      'SELECT migration_name, finished_at IS NOT NULL AS finished FROM _prisma_migrations ORDER BY 1',
    );
    expect(recorded).toEqual([
      { migration_name: '20000101000000_first', finished: true },
      { migration_name: '20000102000000_broken', finished: false },
    ]);
    const tables = await db.query(
      "SELECT to_regclass('public.half_done') IS NULL AS rolled_back, to_regclass('public.after') IS NULL AS not_run",
    );
    expect(tables).toEqual([{ rolled_back: true, not_run: true }]);
    const status = await migrationStatus(db.factory, { migrationsDir: dir });
    expect(status).toMatchObject({
      applied: ['20000101000000_first'],
      failed: ['20000102000000_broken'],
      upToDate: false,
    });
    await expect(applyMigrations(db.factory, { migrationsDir: dir })).rejects.toThrow(
      /20000102000000_broken/,
    );
    // Replaying it in a shadow database fails too, and the shadow database is dropped anyway.
    await expect(pendingSchemaChanges(db.factory, { migrationsDir: dir })).rejects.toThrow(
      /no_such_table/,
    );
    expect(await db.shadowDatabases()).toEqual([]);
  });

  it('applies DO $$ blocks and function bodies (semicolons inside) as written', async () => {
    await db.reset();
    const dir = await migrationsFolder({
      '20000101000000_do_block': `
CREATE TABLE "flags" ("id" INTEGER PRIMARY KEY, "note" TEXT NOT NULL);

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM "flags" WHERE "id" = 1) THEN
    INSERT INTO "flags" VALUES (1, 'from a DO block; with a semicolon');
  END IF;
END
$$;

CREATE FUNCTION flag_notes() RETURNS text LANGUAGE plpgsql AS $fn$
DECLARE
  notes text;
BEGIN
  SELECT string_agg("note", ' | ') INTO notes FROM "flags";
  RETURN notes;
END;
$fn$;
`,
    });

    expect(await applyMigrations(db.factory, { migrationsDir: dir })).toEqual({
      applied: ['20000101000000_do_block'],
    });
    expect(await db.query('SELECT flag_notes() AS notes')).toEqual([
      { notes: 'from a DO block; with a semicolon' },
    ]);
  });
});
