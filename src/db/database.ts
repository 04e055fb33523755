import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import type { SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import pg from 'pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { bindOnBegin } from '../tenancy/binding.ts';

export const DEFAULT_DATA_DIR = '.data/pglite';

/**
 * One database, embedded or server, and the driver adapter every client over it shares
 * (one connection pool). The same code paths run on both: PGlite is PostgreSQL too.
 */
export type Database = Readonly<{
  kind: 'pglite' | 'postgres';
  /** Where it lives, without credentials: safe to log. */
  location: string;
  adapter: SqlMigrationAwareDriverAdapterFactory;
  close: () => Promise<void>;
}>;

export type DatabaseOptions = Readonly<{
  /** A PostgreSQL server. When absent, the embedded PGlite database is used. */
  url?: string | undefined;
  /** PGlite data directory; `memory://` for a throw-away one. */
  dataDir?: string;
  /** An already open PGlite instance (tests clone one from a migrated snapshot). */
  pglite?: PGlite;
  poolSize?: number;
}>;

export async function openDatabase(options: DatabaseOptions = {}): Promise<Database> {
  if (options.url) return openServer(options.url, options.poolSize ?? 10);
  const dataDir = options.dataDir ?? DEFAULT_DATA_DIR;
  if (!options.pglite && !dataDir.startsWith('memory://')) mkdirSync(dataDir, { recursive: true });
  const pglite = options.pglite ?? (await PGlite.create(dataDir));
  return Object.freeze({
    kind: 'pglite',
    location: options.pglite ? 'pglite (provided)' : `pglite ${dataDir}`,
    adapter: new PrismaPGlite(pglite),
    close: () => pglite.close(),
  });
}

function openServer(url: string, max: number): Database {
  // A frozen server must not hang callers forever: getting a connection gives up after 10 s
  // (answered as SERVICE_UNAVAILABLE, src/db/availability.ts). pg-pool counts the time spent
  // queueing for a free connection too, so this matches the scoped client's 10 s maxWait
  // instead of failing a burst of requests earlier.
  const pool = new pg.Pool({
    connectionString: url,
    max,
    connectionTimeoutMillis: 10_000,
    Client: BindingClient,
  });
  // An idle connection the server drops must not crash the process; the pool replaces it.
  pool.on('error', () => {});
  // pg-pool removes its own error listener while a connection is checked out, and adapter-pg adds
  // one only later: a server-side termination in that gap ("terminating connection due to
  // administrator command") would be an unhandled 'error' event and exit the process. The
  // failure still reaches the query that was running.
  pool.on('connect', (client) => client.on('error', () => {}));
  const location = new URL(url);
  location.password = '';
  return Object.freeze({
    kind: 'postgres',
    location: `postgres ${location.host}${location.pathname}`,
    adapter: new PrismaPg(pool),
    close: () => pool.end(),
  });
}

/**
 * pg's client, except that the BEGIN of a transaction the tenant binding opens also carries the
 * binding, in the same round trip (bindOnBegin, src/tenancy/binding.ts). Every other statement,
 * and every transaction of the system client, goes out unchanged.
 */
class BindingClient extends pg.Client {}

BindingClient.prototype.query = function query(this: pg.Client, ...args: unknown[]) {
  const [config] = args;
  if (typeof config === 'object' && config !== null && 'text' in config) {
    const merged = typeof config.text === 'string' ? bindOnBegin(config.text) : null;
    if (merged) args[0] = { ...config, text: merged };
  }
  // Looked up at call time: whatever pg.Client#query is then (the benchmark counts through it).
  return (pg.Client.prototype.query as (...a: unknown[]) => unknown).apply(this, args);
} as pg.Client['query'];
