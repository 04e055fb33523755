import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import type { SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import pg from 'pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { planBegin } from '../tenancy/binding.ts';

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
  /** Where the job queue (src/jobs/queue.ts) keeps its tables: the same database. */
  jobBackend: Readonly<{ kind: 'pglite'; pglite: PGlite } | { kind: 'postgres'; url: string }>;
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
    jobBackend: { kind: 'pglite' as const, pglite },
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
  // A connection goes back to the pool with no read-only binding left on it, whatever happened.
  pool.on('release', (_error: unknown, client: pg.PoolClient) => {
    (client as unknown as BindingClient).statementwise = null;
  });
  const location = new URL(url);
  location.password = '';
  return Object.freeze({
    kind: 'postgres',
    location: `postgres ${location.host}${location.pathname}`,
    adapter: new PrismaPg(pool),
    jobBackend: { kind: 'postgres' as const, url },
    close: () => pool.end(),
  });
}

/**
 * pg's client, except for the transactions the tenant binding opens (planBegin,
 * src/tenancy/binding.ts): their BEGIN carries the binding in the same round trip, or, for a
 * read-only one, no BEGIN is sent and every statement carries the binding in its own message.
 * Every other statement, and every transaction of the system client, goes out unchanged.
 */
class BindingClient extends pg.Client {
  /** Set while a read-only transaction of the binding holds this connection. */
  statementwise: Readonly<{ sql: string; args: readonly [string, string] }> | null = null;
}

type QueryArgs = unknown[];
type QueryConfigLike = {
  text?: unknown;
  values?: unknown;
  rowMode?: unknown;
  types?: unknown;
  name?: unknown;
};
type QueryCallback = (error: Error | null, result?: pg.QueryResult) => void;

BindingClient.prototype.query = function query(this: BindingClient, ...args: QueryArgs) {
  const [config] = args;
  const text = isConfig(config) && typeof config.text === 'string' ? config.text : null;
  // Looked up at call time: whatever pg.Client#query is then (the benchmark counts through it).
  const send = (...a: QueryArgs) =>
    (pg.Client.prototype.query as (...b: QueryArgs) => unknown).apply(this, a);
  if (this.statementwise) {
    if (text === 'COMMIT' || text === 'ROLLBACK') {
      this.statementwise = null;
      return Promise.resolve(EMPTY_RESULT);
    }
    if (!isConfig(config) || text === null || args.length > 1) {
      // adapter-pg always passes one config object; anything else is refused, never sent unbound.
      return Promise.reject(
        new Error('Unexpected query shape inside a read-only tenant transaction'),
      );
    }
    const { sql, args: bindArgs } = this.statementwise;
    return new Promise((resolve, reject) => {
      const callback: QueryCallback = (error, result) => (error ? reject(error) : resolve(result));
      send(new PrefixedQuery({ ...config, callback }, sql, bindArgs));
    });
  }
  const plan = text === null ? null : planBegin(text);
  if (plan?.kind === 'statementwise') {
    this.statementwise = { sql: plan.sql, args: plan.args };
    return Promise.resolve(EMPTY_RESULT);
  }
  if (plan?.kind === 'merge') args[0] = { ...(config as object), text: plan.sql };
  return send(...args);
} as pg.Client['query'];

const EMPTY_RESULT = { command: '', rowCount: 0, oid: 0, rows: [], fields: [] };

function isConfig(value: unknown): value is QueryConfigLike {
  return typeof value === 'object' && value !== null && !('submit' in value);
}

type Connection = {
  parse: (message: { text: string; name: string; types: unknown[] }) => void;
  bind: (message: { portal: string; statement: string; values: readonly string[] }) => void;
  execute: (message: { portal: string; rows: number }) => void;
};

type QueryInternals = {
  requiresPreparation(): boolean;
  prepare(connection: Connection): void;
  handleDataRow(message: unknown): void;
  handleCommandComplete(message: unknown, connection: unknown): void;
};

const Query = pg.Query as unknown as new (config: object) => QueryInternals;

/**
 * A statement sent behind `prefix` in one extended-protocol message (Parse, Bind, Execute of the
 * prefix, then the statement's own Parse, Bind, Describe, Execute, and one Sync): both run in one
 * implicit transaction. The prefix's row and completion are not part of the result. If the
 * prefix fails, PostgreSQL skips the statement and the error is the query's.
 */
class PrefixedQuery extends Query {
  private prefixDone = false;

  constructor(
    config: object,
    /** Public for the benchmark, which counts it as a statement of its own. */
    readonly prefix: string,
    private readonly prefixArgs: readonly string[],
  ) {
    super(config);
  }

  override requiresPreparation(): boolean {
    return true;
  }

  override prepare(connection: Connection): void {
    connection.parse({ text: this.prefix, name: '', types: [] });
    connection.bind({ portal: '', statement: '', values: this.prefixArgs });
    connection.execute({ portal: '', rows: 0 });
    super.prepare(connection);
  }

  override handleDataRow(message: unknown): void {
    if (this.prefixDone) super.handleDataRow(message);
  }

  override handleCommandComplete(message: unknown, connection: unknown): void {
    if (this.prefixDone) super.handleCommandComplete(message, connection);
    else this.prefixDone = true;
  }
}
