import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { applyMigrations } from './migrations/commands.ts';
import { readMigrations, resolveMigrationsDir } from './migrations/folder.ts';

/**
 * A prepared embedded cluster, so that a new data directory does not wait for initdb.
 *
 * Creating a PGlite cluster runs initdb inside WebAssembly: about 3 s, most of a first start.
 * Loading the same cluster from a tarball (PGlite's `dumpDataDir`/`loadDataDir`) takes a fraction
 * of that. So `npm install` (postinstall) and `npm run build` make one, migrated, in
 * node_modules/.cache/scopegraph, and `openDatabase` loads it into an empty data directory.
 *
 * Its name is a hash of PGlite's version and of every migration (folder name and SQL): after a
 * new or changed migration, or another PGlite, no template matches and the directory is created
 * the slow way, with the same result. It holds the schema only, never data: the demo seed runs
 * on each new directory as before. The migrations are still checked on every start.
 */

const root = fileURLToPath(new URL('../../', import.meta.url));
const CACHE_DIR = path.join(root, 'node_modules', '.cache', 'scopegraph');

/** The template for the current migrations and PGlite, whether or not it exists yet. */
export async function templateFile(migrationsDir?: string): Promise<string> {
  const hash = createHash('sha256');
  hash.update(`pglite ${pgliteVersion()}\n`);
  const migrations = await readMigrations(resolveMigrationsDir(migrationsDir));
  for (const { path: folder, migrationFile } of migrations.migrationDirectories) {
    hash.update(`${folder}\n${migrationFile.content.value}\n`);
  }
  return path.join(CACHE_DIR, `pglite-${hash.digest('hex').slice(0, 16)}.tar`);
}

/** The tarball to load into a new data directory, or undefined when none matches. */
export async function loadTemplate(): Promise<Blob | undefined> {
  const file = await templateFile();
  return existsSync(file) ? new Blob([readFileSync(file)]) : undefined;
}

/** Makes the template for the current migrations (in memory, then one rename); its path. */
export async function prepareTemplate(): Promise<string> {
  const file = await templateFile();
  if (existsSync(file)) return file;
  const pglite = await PGlite.create('memory://');
  try {
    await applyMigrations(new PrismaPGlite(pglite));
    const tarball = await pglite.dumpDataDir('none');
    mkdirSync(CACHE_DIR, { recursive: true });
    const partial = `${file}.${process.pid}.partial`;
    writeFileSync(partial, new Uint8Array(await tarball.arrayBuffer()));
    renameSync(partial, file);
  } finally {
    await pglite.close();
  }
  return file;
}

/** A data directory PGlite has initialised (initdb writes PG_VERSION first thing). */
export const isInitialised = (dataDir: string) => existsSync(path.join(dataDir, 'PG_VERSION'));

function pgliteVersion(): string {
  // Not in the package's `exports`: found from its entry point.
  const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite');
  let dir = path.dirname(entry);
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return (JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version: string })
    .version;
}
