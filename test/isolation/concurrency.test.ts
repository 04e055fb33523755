import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Api } from '../../src/http/yoga.ts';
import type { Logger } from '../../src/logging.ts';
import { encodeGlobalId } from '../../src/schema/ids.ts';
import { createScopedClients, type ScopedClients } from '../../src/tenancy/scoped-client.ts';
import { createTestApi, type TestApi } from '../support/api.ts';
import { openTestDatabase, type TestDatabase } from '../support/database.ts';
import { leaksIn, seededOwners } from '../support/load/checks.ts';
import { type LoadReport, runLoad } from '../support/load/run.ts';
import { inspectPool, leftoversOf } from '../support/load/sessions.ts';
import { type LoadTenant, seedTenants } from '../support/load/tenants.ts';

/**
 * Isolation under pooled concurrency: 50 tenants over one pool of 10 server connections, a mix
 * of reads, writes and transactions that fail half-way. First paced (100 calls in flight: every
 * call must get its expected answer), then as a burst with every call in flight at once (calls
 * the pool cannot serve in time may fail, but only that way). No response may carry another
 * tenant's marker or id, failed writes must leave nothing, and afterwards no pooled connection
 * may carry a tenant setting, a role or an open transaction.
 *
 * `npm test` runs the short form; `npm run test:stress` (STRESS=1) the long one.
 */

const SERVER_URL = process.env.TEST_DATABASE_URL;
const STRESS = Boolean(process.env.STRESS);
const TENANTS = 50;
const POOL_SIZE = 10;
const OPERATIONS = STRESS ? 10_000 : 1_000;
/** In flight at once in the paced run: four times the pool, few enough that none waits 2 s. */
const PACED = 40;
const BURST = 1_000;
const LOGIN_USER = SERVER_URL ? decodeURIComponent(new URL(SERVER_URL).username || 'postgres') : '';
const SKIP = SERVER_URL
  ? null
  : 'TEST_DATABASE_URL is not set (a pooled PostgreSQL server is what is under test; PGlite has one connection)';

// The describe title carries the reason too, but only verbose reporters print titles.
if (SKIP) console.warn(`[isolation] pooled concurrency skipped: ${SKIP}`);

