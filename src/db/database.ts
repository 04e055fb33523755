import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import type { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import type { SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import pg from 'pg';
import { BindingClient, type BindingClientConfig, clearBinding } from './bound-pg-client.ts';
import { lockDataDir } from './data-dir-lock.ts';
import { withCheckedCommit } from './pglite-commit.ts';
import { declareRelationJoins } from './relation-loading.ts';

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
  /**
   * How an embedded cluster came to be: its directory existed, it was loaded from the prepared
   * template (src/db/pglite-template.ts), or initdb created it. Undefined on a server.
   */
  origin?: 'existing' | 'template' | 'initdb';
  /** The connection pool's use, for /metrics (src/observability/metrics.ts); none on PGlite. */
  pool?: () => Readonly<{ total: number; idle: number; waiting: number }>;
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
  /**
   * On a server: name Prisma's statements, so that each connection parses and plans them once
   * (default true). Off for a pooler that cannot keep them (PgBouncer before 1.21, or without
   * `max_prepared_statements`).
   */
  preparedStatements?: boolean;
  /**
   * On a server: it is a Citus coordinator (true) or plain PostgreSQL (false). Unset, each
   * connection asks the server whether the citus extension is installed.
   */
  citus?: boolean | undefined;
}>;

export async function openDatabase(options: DatabaseOptions = {}): Promise<Database> {
  if (options.url) {
    return openServer(options.url, options.poolSize ?? 10, {
      preparedStatements: options.preparedStatements ?? true,
      citus: options.citus,
    });
  }
  // Imported here, not above: PGlite and its adapter hold ~45 MB that a server's process never
  // needs.
  const { PrismaPGlite } = await import('pglite-prisma-adapter');
  const dataDir = options.dataDir ?? DEFAULT_DATA_DIR;
  const onDisk = !options.pglite && !dataDir.startsWith('memory://');
  if (onDisk) mkdirSync(dataDir, { recursive: true });
  // Taken before PGlite opens the directory; throws DataDirLocked when another process has it.
  const lock = onDisk ? lockDataDir(dataDir) : undefined;
  let pglite: PGlite;
  let origin: Database['origin'] = 'existing';
  try {
    if (options.pglite) pglite = options.pglite;
    else ({ pglite, origin } = await openPglite(dataDir, onDisk));
  } catch (error) {
    lock?.release();
    throw error;
  }
  return Object.freeze({
    kind: 'pglite',
    location: options.pglite ? 'pglite (provided)' : `pglite ${dataDir}`,
    origin,
    adapter: withCheckedCommit(new PrismaPGlite(pglite)),
    jobBackend: { kind: 'pglite' as const, pglite },
    close: async () => {
      try {
        await pglite.close();
      } finally {
        lock?.release();
      }
    },
  });
}

/**
 * An existing data directory as it is; a new one from the prepared template when one matches
 * the migrations (src/db/pglite-template.ts), else from initdb.
 */
async function openPglite(
  dataDir: string,
  onDisk: boolean,
): Promise<{ pglite: PGlite; origin: NonNullable<Database['origin']> }> {
  const [{ PGlite }, { copyTemplate, isInitialised }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('./pglite-template.ts'),
  ]);
  if (onDisk && isInitialised(dataDir))
    return { pglite: await PGlite.create(dataDir), origin: 'existing' };
  const copied = onDisk && (await copyTemplate(dataDir));
  return { pglite: await PGlite.create(dataDir), origin: copied ? 'template' : 'initdb' };
}

function openServer(
  url: string,
  max: number,
  { preparedStatements, citus }: Readonly<{ preparedStatements: boolean; citus?: boolean }>,
): Database {
  // A frozen server must not hang callers forever: getting a connection gives up after 10 s
  // (answered as SERVICE_UNAVAILABLE, src/db/availability.ts). pg-pool counts the time spent
  // queueing for a free connection too, so this matches the scoped client's 10 s maxWait
  // instead of failing a burst of requests earlier.
  // pg-pool hands its options to each client it creates: `citus` reaches BindingClient.
  const config: pg.PoolConfig & BindingClientConfig = {
    connectionString: url,
    max,
    connectionTimeoutMillis: 10_000,
    Client: BindingClient,
    citus,
  };
  const pool = new pg.Pool(config);
  // An idle connection the server drops must not crash the process; the pool replaces it.
  pool.on('error', () => {});
  // pg-pool removes its own error listener while a connection is checked out, and adapter-pg adds
  // one only later: a server-side termination in that gap ("terminating connection due to
  // administrator command") would be an unhandled 'error' event and exit the process. The
  // failure still reaches the query that was running.
  pool.on('connect', (client) => client.on('error', () => {}));
  // A connection goes back to the pool with no read-only binding left on it, whatever happened.
  pool.on('release', (_error: unknown, client: pg.PoolClient) => clearBinding(client));
  const adapter = new PrismaPg(
    pool,
    preparedStatements ? { statementNameGenerator: preparedStatementNames() } : {},
  );
  declareRelationJoins(adapter, relationJoinsOver(pool));
  const location = new URL(url);
  location.password = '';
  return Object.freeze({
    kind: 'postgres',
    location: `postgres ${location.host}${location.pathname}`,
    adapter,
    jobBackend: { kind: 'postgres' as const, url },
    pool: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    close: () => pool.end(),
  });
}

/**
 * Names for Prisma's statements, so that each connection parses them once and PostgreSQL can keep
 * their plans (measured: the deep page 1.28-1.44x, the rest 1.03-1.17x; planning a Prisma read
 * with its lateral joins costs the server as much as a third of running it). Bounded: the first
 * `limit` distinct statements get a name, later ones go unnamed, as before, so that neither this
 * process nor a server connection keeps an ever-growing set of prepared statements. The names
 * are a digest of the text: the same on every connection and process, never a caller's text.
 */
function preparedStatementNames(limit = 200): (query: { sql: string }) => string {
  const names = new Map<string, string>();
  return ({ sql }) => {
    const known = names.get(sql);
    if (known !== undefined) return known;
    if (names.size >= limit) return '';
    const name = `sg_${createHash('sha256').update(sql).digest('hex').slice(0, 24)}`;
    names.set(sql, name);
    return name;
  };
}

/**
 * Whether Prisma may join relations over this pool (src/db/relation-loading.ts): not on Citus.
 * Answered from what a pooled connection learnt of its server when it opened (asked once, and
 * again after a failure to connect).
 */
function relationJoinsOver(pool: pg.Pool): () => boolean | Promise<boolean> {
  let answer: boolean | undefined;
  let asking: Promise<boolean> | null = null;
  return () => {
    if (answer !== undefined) return answer;
    asking ??= pool.connect().then(
      (client) => {
        client.release();
        answer = !(client as unknown as BindingClient).citus;
        return answer;
      },
      (error: unknown) => {
        asking = null;
        throw error;
      },
    );
    return asking;
  };
}
