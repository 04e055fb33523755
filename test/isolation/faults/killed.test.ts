import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApi, type TestApi } from '../../support/api.ts';
import {
  expectAllSucceed,
  expectIsolation,
  expectOnlyServiceUnavailable,
  type LoadTenant,
  pollUntil,
  recoveryTimes,
  serverUrl,
  skipped,
  sleep,
  startLoad,
  twoTenants,
} from './load.ts';

/** The server's backends terminated under load: a clear error, then recovery, never a hang. */

describe.skipIf(!serverUrl)(
  `connections killed under load${skipped(serverUrl ? null : 'set TEST_DATABASE_URL to run it')}`,
  () => {
    let t: TestApi;
    let tenants: LoadTenant[];

    beforeAll(async () => {
      t = await createTestApi(); // pool of 5 on the server
      tenants = await twoTenants(t);
    });

    afterAll(() => t?.close());

    // pg-pool removes its own listener when it hands a client out, and adapter-pg adds one only
    // after an await; a FATAL from the server in that gap (the release that hands the client to a
    // queued transaction runs inside the socket read that also carries "terminating connection")
    // would be an 'error' event nobody listens to, and kill the process. src/db/database.ts gives
    // every client a listener on 'connect'; this fails without it.
    it('a pooled connection has an error listener from the start', async () => {
      const adapter = await t.database.adapter.connect();
      try {
        const pool = (adapter as { underlyingDriver?: () => unknown }).underlyingDriver?.();
        if (!(pool instanceof pg.Pool)) throw new Error('not a pg pool');
        const client = await pool.connect();
        try {
          expect(client.listenerCount('error')).toBeGreaterThan(0);
        } finally {
          client.release();
        }
      } finally {
        await adapter.dispose();
      }
    });

    it('in flight: SERVICE_UNAVAILABLE; then the pool recovers; isolation holds', async () => {
      const admin = new pg.Client({ connectionString: serverUrl });
      await admin.connect();
      const databaseName = new URL(t.database.url ?? '').pathname.slice(1);
      const kills: { at: number; terminated: number }[] = [];
      const load = startLoad(t, tenants, 8);
      try {
        await sleep(300);
        for (let i = 0; i < 5; i++) {
          const { rows } = await admin.query<{ terminated: boolean }>(
            `SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity
              WHERE datname = $1 AND pid <> pg_backend_pid()`,
            [databaseName],
          );
          kills.push({
            at: performance.now(),
            terminated: rows.filter((r) => r.terminated).length,
          });
          await sleep(250);
        }
        // The load itself must come back, every kind of request of both tenants, however slow
        // the machine: poll it (bounded).
        const last = kills.at(-1)?.at ?? 0;
        await pollUntil(async () => load.recoveredSince(last));
      } finally {
        await admin.end();
      }
      const outcomes = await load.stop();

      expect(kills.reduce((n, k) => n + k.terminated, 0)).toBeGreaterThan(0);
      const failed = outcomes.filter((o) => !o.ok);
      expect(failed.length).toBeGreaterThan(0); // the kills did hit requests in flight
      expectOnlyServiceUnavailable(outcomes);
      const recovery = recoveryTimes(
        outcomes,
        kills.map((k) => k.at),
      );
      // Every kill is followed by successful requests while the load still runs.
      expect(recovery).toHaveLength(kills.length);
      await expectIsolation(t, tenants, outcomes);
      await expectAllSucceed(t, tenants);
      console.info(
        `[faults] ${kills.length} kills (${kills.map((k) => k.terminated).join('+')} backends) ` +
          `under ${outcomes.length} requests: ${failed.length} answered SERVICE_UNAVAILABLE; ` +
          `first success after each kill: ${recovery.map((ms) => ms.toFixed(0)).join(', ')} ms`,
      );
    });
  },
);
