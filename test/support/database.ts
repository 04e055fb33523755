import { readFileSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { inject } from 'vitest';
import { type Database, openDatabase } from '../../src/db/database.ts';
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
}>;

/**
 * A freshly migrated database of its own: a PGlite clone by default, or a copy of the
 * migrated template on the server named by TEST_DATABASE_URL. `drop()` closes and removes it.
 */
export async function openTestDatabase(options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  const serverUrl = process.env.TEST_DATABASE_URL;
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
