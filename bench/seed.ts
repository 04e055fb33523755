// The benchmark's data: planned in TypeScript (so the runner knows every tenant's size, ids and
// expected answers) and written in bulk with SQL as the owner, never through the API.
import { createHash, randomBytes } from 'node:crypto';
import type pg from 'pg';
import { openDatabase } from '../src/db/database.ts';
import { applyMigrations } from '../src/db/migrations/commands.ts';
import {
  citusCluster,
  createCitusDatabase,
  dropCitusDatabase,
  letAppRoleLogIn,
} from '../test/support/citus.ts';
import { withClient } from '../test/support/server.ts';

export { withClient };

export type TenantPlan = Readonly<{
  /** 0 is the big tenant of scenario 4; 1..N the Zipf-ranked tenants (1 is the largest). */
  idx: number;
  id: string;
  users: number;
  posts: number;
}>;

export type DataPlan = Readonly<{
  tenants: readonly TenantPlan[];
  big: TenantPlan | null;
  totals: Readonly<{ organizations: number; users: number; posts: number; comments: number }>;
}>;

export type PlanOptions = Readonly<{
  orgs: number;
  /** Average posts per Zipf tenant (200 → ~200k posts for 1,000 organizations). */
  postsPerOrg: number;
  /** Every tenant has at least this many posts, so a first page of 20 is always full. */
  minPosts: number;
  /** Zipf exponent of the sizes beyond the minimum: 1 gives a few big tenants, many small. */
  zipf: number;
  /** Posts of the scenario-4 tenant, on top of the totals of the Zipf tenants; 0 for none. */
  bigPosts: number;
}>;

/** Comments of post `i` of tenant `idx`: 0..10, 5 on average (the same formula in SQL below). */
export function commentsOf(idx: number, i: number): number {
  return (i * 7 + idx * 3) % 11;
}
const COMMENTS_SQL = '(i * 7 + o.idx * 3) % 11';

