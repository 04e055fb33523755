import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { TestProject } from 'vitest/node';
import { openDatabase } from '../../src/db/database.ts';
import { applyMigrations } from '../../src/db/migrations/commands.ts';
import { citusCluster } from './citus.ts';
import { adminQuery, databaseUrl, uniqueName } from './server.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** PGlite: a migrated data directory dumped to a file, cloned by each test file. */
    pgliteSnapshot: string;
    /** Postgres: a migrated template database each test file copies ('' on Citus). */
    templateDatabase: string;
  }
}

/** Migrates once per run; test files clone the result instead of migrating again. */
export default async function setup(project: TestProject) {
  const serverUrl = process.env.TEST_DATABASE_URL;
  if (serverUrl && (await citusCluster(serverUrl))) {
    // A Citus database cannot be copied: each test file builds its own (test/support/citus.ts).
    project.provide('templateDatabase', '');
    project.provide('pgliteSnapshot', '');
    return () => {};
  }
  if (serverUrl) {
    const template = uniqueName('scopegraph_tpl');
    await adminQuery(serverUrl, `CREATE DATABASE "${template}"`);
    const database = await openDatabase({ url: databaseUrl(serverUrl, template), poolSize: 2 });
    await applyMigrations(database.adapter);
    await database.close();
    project.provide('templateDatabase', template);
    project.provide('pgliteSnapshot', '');
    return async () => {
      await adminQuery(serverUrl, `DROP DATABASE IF EXISTS "${template}" WITH (FORCE)`);
    };
  }
  const pglite = await PGlite.create('memory://');
  const database = await openDatabase({ pglite });
  await applyMigrations(database.adapter);
  const snapshot = await pglite.dumpDataDir('none');
  await pglite.close();
  const dir = mkdtempSync(path.join(tmpdir(), 'scopegraph-test-'));
  const file = path.join(dir, 'migrated.tar');
  writeFileSync(file, Buffer.from(await snapshot.arrayBuffer()));
  project.provide('pgliteSnapshot', file);
  project.provide('templateDatabase', '');
  return () => rmSync(dir, { recursive: true, force: true });
}
