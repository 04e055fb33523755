import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { getConstructionPlans } from 'pg-boss';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { applyMigrations } from './migrations/commands.ts';
import { readMigrations, resolveMigrationsDir } from './migrations/folder.ts';

/**
 * A prepared embedded cluster, so that a new data directory does not wait for initdb.
 *
 * Creating a PGlite cluster runs initdb inside WebAssembly: about 3 s, most of a first start.
 * Copying a cluster made before and opening it costs what reopening an existing directory does
 * (a tarball through PGlite's `loadDataDir` was measured too: ~0.7 s slower, PGlite unpacks it
 * file by file). So `npm install` (postinstall) and `npm run build` make one, migrated and
 * cleanly shut down, in node_modules/.cache/scopegraph, and `openDatabase` copies it into an
 * empty data directory before opening it.
 *
 * It also holds the job queue's schema (`pgboss`), which pg-boss would otherwise create on a new
 * database's first start (~0.3 s): the SQL pg-boss's own `start` runs there, from its
 * `getConstructionPlans` (src/jobs/queue.ts starts pg-boss as before; it finds its schema).
 *
 * Its name is a hash of PGlite's version, of every migration (folder name and SQL) and of that
 * SQL: after a new or changed migration, another PGlite or another pg-boss, no template matches
 * and the directory is created the slow way, with the same result. It holds schemas only, never
 * data: the demo seed runs on each new directory as before. The migrations are still checked on
 * every start.
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
  hash.update(getConstructionPlans());
  return path.join(CACHE_DIR, `pglite-${hash.digest('hex').slice(0, 16)}`);
}

/**
 * Copies the matching template into `dataDir` (empty); false when none matches. A template is
 * only ever complete: it is made under another name and renamed into place.
 */
export async function copyTemplate(dataDir: string): Promise<boolean> {
  const template = await templateFile();
  if (!isInitialised(template)) return false;
  cpSync(template, dataDir, { recursive: true });
  return true;
}

/** Makes the template for the current migrations (then one rename into place); its path. */
export async function prepareTemplate(): Promise<string> {
  const template = await templateFile();
  if (isInitialised(template)) return template;
  mkdirSync(CACHE_DIR, { recursive: true });
  const partial = `${template}.${process.pid}.partial`;
  rmSync(partial, { recursive: true, force: true });
  const pglite = await PGlite.create(partial);
  try {
    await applyMigrations(new PrismaPGlite(pglite));
    await pglite.exec(getConstructionPlans());
  } finally {
    await pglite.close();
  }
  try {
    renameSync(partial, template);
  } catch (error) {
    // Another process made the same template meanwhile: theirs is as good.
    rmSync(partial, { recursive: true, force: true });
    if (!isInitialised(template)) throw error;
  }
  // Templates of earlier migrations or versions match nothing any more (39 MB each).
  for (const name of readdirSync(CACHE_DIR)) {
    const other = path.join(CACHE_DIR, name);
    if (other !== template && /^pglite-[0-9a-f]{16}$/.test(name)) {
      rmSync(other, { recursive: true, force: true });
    }
  }
  return template;
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
