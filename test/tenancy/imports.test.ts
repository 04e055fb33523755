import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The two modules that can cross tenants, and every file allowed to import them. Adding a
 * file here is a design decision to be made in review, not a fix for a failing test.
 */
const GUARDED: Record<string, string[]> = {
  // The unscoped client: migrations, seeding, sign-up, platform administration.
  'src/db/system.ts': [
    'src/admin/context.ts', // a type-only import: the admin context holds the system client
    'src/admin/endpoint.ts', // a type-only import: the admin endpoint is handed the system client
    'bench/export.ts', // seeds two tenants and creates their exports, as the bench does
    'src/app.ts', // seeds the demo data at start-up
    'src/auth/accounts.ts', // sign-up creates the organization; sign-in finds it by slug
    'src/db/seed.ts',
    'src/http/yoga.ts', // hands the system client to accounts and the readiness check, never to a context
    'src/jobs/tenant-job.ts', // loads a job's organization by id, then builds its Scope
    'src/jobs/workers.ts', // organization deletion; marks an export failed after its last attempt
    'test/admin/setup.ts', // finds the organizations' ids; the tests count and change rows with it
    'test/api/export-download.test.ts', // moves an export's expiry; reads the live jti
    'test/api/audit.test.ts', // proves the database refuses UPDATE/DELETE on audit_log to it too
    'test/api/auth.test.ts',
    'test/api/schema-ids.test.ts', // creates each probed row of both tenants from its fixture factory
    'test/api/context.test-d.ts', // a type-only import, to prove it does not fit the context
    'test/api/limits.test.ts', // counts one organization's exports, comments; a second PENDING export
    'test/api/credentials.test.ts', // sets tokens_valid_after to an exact instant; counts orgs
    'test/api/pagination.test.ts', // seeds posts that share a timestamp
    'test/api/tags.test.ts', // a tagging across organizations, refused by the composite keys alone
    'test/api/unit-of-work.test.ts', // adds a constraint checked at COMMIT, to make one fail
    'test/api/stream-access.test.ts', // removes a member behind the API's back (no control event)
    'test/isolation/faults/atomic.test.ts', // checks with every tenant's rows what faults left behind
    'test/isolation/faults/cluster.test.ts', // every acknowledged write survived a restart, in its tenant
    'test/isolation/faults/load.ts', // seeds the load's tenants; reads every id an answer held
    'test/isolation/fuzz-async.test.ts', // reads every tenant's outbox and exports after a run
    'test/isolation/hostile/harness.ts', // seeds tenants; deletes a user and an org under their tokens
    'test/jobs/export.test.ts', // seeds a tenant bigger than a batch; reads the stored chunks
    'test/jobs/jobs.test.ts', // reads every tenant's rows to see what the jobs wrote, and did not
    'test/support/exports.ts', // a type-only import: reads stored chunks with the caller's client
    'test/support/fixtures.ts', // a type-only import: the factories write through the system client
    'test/support/tenants.ts',
    'test/tenancy/database.test.ts',
  ],
  // The RLS binding: anyone holding it can bind any organization.
  'src/tenancy/binding.ts': [
    // transactionBeingOpened and the binding's statements: the pg pool's client sends the
    // binding its caller already holds with BEGIN (planBegin), or on Citus sends a bind
    // statement's organization as SET LOCALs; it cannot choose an organization.
    'src/db/bound-pg-client.ts',
    'src/tenancy/scoped-client.ts',
    'test/tenancy/database.test.ts', // a bare client over the bound adapter: what the database sees
    'test/tenancy/unit-of-work.test.ts', // a bare client over the bound adapter, read-only
    'test/tenancy/citus-binding.test.ts', // the Citus statements, checked as printed
  ],
};

const ROOT = path.resolve(import.meta.dirname, '../..');
const SOURCE_DIRS = ['src', 'scripts', 'test', 'bench'];

function sourceFiles(dir: string): string[] {
  let entries: import('node:fs').Dirent[];
  try {
    entries = readdirSync(path.join(ROOT, dir), { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((entry) => {
    const rel = path.posix.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'generated' ? [] : sourceFiles(rel);
    return /\.(ts|mts|js|mjs)$/.test(entry.name) ? [rel] : [];
  });
}

/**
 * The relative imports of a file, resolved to repository paths without extension, as
 * TypeScript's own scanner reads them (static, dynamic and type-only imports, and re-exports).
 */
function importsOf(file: string): string[] {
  const text = readFileSync(path.join(ROOT, file), 'utf8');
  return ts
    .preProcessFile(text, true, true)
    .importedFiles.map((f) => f.fileName)
    .filter((specifier) => specifier.startsWith('.'))
    .map((specifier) =>
      path.posix
        .normalize(path.posix.join(path.posix.dirname(file), specifier))
        .replace(/\.(ts|js)$/, ''),
    );
}

const withoutExt = (file: string) => file.replace(/\.(ts|mts|js|mjs)$/, '');

function importersOf(target: string): string[] {
  return SOURCE_DIRS.flatMap(sourceFiles)
    .filter((file) => importsOf(file).includes(withoutExt(target)))
    .sort();
}

/** Import cycles among src/ modules (each as the path around it), by depth-first search. */
function importCycles(): string[][] {
  const files = new Map(sourceFiles('src').map((file) => [withoutExt(file), file]));
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[][] = [];
  const visit = (module: string, trail: string[]) => {
    if (state.get(module) === 'done') return;
    if (state.get(module) === 'open') {
      cycles.push([...trail.slice(trail.indexOf(module)), module]);
      return;
    }
    state.set(module, 'open');
    const file = files.get(module);
    for (const next of file ? importsOf(file) : []) {
      if (files.has(next)) visit(next, [...trail, module]);
    }
    state.set(module, 'done');
  };
  for (const module of files.keys()) visit(module, []);
  return cycles;
}

describe('modules that can cross tenants', () => {
  it.each(Object.entries(GUARDED))('%s is imported only by its listed files', (target, allowed) => {
    expect(importersOf(target)).toEqual([...allowed].sort());
  });

  it('the scan finds imports (it is not vacuously passing)', () => {
    expect(importersOf('src/tenancy/scope.ts').length).toBeGreaterThan(0);
    // A type-only import counts: it can still carry a client's type into the wrong place.
    expect(importersOf('src/context.ts')).toContain('src/schema/comment.ts');
  });
});

describe('the module graph of src/', () => {
  it('has no import cycles (type-only imports included)', () => {
    expect(importCycles().map((cycle) => cycle.join(' → '))).toEqual([]);
  });
});
