// Adapter workarounds: the factory handed to the schema engine. Fixes for adapter-pg over a
// PostgreSQL server, for pglite-prisma-adapter over embedded PGlite, and those both need.
import { randomUUID } from 'node:crypto';
import type { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import {
  DriverAdapterError,
  isDriverAdapterError,
  type SqlDriverAdapter,
  type SqlMigrationAwareDriverAdapterFactory,
} from '@prisma/driver-adapter-utils';
import pg from 'pg';

export interface MigrationFactory extends SqlMigrationAwareDriverAdapterFactory {
  /** Ends the connections and removes the shadow databases this factory made. */
  close(): Promise<void>;
}

export async function forMigrations(
  factory: SqlMigrationAwareDriverAdapterFactory,
): Promise<MigrationFactory> {
  if (factory.adapterName === '@prisma/adapter-pg') return pgForMigrations(factory);
  if (factory.adapterName === 'pglite-prisma-adapter') return await pgliteForMigrations(factory);
  return {
    provider: factory.provider,
    adapterName: factory.adapterName,
    connect: () => factory.connect(),
    connectToShadowDb: () => factory.connectToShadowDb(),
    close: async () => {},
  };
}

/**
 * Over a PostgreSQL server. The engine gets adapter-pg adapters over pools this module owns, made
 * from the caller's connection settings, so that it can give them fixes the caller's pool should
 * not carry and end them when done.
 */
async function pgForMigrations(
  factory: SqlMigrationAwareDriverAdapterFactory,
): Promise<MigrationFactory> {
  const config = await pgPoolConfig(factory);
  const pools: pg.Pool[] = [];
  const shadowPools = new Map<string, pg.Pool>();

  const openPool = (poolConfig: pg.PoolConfig) => {
    const pool = new pg.Pool(poolConfig);
    pool.on('connect', reportCharColumnsAsText);
    pool.on('connect', ignoreErrorsWhenIdle);
    pool.on('error', () => {});
    pools.push(pool);
    return pool;
  };
  const adapterOver = async (pool: pg.Pool) =>
    withMigrationFixes(await new PrismaPg(pool).connect(), (script) => pool.query(script));
  const mainPool = openPool(config);

  return {
    provider: 'postgres',
    adapterName: factory.adapterName,
    connect: () => withRealErrors(() => adapterOver(mainPool)),
    // adapter-pg's own connectToShadowDb() passes `database` beside `connectionString`, which wins
    // in pg: its "shadow" is the MAIN database. Make a throw-away database on the same server.
    connectToShadowDb: () =>
      withRealErrors(async () => {
        const name = `prisma_shadow_${randomUUID().replaceAll('-', '')}`;
        await mainPool.query(`CREATE DATABASE "${name}"`);
        const pool = openPool(withDatabase(config, name));
        shadowPools.set(name, pool);
        return adapterOver(pool);
      }),
    async close() {
      try {
        for (const [name, pool] of shadowPools) {
          if (!pool.ended) await pool.end();
          await mainPool.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
        }
      } finally {
        await Promise.all(pools.filter((pool) => !pool.ended).map((pool) => pool.end()));
      }
    },
  };
}

async function pgPoolConfig(
  factory: SqlMigrationAwareDriverAdapterFactory,
): Promise<pg.PoolConfig> {
  const adapter = await factory.connect();
  try {
    const pool: unknown =
      'underlyingDriver' in adapter && typeof adapter.underlyingDriver === 'function'
        ? adapter.underlyingDriver()
        : undefined;
    if (!(pool instanceof pg.Pool)) throw new Error('adapter-pg did not expose its pg.Pool');
    // pg-pool keeps the password as a non-enumerable property, which a spread would drop.
    return { ...pool.options, password: pool.options.password };
  } finally {
    await adapter.dispose();
  }
}

// Dropping a shadow database terminates its connections, which may still be closing after
// pool.end(). An error on a connection with no query in flight (a query in flight still fails with
// it) must not crash the process as an unhandled 'error' event.
function ignoreErrorsWhenIdle(client: pg.PoolClient): void {
  client.on('error', () => {});
}

function withDatabase(config: pg.PoolConfig, database: string): pg.PoolConfig {
  if (!config.connectionString) return { ...config, database };
  const url = new URL(config.connectionString);
  url.pathname = `/${encodeURIComponent(database)}`;
  return { ...config, connectionString: url.toString(), database };
}

const PG_CHAR_OID = 18;
const PG_TEXT_OID = 25;

// adapter-pg has no mapping for Postgres' internal one-byte type "char" (OID 18), which the
// engine's introspection selects from the catalogs ("Column type 'char' could not be
// deserialized"). Its values are text: relabel such columns before adapter-pg reads them.
function reportCharColumnsAsText(client: pg.PoolClient): void {
  client.connection.prependListener('rowDescription', (message: unknown) => {
    const fields: unknown = Reflect.get(Object(message), 'fields');
    if (!Array.isArray(fields)) return;
    for (const field of fields as Array<{ dataTypeID: unknown }>) {
      if (field.dataTypeID === PG_CHAR_OID) field.dataTypeID = PG_TEXT_OID;
    }
  });
}

/** Over embedded PGlite (imported here, not above: a server's process never loads it). */
async function pgliteForMigrations(
  factory: SqlMigrationAwareDriverAdapterFactory,
): Promise<MigrationFactory> {
  const [{ PGlite }, { PrismaPGlite }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('pglite-prisma-adapter'),
  ]);
  const db: unknown = Reflect.get(factory, 'client');
  if (!(db instanceof PGlite)) throw new Error('pglite-prisma-adapter did not expose its PGlite');
  const shadows: PGlite[] = [];
  const adapterOver = async (pglite: PGlite) =>
    withMigrationFixes(await new PrismaPGlite(pglite).connect(), (script) => pglite.exec(script));

  return {
    provider: 'postgres',
    adapterName: factory.adapterName,
    connect: () => adapterOver(db),
    // The adapter's own shadow PGlite is never closed; this one is, in close().
    connectToShadowDb: async () => {
      const shadow = await emptyPglite(PGlite);
      shadows.push(shadow);
      return adapterOver(shadow);
    },
    async close() {
      await Promise.all(shadows.filter((shadow) => !shadow.closed).map((shadow) => shadow.close()));
    },
  };
}

