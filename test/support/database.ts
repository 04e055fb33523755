import { readFileSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { inject } from 'vitest';
import { type Database, openDatabase } from '../../src/db/database.ts';
import { applyMigrations } from '../../src/db/migrations/commands.ts';
import {
  type CitusCluster,
  citusCluster,
  createCitusDatabase,
  dropCitusDatabase,
  letAppRoleLogIn,
} from './citus.ts';
import { adminQuery, databaseUrl, uniqueName } from './server.ts';

export type TestDatabase = Database &
  Readonly<{
    /** The server database's URL (unset on PGlite). */
    url: string | undefined;
    drop: () => Promise<void>;
  }>;

/** Only the server path reads these; PGlite has no pool. */
export type TestDatabaseOptions = Readonly<{
  /** Connections in the pool; 5 unless given. */
  poolSize?: number;
  /**
   * Where the pool connects, given the new database's URL on the server (e.g. the same database
   * through a PgBouncer). The database is still created and dropped on the server itself.
   */
  connectUrl?: (url: string) => string;
  /** Named, per-connection prepared statements (src/db/database.ts); on unless false. */
  preparedStatements?: boolean;
  /** The binding's Citus form (src/db/bound-pg-client.ts), whatever the server; asked if unset. */
  citus?: boolean;
}>;

/**
 * A freshly migrated database of its own: a PGlite clone by default, or a copy of the
 * migrated template on the server named by TEST_DATABASE_URL. `drop()` closes and removes it.
 */
export async function openTestDatabase(options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  const serverUrl = process.env.TEST_DATABASE_URL;
  if (serverUrl && inject('templateDatabase') === '') {
    cluster ??= citusCluster(serverUrl);
    const citus = await cluster;
    if (citus) return openCitusDatabase(citus, options);
  }
  if (serverUrl) {
    const name = uniqueName('scopegraph_test');
    await adminQuery(
      serverUrl,
      `CREATE DATABASE "${name}" TEMPLATE "${inject('templateDatabase')}"`,
    );
    const url = databaseUrl(serverUrl, name);
    const database = await openDatabase({
      url: options.connectUrl?.(url) ?? url,
      poolSize: options.poolSize ?? 5,
      preparedStatements: options.preparedStatements,
      citus: options.citus,
    });
    return Object.freeze({
      ...database,
      url,
      drop: async () => {
        await database.close();
        await adminQuery(serverUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      },
    });
  }
  const snapshot = readFileSync(inject('pgliteSnapshot'));
  const pglite = await PGlite.create({ loadDataDir: new Blob([snapshot]) });
  const database = await openDatabase({ pglite });
  return Object.freeze({ ...database, url: undefined, drop: database.close });
}

let cluster: Promise<CitusCluster | null> | undefined;

/**
 * The suite runs on a Citus coordinator (TEST_DATABASE_URL names one). Where Citus answers
 * differently by design (relations loaded by a statement each), tests say so with this.
 */
export function runsOnCitus(): boolean {
  return !!process.env.TEST_DATABASE_URL && inject('templateDatabase') === '';
}

/**
 * On a Citus coordinator: a database of its own on every node, migrated (the last migration
 * distributes the tenant tables), and the application role allowed to log in, as Citus
 * connects to the workers as the current role (README, "Scaling out").
 */
async function openCitusDatabase(
  citus: CitusCluster,
  options: TestDatabaseOptions,
): Promise<TestDatabase> {
  const name = uniqueName('scopegraph_test');
  await createCitusDatabase(citus, name);
  const url = databaseUrl(citus.coordinator, name);
  // Tests that add a trigger of their own (a COMMIT made to fail) may, as on PostgreSQL.
  await adminQuery(url, `ALTER DATABASE "${name}" SET citus.enable_unsafe_triggers = on`);
  const database = await openDatabase({
    url: options.connectUrl?.(url) ?? url,
    poolSize: options.poolSize ?? 5,
    preparedStatements: options.preparedStatements,
    citus: options.citus,
  });
  await applyMigrations(database.adapter);
  await letAppRoleLogIn(url);
  return Object.freeze({
    ...database,
    url,
    drop: async () => {
      await database.close();
      await dropCitusDatabase(citus, name);
    },
  });
}
