import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../../src/db/database.ts';
import { applyMigrations } from '../../../src/db/migrations/commands.ts';
import { createSystemClient } from '../../../src/db/system.ts';
import { decodeGlobalId } from '../../../src/schema/ids.ts';
import { codes, createTestApi, field, type TestApi } from '../../support/api.ts';
import { type Cluster, clusterUnavailableReason, createCluster } from '../../support/cluster.ts';
import type { TestDatabase } from '../../support/database.ts';
import { keyOf } from '../../support/tenants.ts';
import {
  expectAllSucceed,
  expectIsolation,
  expectOnlyServiceUnavailable,
  HANG_MS,
  type LoadTenant,
  pollUntil,
  READ,
  recoveryTimes,
  request,
  SIGN_IN,
  serverUrl,
  skipped,
  sleep,
  startLoad,
  twoTenants,
  withTimeout,
} from './load.ts';

/**
 * A PostgreSQL cluster of the test's own, stopped, started and frozen while the API runs:
 * 503 while it is gone, service again once it is back, without a restart.
 */

// A cluster of the test's own takes a few seconds: the PGlite pass stays short without it.
const clusterProblem = serverUrl
  ? clusterUnavailableReason()
  : 'runs in the server pass: set TEST_DATABASE_URL';

describe.skipIf(clusterProblem !== null)(
  `a throw-away PostgreSQL cluster stopped, started and frozen mid-run${skipped(clusterProblem)}`,
  () => {
    let cluster: Cluster | undefined;
    let database: TestDatabase | undefined;
    let t: TestApi;
    let tenants: LoadTenant[];

    beforeAll(async () => {
      cluster = await createCluster();
      const opened = await openDatabase({ url: cluster.url, poolSize: 5 });
      // The cluster's own database, migrated here (not a copy of the test template).
      database = { ...opened, url: cluster.url, drop: opened.close };
      await applyMigrations(database.adapter);
      t = await createTestApi({ database, introspection: false });
      tenants = await twoTenants(t);
    });

    afterAll(async () => {
      // Whatever failed above, the cluster is stopped and its directory deleted.
      try {
        await t?.close();
        await database?.close();
      } finally {
        await cluster?.destroy();
      }
    });

    it('answers 503 while it is down and serves again after it is back, no restart', async () => {
      if (!cluster) throw new Error('no cluster');
      const [a] = tenants;
      if (!a) throw new Error('no tenants');
      const load = startLoad(t, tenants, 6);
      await sleep(300);
      await cluster.stop();
      // From when pg_ctl says it is down: during the fast shutdown itself requests may still pass.
      const stoppedAt = performance.now();

      // While it is down: a tenant read, a sign-in (the system client), the readiness check.
      const read = await t.gql(READ, {}, a.token);
      expect({ status: read.status, codes: codes(read) }).toEqual({
        status: 503,
        codes: ['SERVICE_UNAVAILABLE'],
      });
      const signIn = await t.gql(SIGN_IN, {
        input: { organizationSlug: a.slug, email: 'owner@example.com', password: 'x' },
      });
      expect({ status: signIn.status, codes: codes(signIn) }).toEqual({
        status: 503,
        codes: ['SERVICE_UNAVAILABLE'],
      });
      expect((await t.fetch({ path: '/health' })).status).toBe(503);
      expect((await t.fetch({ path: '/live' })).status).toBe(200);
      await sleep(300);

      // Requests may pass as soon as the server accepts connections, before pg_ctl returns.
      const startingAt = performance.now();
      await cluster.start();
      const startedAt = performance.now();
      const served = await pollUntil(async () => (await t.gql(READ, {}, a.token)).data);
      const recoveredMs = performance.now() - startingAt;
      const healthy = await pollUntil(
        async () => (await t.fetch({ path: '/health' })).status === 200,
      );
      expect(served).toBeTruthy();
      expect(healthy).toBe(true);
      await pollUntil(async () => load.recoveredSince(startingAt));
      const outcomes = await load.stop();

      expectOnlyServiceUnavailable(outcomes);
      const down = outcomes.filter((o) => o.started >= stoppedAt && o.finished <= startingAt);
      expect(down.length).toBeGreaterThan(0);
      expect(down.every((o) => !o.ok)).toBe(true);
      expect(recoveryTimes(outcomes, [startingAt])).toHaveLength(1);
      await expectIsolation(t, tenants, outcomes);
      await expectAllSucceed(t, tenants);
      // Data intact: every write the API acknowledged survived the restart, in its tenant.
      const system = createSystemClient(t.database);
      try {
        for (const tenant of tenants) {
          const { organizationId } = tenant;
          const acknowledged = outcomes
            .filter((o) => o.ok && o.tenant === tenant && o.op === 'createPost')
            .map((o) => decodeGlobalId(field<{ id: string }>(o.response, 'createPost').id).id);
          expect(acknowledged.length).toBeGreaterThan(0);
          const stored = await system.post.findMany({ where: { id: { in: acknowledged } } });
          expect(stored.map((p) => p.organizationId)).toEqual(
            acknowledged.map(() => organizationId),
          );
          // Committed but unacknowledged writes too: each in the tenant that sent it.
          const written = await system.post.findMany({
            where: { title: { startsWith: `${tenant.slug} load` } },
          });
          expect(new Set(written.map((p) => p.organizationId))).toEqual(new Set([organizationId]));
          const seed = await system.post.findUniqueOrThrow({
            where: keyOf({ organizationId, id: decodeGlobalId(tenant.postId).id }),
          });
          expect(seed).toMatchObject({ title: 'Hello', content: 'First post' });
        }
      } finally {
        await system.$disconnect();
      }
      console.info(
        `[faults] PostgreSQL stopped for ${(startingAt - stoppedAt).toFixed(0)} ms under ` +
          `${outcomes.length} requests (${outcomes.filter((o) => !o.ok).length} answered 503); ` +
          `served again ${recoveredMs.toFixed(0)} ms after pg_ctl start was run ` +
          `(which took ${(startedAt - startingAt).toFixed(0)} ms)`,
      );
    });

    it('a server that accepts connections and never answers: 503 in bounded time', async () => {
      if (!cluster) throw new Error('no cluster');
      const [a, b] = tenants;
      if (!a || !b) throw new Error('no tenants');
      const admin = new pg.Client({ connectionString: cluster.url });
      await admin.connect();
      let answeredMs: number;
      try {
        cluster.freeze();
        // Open sessions would still answer: end them all, so every request needs a new one.
        // (Backends are processes of their own: the admin's still runs, postmaster stopped.)
        await admin.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()`,
        );
        // Let the pool see its idle connections close: a request that picked one up first would
        // fail at once with a dead connection, the case the kill test already covers.
        await sleep(200);
        const frozenAt = performance.now();
        const answers = await Promise.all([
          withTimeout(request(t, a, 'read', 0), HANG_MS),
          withTimeout(request(t, b, 'createPost', 0), HANG_MS),
        ]);
        answeredMs = performance.now() - frozenAt;
        // They did wait for a connection that never came (until Prisma's maxWait).
        expect(answeredMs).toBeGreaterThan(1_000);
        expect(answers.map((r) => ({ status: r.status, codes: codes(r) }))).toEqual(
          answers.map(() => ({ status: 503, codes: ['SERVICE_UNAVAILABLE'] })),
        );
      } finally {
        cluster.thaw();
        await admin.end().catch(() => {});
      }
      const thawedAt = performance.now();
      await pollUntil(async () => (await t.gql(READ, {}, a.token)).data);
      const recoveredMs = performance.now() - thawedAt;
      await expectAllSucceed(t, tenants);
      console.info(
        `[faults] PostgreSQL frozen (SIGSTOP): requests answered 503 after ` +
          `${answeredMs.toFixed(0)} ms; ` +
          `served again ${recoveredMs.toFixed(0)} ms after SIGCONT`,
      );
    });
  },
);