/** Deterministic ids: md5 of a key, as a uuid. The SQL below computes the same ones. */
export function benchUuid(key: string): string {
  const h = createHash('md5').update(key).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
export const orgId = (idx: number) => benchUuid(`o:${idx}`);
export const userId = (idx: number, n: number) => benchUuid(`u:${idx}:${n}`);
export const postId = (idx: number, i: number) => benchUuid(`p:${idx}:${i}`);
/** Post `i` was created at T0 + i minutes: the highest `i` is the newest. */
export const T0 = '2026-01-01T00:00:00.000Z';
export const postTitle = (idx: number, i: number) => `[o${idx}] Post ${i}`;
export const userName = (idx: number, n: number) => `User ${n} [o${idx}]`;

function usersFor(posts: number): number {
  return Math.min(100, 3 + Math.floor(posts / 200));
}

export function tenantPlan(idx: number, posts: number): TenantPlan {
  return Object.freeze({ idx, id: orgId(idx), users: usersFor(posts), posts });
}

/** 1..N with sizes minPosts + a Zipf share of the rest, plus the big tenant (idx 0). */
export function planData(options: PlanOptions): DataPlan {
  const { orgs, minPosts, zipf } = options;
  const extra = Math.max(0, orgs * options.postsPerOrg - orgs * minPosts);
  let harmonic = 0;
  for (let r = 1; r <= orgs; r++) harmonic += 1 / r ** zipf;
  const tenants = Array.from({ length: orgs }, (_, k) =>
    tenantPlan(k + 1, minPosts + Math.round(extra / ((k + 1) ** zipf * harmonic))),
  );
  const big = options.bigPosts > 0 ? tenantPlan(0, options.bigPosts) : null;
  return Object.freeze({ tenants, big, totals: totalsOf(tenants) });
}

export function totalsOf(tenants: readonly TenantPlan[]): DataPlan['totals'] {
  let users = 0;
  let posts = 0;
  let comments = 0;
  for (const t of tenants) {
    users += t.users;
    posts += t.posts;
    for (let i = 0; i < t.posts; i++) comments += commentsOf(t.idx, i);
  }
  return { organizations: tenants.length, users, posts, comments };
}

// --- Databases ------------------------------------------------------------------------------

export function databaseUrl(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

export function uniqueDatabaseName(): string {
  const stamp = new Date().toISOString().replace(/\D/g, '').slice(0, 14);
  return `scopegraph_bench_${stamp}_${randomBytes(3).toString('hex')}`;
}

const SAFE_NAME = /^[a-z0-9_]+$/;

/** Creates an empty database and applies the project's migrations (roles, grants, policies). */
export async function createBenchDatabase(serverUrl: string, name: string): Promise<string> {
  if (!SAFE_NAME.test(name)) throw new Error(`unsafe database name ${name}`);
  await withClient(serverUrl, (c) => c.query(`CREATE DATABASE "${name}"`));
  const url = databaseUrl(serverUrl, name);
  const database = await openDatabase({ url, poolSize: 2 });
  try {
    await applyMigrations(database.adapter);
  } finally {
    await database.close();
  }
  return url;
}

/**
 * The same on a Citus coordinator: the database on every node with the extension and the nodes
 * (test/support/citus.ts), migrated (the last migration distributes the tenant tables), and the
 * application role allowed to log in there.
 */
export async function createCitusBenchDatabase(
  coordinatorUrl: string,
  name: string,
): Promise<string> {
  if (!SAFE_NAME.test(name)) throw new Error(`unsafe database name ${name}`);
  const cluster = await citusCluster(coordinatorUrl);
  if (!cluster) throw new Error(`--citus ${coordinatorUrl} is not a Citus coordinator`);
  await createCitusDatabase(cluster, name);
  const url = databaseUrl(coordinatorUrl, name);
  const database = await openDatabase({ url, poolSize: 2 });
  try {
    await applyMigrations(database.adapter);
  } finally {
    await database.close();
  }
  await letAppRoleLogIn(url);
  return url;
}

export async function dropCitusBenchDatabase(coordinatorUrl: string, name: string): Promise<void> {
  if (!SAFE_NAME.test(name)) throw new Error(`unsafe database name ${name}`);
  const cluster = await citusCluster(coordinatorUrl);
  if (cluster) await dropCitusDatabase(cluster, name);
}

export async function dropBenchDatabase(serverUrl: string, name: string): Promise<void> {
  if (!SAFE_NAME.test(name)) throw new Error(`unsafe database name ${name}`);
  // WITH (FORCE): a child server that did not stop in time must not keep the database alive.
  await withClient(serverUrl, (c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
}

// --- Seeding --------------------------------------------------------------------------------

/** Secondary indexes are rebuilt after a bulk load into empty tables: far faster than upkeep. */
const SECONDARY_INDEXES = `
  SELECT indexname, indexdef FROM pg_indexes
  WHERE schemaname = 'public' AND tablename IN ('users', 'posts', 'comments')
    AND indexname NOT IN ('users_pkey', 'posts_pkey', 'comments_pkey')
    AND indexdef NOT LIKE 'CREATE UNIQUE%'`;

/**
 * Inserts `tenants` with INSERT … SELECT generate_series, split over `parallel` connections
 * (each writes every `parallel`-th row). Foreign-key triggers are skipped
 * (session_replication_role = replica, superuser only): the rows are consistent by
 * construction. With `rebuildIndexes` (empty tables only) the secondary indexes are dropped
 * first and recreated from their own definitions afterwards.
 */
export async function seedTenants(
  url: string,
  tenants: readonly TenantPlan[],
  options: Readonly<{ parallel: number; rebuildIndexes: boolean }>,
): Promise<void> {
  const indexes = options.rebuildIndexes
    ? await withClient(url, async (c) => {
        const { rows } = await c.query<{ indexname: string; indexdef: string }>(SECONDARY_INDEXES);
        for (const row of rows) await c.query(`DROP INDEX "${row.indexname}"`);
        return rows;
      })
    : [];
  const parts = Math.max(1, options.parallel);
  await Promise.all(
    Array.from({ length: parts }, (_, part) =>
      withClient(url, (c) => seedPart(c, tenants, part, parts)),
    ),
  );
  if (indexes.length > 0) {
    // One index per connection at a time: CREATE INDEX sorts, so this uses the cores.
    const queue = [...indexes];
    await Promise.all(
      Array.from({ length: parts }, () =>
        withClient(url, async (c) => {
          await c.query("SET maintenance_work_mem = '256MB'");
          for (let next = queue.shift(); next; next = queue.shift()) await c.query(next.indexdef);
        }),
      ),
    );
  }
  // Fresh statistics and a visibility map, so every contender meets the same, settled plans.
  await withClient(url, (c) => c.query('VACUUM (ANALYZE) organizations, users, posts, comments'));
}

async function seedPart(
  c: pg.Client,
  tenants: readonly TenantPlan[],
  part: number,
  parts: number,
): Promise<void> {
  const mine = (v: string) => `(${v}) % ${parts} = ${part}`;
  await c.query('SET session_replication_role = replica');
  await c.query("SET work_mem = '64MB'");
  await c.query('BEGIN');
  await c.query(
    'CREATE TEMP TABLE bench_plan (idx int PRIMARY KEY, org uuid NOT NULL, users int NOT NULL, posts int NOT NULL) ON COMMIT DROP',
  );
  await c.query(
    'INSERT INTO bench_plan SELECT * FROM unnest($1::int[], $2::uuid[], $3::int[], $4::int[])',
    [
      tenants.map((t) => t.idx),
      tenants.map((t) => t.id),
      tenants.map((t) => t.users),
      tenants.map((t) => t.posts),
    ],
  );
  const t0 = `'${T0}'::timestamptz`;
  await c.query(`
    INSERT INTO organizations (id, name, slug, created_at, updated_at)
    SELECT o.org, 'Bench org ' || o.idx, 'bench-' || o.idx, ${t0}, ${t0}
    FROM bench_plan o WHERE ${mine('o.idx')}`);
  await c.query(`
    INSERT INTO users (organization_id, id, email, name, role, created_at, updated_at)
    SELECT o.org, md5('u:' || o.idx || ':' || n)::uuid, 'user' || n || '@org' || o.idx || '.bench',
      'User ' || n || ' [o' || o.idx || ']', (CASE WHEN n = 0 THEN 'OWNER' ELSE 'MEMBER' END)::"Role",
      ${t0} + n * interval '1 second', ${t0} + n * interval '1 second'
    FROM bench_plan o, generate_series(0, o.users - 1) n WHERE ${mine('n')}`);
  await c.query(`
    INSERT INTO posts (organization_id, id, author_id, title, content, created_at, updated_at)
    SELECT o.org, md5('p:' || o.idx || ':' || i)::uuid, md5('u:' || o.idx || ':' || (i % o.users))::uuid,
      '[o' || o.idx || '] Post ' || i, 'Body of post ' || i || '. Lorem ipsum dolor sit amet.',
      ${t0} + i * interval '1 minute', ${t0} + i * interval '1 minute'
    FROM bench_plan o, generate_series(0, o.posts - 1) i WHERE ${mine('i')}`);
  await c.query(`
    INSERT INTO comments (organization_id, id, post_id, author_id, body, created_at, updated_at)
    SELECT o.org, md5('c:' || o.idx || ':' || i || ':' || k)::uuid, md5('p:' || o.idx || ':' || i)::uuid,
      md5('u:' || o.idx || ':' || ((i + k) % o.users))::uuid,
      '[o' || o.idx || '] Comment ' || k || ' on post ' || i,
      ${t0} + i * interval '1 minute' + k * interval '1 second',
      ${t0} + i * interval '1 minute' + k * interval '1 second'
    FROM bench_plan o, generate_series(0, o.posts - 1) i, generate_series(1, ${COMMENTS_SQL}) k
    WHERE ${mine('i')}`);
  await c.query('COMMIT');
}
