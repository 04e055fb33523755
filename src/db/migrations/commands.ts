// Prisma migrations without the native schema engine (it cannot be downloaded here): Prisma's own
// engine compiled to WebAssembly (engine.ts), driven through a driver adapter (adapters.ts). It
// reads and writes the standard prisma/migrations layout (folder.ts) and `_prisma_migrations`
// table, so the ordinary Prisma CLI still works on the same folder and databases wherever the
// native binary can be had. This file holds the commands, named after the Prisma CLI's.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type {
  SqlDriverAdapter,
  SqlMigrationAwareDriverAdapterFactory,
} from '@prisma/driver-adapter-utils';
import type { MigrationList, SchemaContainer, SchemaEngine } from '@prisma/schema-engine-wasm';
import { NO_FILTERS, withEngine } from './engine.ts';
import {
  LOCKFILE,
  LOCKFILE_CONTENT,
  migrationSlug,
  migrationTimestamp,
  readMigrations,
  resolveMigrationsDir,
  resolveSchemaPath,
} from './folder.ts';

export interface MigrationOptions {
  /** Models whose tables get the append-only isolation (default: none; the CLI passes APPEND_ONLY_MODELS). */
  appendOnlyModels?: ReadonlySet<string>;
  /** Defaults to the project's prisma/migrations. */
  migrationsDir?: string;
  /** Defaults to the project's prisma/schema.prisma. */
  schemaPath?: string;
}

export interface CreatedMigration {
  /** The folder name, `<YYYYMMDDHHMMSS>_<name>`. */
  name: string;
  /** The migration.sql that was written. */
  path: string;
  sql: string;
}

export interface MigrationStatus {
  /** Migration folders on disk, in the order they apply. */
  local: string[];
  /** Recorded as finished in `_prisma_migrations`, in the order they ran. */
  applied: string[];
  /** On disk, not yet applied. */
  pending: string[];
  /** Started and not finished: the database needs a hand before anything else can apply. */
  failed: string[];
  /** Applied, but their migration.sql has changed since. */
  edited: string[];
  /** Recorded in the database, missing from the folder. */
  unknown: string[];
  upToDate: boolean;
  /** Human-readable, several lines. */
  summary: string;
}

function migrationsDirOf(opts: MigrationOptions): string {
  return resolveMigrationsDir(opts.migrationsDir);
}

function schemaPathOf(opts: MigrationOptions): string {
  return resolveSchemaPath(opts.schemaPath);
}

/** Applies the pending migrations, like `prisma migrate deploy`. */
export async function applyMigrations(
  factory: SqlMigrationAwareDriverAdapterFactory,
  opts: MigrationOptions = {},
): Promise<{ applied: string[] }> {
  const migrationsList = await readMigrations(migrationsDirOf(opts));
  return withEngine(factory, schemaPathOf(opts), async ({ engine }) => {
    const { appliedMigrationNames } = await engine.applyMigrations({
      migrationsList,
      filters: NO_FILTERS,
    });
    return { applied: appliedMigrationNames };
  });
}

/**
 * The SQL that takes a database from the migrations folder to schema.prisma; '' when they agree.
 * The migrations are replayed in a throw-away shadow database.
 */
export async function pendingSchemaChanges(
  factory: SqlMigrationAwareDriverAdapterFactory,
  opts: MigrationOptions = {},
): Promise<string> {
  const migrationsList = await readMigrations(migrationsDirOf(opts));
  return withEngine(factory, schemaPathOf(opts), ({ engine, schemaFiles }) =>
    diffMigrationsToSchema(engine, migrationsList, schemaFiles),
  );
}

/**
 * Writes the next migration, like `prisma migrate dev --create-only`; null when schema.prisma and
 * the migrations folder already agree. The target database itself is not changed.
 */