describe.skipIf(SKIP)(`pooled concurrency${SKIP ? ` (skipped: ${SKIP})` : ''}`, () => {
  let database: TestDatabase;
  let pool: pg.Pool;
  let t: TestApi;
  let api: Api;
  let scoped: ScopedClients;
  let tenants: LoadTenant[];
  let loaded = false;
  /** What the API logged as unexpected (err.code), to tell overload from anything else. */
  const errors: { code: string; message: string }[] = [];

  const load = async (operations: number, concurrency: number): Promise<LoadReport> => {
    const report = await runLoad({
      api,
      scoped,
      tenants,
      databaseUrl: database.url as string,
      operations,
      concurrency,
    });
    loaded = true;
    console.info(
      `[isolation] pooled: ${report.operations} calls (${report.requests} HTTP requests), ` +
        `${report.concurrency} in flight, ${TENANTS} tenants, pool ${POOL_SIZE}: ` +
        `${Math.round(report.durationMs)} ms, ${report.overloaded} overloaded, ` +
        `${report.checked} markers and ids checked, ` +
        `${errors.length} errors logged (${errors.filter((e) => e.code === 'P2028').length} P2028)`,
    );
    return report;
  };

  beforeAll(async () => {
    database = await openTestDatabase({ poolSize: POOL_SIZE });
    // The pool the API's adapter draws from: the one whose connections are inspected below.
    if (!(database.adapter instanceof PrismaPg)) throw new Error('expected a server database');
    const adapter = await database.adapter.connect();
    pool = adapter.underlyingDriver();
    await adapter.dispose(); // releases only its listener: the pool is the database's
    t = await createTestApi({ database, logger: capturingLogger(errors), introspection: false });
    api = t.api;
    tenants = await seedTenants(database.url as string, TENANTS, t.tokens);
    scoped = createScopedClients(database.adapter);
  });

  afterAll(async () => {
    await scoped?.disconnect();
    await t?.close();
    await database?.drop();
  });

  it(
    `${OPERATIONS} calls, ${PACED} in flight, across ${TENANTS} tenants over ${POOL_SIZE} connections: each gets its expected answer and nothing leaks`,
    async () => {
      const report = await load(OPERATIONS, PACED);
      expect(report.leaks).toEqual([]);
      expect(report.unexpected).toEqual([]);
      expect(report.residue).toEqual([]);
      // Paced so that every call is served: an overload here would hide what it should prove.
      expect(report.overloaded).toBe(0);
      expect(errors, 'errors the API logged').toEqual([]);
      expect(report.checked).toBeGreaterThan(OPERATIONS * 5);
      // The mix really ran: every kind, with failures half-way among them.
      expect(Object.keys(report.byKind).length).toBeGreaterThanOrEqual(14);
    },
    STRESS ? 600_000 : 120_000,
  );

  it(
    `a burst of ${BURST} calls all in flight at once: overloaded calls fail cleanly, nothing leaks`,
    async () => {
      errors.length = 0;
      const report = await load(BURST, BURST);
      expect(report.leaks).toEqual([]);
      expect(report.unexpected).toEqual([]);
      expect(report.residue).toEqual([]);
      // A call the pool cannot serve in time fails in one of two ways, both "pool exhausted" and
      // answered SERVICE_UNAVAILABLE (src/db/availability.ts): Prisma's maxWait for a transaction
      // (P2028) or pg-pool's wait for a client ("timeout exceeded when trying to connect",
      // POOL_TIMEOUT). Any other error the API logged would be a real failure.
      expect(errors.filter((e) => !['P2028', 'P2024', 'POOL_TIMEOUT'].includes(e.code))).toEqual(
        [],
      );
    },
    STRESS ? 600_000 : 120_000,
  );

  it('leaves every pooled connection clean', async () => {
    expect(loaded, 'the load ran').toBe(true);
    const { pooled, states } = await inspectPool(pool);
    // The load filled the pool, so these are the connections it used, not fresh ones.
    expect(pooled).toBe(POOL_SIZE);
    expect(new Set(states.map((s) => s.pid)).size).toBe(POOL_SIZE);
    expect(states.flatMap((state) => leftoversOf(state, LOGIN_USER))).toEqual([]);
    // And the server agrees: nothing of ours is idle in a transaction.
    const { rows } = await pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity
       WHERE datname = current_database() AND state LIKE 'idle in transaction%'`,
    );
    expect(rows[0]?.n).toBe(0);
  });

  it('positive control: the response scan flags foreign markers and ids, raw or encoded', () => {
    const [own, other] = tenants as [LoadTenant, LoadTenant];
    const owners = seededOwners(tenants);
    const postId = other.postIds[0] as string;
    const clean = {
      data: { post: { id: encodeGlobalId('Post', own.postIds[0] as string), title: own.marker } },
    };
    expect(leaksIn(clean, own, owners, tenants)).toEqual([]);
    for (const leak of [
      { title: `x ${other.marker} y` },
      { id: encodeGlobalId('Post', postId) },
      { cursor: Buffer.from(JSON.stringify({ id: postId })).toString('base64') },
      { errors: [{ message: `no ${postId}` }] },
      { id: encodeGlobalId('Post', '00000000-0000-4000-8000-000000000000') }, // in no tenant
    ]) {
      expect(leaksIn(leak, own, owners, tenants), JSON.stringify(leak)).toHaveLength(1);
    }
  });

  it('positive control: the inspection does see a session-level binding', async () => {
    // A pool of our own on the same database, whose one connection is bound the wrong way.
    const leaky = new pg.Pool({ connectionString: database.url, max: 1 });
    // Dropping the database at the end terminates this pool's connection: not a test failure.
    leaky.on('error', () => {});
    try {
      const client = await leaky.connect();
      await client.query(`SET app.organization_id = '${tenants[0]?.organization.id}'`);
      await client.query('SET ROLE scopegraph_app');
      client.release();
      const { states } = await inspectPool(leaky);
      expect(states.flatMap((state) => leftoversOf(state, LOGIN_USER))).toEqual([
        expect.stringContaining(`app.organization_id = '${tenants[0]?.organization.id}'`),
        expect.stringContaining('current_user = scopegraph_app'),
        expect.stringContaining('role = scopegraph_app'),
      ]);
    } finally {
      await leaky.end();
    }
  });
});

const P2028_MESSAGE = /Unable to start a transaction in the given time/;
const POOL_TIMEOUT_MESSAGE = /timeout exceeded when trying to connect/;

/** A logger that keeps the code and message of every error the API logs, and prints nothing. */
function capturingLogger(errors: { code: string; message: string }[]): Logger {
  return pino(
    { level: 'error' },
    {
      write: (line: string) => {
        // maskError logs { err }; Yoga's own error log hands pino its arguments as an array.
        const entry = JSON.parse(line) as Record<string, unknown> & { msg?: string };
        const err = (entry.err ?? entry['0']) as { code?: string; message?: string } | undefined;
        const message = err?.message?.split('\n').pop() ?? '';
        // Yoga's copy of a located error keeps Prisma's message but not its code.
        const code =
          err?.code ??
          (P2028_MESSAGE.test(message)
            ? 'P2028'
            : POOL_TIMEOUT_MESSAGE.test(message)
              ? 'POOL_TIMEOUT'
              : '(none)');
        errors.push({ code, message: `${entry.msg ?? ''}: ${message}` });
      },
    },
  );
}