let emptyPgliteImage: Promise<Blob> | undefined;

// A new PGlite runs initdb (~3 s); loading an image of an empty one takes a fraction of that.
async function emptyPglite(Pglite: typeof PGlite): Promise<PGlite> {
  if (!emptyPgliteImage) {
    const first = new Pglite();
    // dumpDataDir() before the database is ready never settles.
    emptyPgliteImage = first.waitReady.then(() => first.dumpDataDir('none'));
    emptyPgliteImage.catch(() => {
      emptyPgliteImage = undefined;
    });
    await emptyPgliteImage;
    return first;
  }
  const pglite = new Pglite({ loadDataDir: await emptyPgliteImage });
  await pglite.waitReady;
  return pglite;
}

/**
 * The fixes both adapters need on the migration path:
 * - executeScript runs the whole migration as ONE simple-protocol query, and awaits it. adapter-pg
 *   splits scripts on `;`, which breaks `DO $$ … $$` blocks and function bodies and applies half a
 *   failing migration; pglite-prisma-adapter does not await `exec`, so a failing migration is
 *   recorded as applied. As one query it runs in one implicit transaction, as with native Prisma.
 * - errors from pg/PGlite become DriverAdapterErrors: anything else reaches the engine as an
 *   opaque "GenericJs" error without its message.
 */
function withMigrationFixes(
  adapter: SqlDriverAdapter,
  runScript: (script: string) => Promise<unknown>,
): SqlDriverAdapter {
  const fixed: SqlDriverAdapter = {
    provider: adapter.provider,
    adapterName: adapter.adapterName,
    queryRaw: (query) => withRealErrors(() => adapter.queryRaw(query)),
    executeRaw: (query) => withRealErrors(() => adapter.executeRaw(query)),
    executeScript: (script) => withRealErrors(async () => void (await runScript(script))),
    startTransaction: (isolationLevel) =>
      withRealErrors(() => adapter.startTransaction(isolationLevel)),
    dispose: () => adapter.dispose(),
  };
  if (adapter.getConnectionInfo) fixed.getConnectionInfo = adapter.getConnectionInfo.bind(adapter);
  return fixed;
}

async function withRealErrors<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (!(error instanceof Error) || isDriverAdapterError(error)) throw error;
    const text = (key: string) => {
      const value: unknown = Reflect.get(error, key);
      return typeof value === 'string' ? value : undefined;
    };
    throw new DriverAdapterError({
      kind: 'postgres',
      code: text('code') ?? 'N/A',
      severity: text('severity') ?? 'ERROR',
      message: error.message,
      detail: text('detail'),
      column: text('column'),
      hint: text('hint'),
    });
  }
}