export async function createMigration(
  factory: SqlMigrationAwareDriverAdapterFactory,
  name: string,
  opts: MigrationOptions = {},
): Promise<CreatedMigration | null> {
  const slug = migrationSlug(name);
  if (!slug)
    throw new Error(`Invalid migration name ${JSON.stringify(name)}: use letters and digits.`);
  const migrationsDir = migrationsDirOf(opts);
  const migrationsList = await readMigrations(migrationsDir);
  const diff = await withEngine(factory, schemaPathOf(opts), ({ engine, schemaFiles }) =>
    diffMigrationsToSchema(engine, migrationsList, schemaFiles),
  );
  if (!diff) return null;
  // Row-level security for every tenant table the migration creates, so that it cannot be forgotten,
  // Imported here, not at the top: it loads two parsers that only creating a migration needs, and
  // this module is on the server's start-up path (applyMigrations).
  const { isolationBlock, tableNames } = await import('./isolation.ts');
  const names = tableNames(await readFile(schemaPathOf(opts), 'utf8'));
  const appendOnly = new Set(
    [...(opts.appendOnlyModels ?? [])].map((model) => names.get(model) ?? model),
  );
  // And the distribution on Citus of the same tables, before the migration's foreign keys.
  const { withDistribution } = await import('./distribution.ts');
  const sql = await withDistribution(diff, await isolationBlock(diff, appendOnly));

  const previous = migrationsList.migrationDirectories.at(-1)?.path;
  const folder = `${migrationTimestamp(new Date(), previous)}_${slug}`;
  const sqlPath = path.join(migrationsDir, folder, 'migration.sql');
  await mkdir(path.dirname(sqlPath), { recursive: true });
  await writeFile(sqlPath, sql, { flag: 'wx' });
  await writeFile(path.join(migrationsDir, LOCKFILE), LOCKFILE_CONTENT);
  return { name: folder, path: sqlPath, sql };
}

/** Applied, pending and failed migrations, like `prisma migrate status`. */
export async function migrationStatus(
  factory: SqlMigrationAwareDriverAdapterFactory,
  opts: MigrationOptions = {},
): Promise<MigrationStatus> {
  const migrationsList = await readMigrations(migrationsDirOf(opts));
  return withEngine(factory, schemaPathOf(opts), async ({ engine, connect }) => {
    const diagnosis = await engine.diagnoseMigrationHistory({
      migrationsList,
      optInToShadowDatabase: false,
      filters: NO_FILTERS,
    });
    const history = diagnosis.history;
    const status = {
      local: migrationsList.migrationDirectories.map((dir) => dir.path),
      applied: diagnosis.hasMigrationsTable ? await appliedMigrationNames(connect) : [],
      pending:
        history && history.diagnostic !== 'migrationsDirectoryIsBehind'
          ? history.unappliedMigrationNames
          : [],
      failed: diagnosis.failedMigrationNames,
      edited: diagnosis.editedMigrationNames,
      unknown:
        history && history.diagnostic !== 'databaseIsBehind'
          ? history.unpersistedMigrationNames
          : [],
    };
    const upToDate = [status.pending, status.failed, status.edited, status.unknown].every(
      (names) => names.length === 0,
    );
    return { ...status, upToDate, summary: summarize({ ...status, upToDate }) };
  });
}

function summarize(status: Omit<MigrationStatus, 'summary'>): string {
  const count = (n: number) => `${n} migration${n === 1 ? '' : 's'}`;
  const lines = [
    `${count(status.local.length)} in the migrations folder, ${status.applied.length} applied.`,
  ];
  const list = (label: string, names: string[]) => {
    if (names.length > 0) lines.push(`${label}:`, ...names.map((name) => `  ${name}`));
  };
  list('Failed (fix the database by hand, or recreate it in development)', status.failed);
  list('Not yet applied (npm run db:migrate)', status.pending);
  list('Edited after they were applied', status.edited);
  list('Applied to the database but missing from the migrations folder', status.unknown);
  if (status.upToDate) lines.push('Database schema is up to date.');
  return lines.join('\n');
}

async function appliedMigrationNames(connect: () => Promise<SqlDriverAdapter>): Promise<string[]> {
  const adapter = await connect();
  try {
    const { rows } = await adapter.queryRaw({
      sql: `SELECT migration_name FROM _prisma_migrations
            WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL
            ORDER BY finished_at, migration_name`,
      args: [],
      argTypes: [],
    });
    return rows.map((row) => String(row[0]));
  } finally {
    await adapter.dispose();
  }
}

async function diffMigrationsToSchema(
  engine: SchemaEngine,
  migrationsList: MigrationList,
  schemaFiles: SchemaContainer[],
): Promise<string> {
  const result = await engine.diff({
    from: { tag: 'migrations', ...migrationsList },
    to: { tag: 'schemaDatamodel', files: schemaFiles },
    script: true,
    // Asks the engine to say "no changes" with exit code 0 instead of an "empty migration" comment.
    exitCode: true,
    filters: NO_FILTERS,
  });
  return result.exitCode === 0 ? '' : (result.stdout ?? '');
}
