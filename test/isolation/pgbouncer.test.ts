import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Api } from '../../src/http/yoga.ts';
import { createScopedClients, type ScopedClients } from '../../src/tenancy/scoped-client.ts';
import { createTestApi, type TestApi } from '../support/api.ts';
import { openTestDatabase, type TestDatabase } from '../support/database.ts';
import { runLoad } from '../support/load/run.ts';
import { inspectThroughPooler, leftoversOf, type SessionState } from '../support/load/sessions.ts';
import { type LoadTenant, seedTenants } from '../support/load/tenants.ts';
import {
  type PgBouncer,
  pgbouncerUnavailableReason,
  startPgBouncer,
} from '../support/pgbouncer.ts';
import { adminQuery, databaseUrl, uniqueName, withClient } from '../support/server.ts';

/**
 * The same scenario through PgBouncer in transaction mode, where one server connection serves
 * many clients one transaction at a time and nothing resets it in between
 * (server_reset_query is empty). A session-level binding would travel to the next tenant here;
 * the positive control shows that it would, and that the inspection sees it.
 */

const SERVER_URL = process.env.TEST_DATABASE_URL;
const STRESS = Boolean(process.env.STRESS);
const TENANTS = 50;
/** Server connections PgBouncer keeps per database: far fewer than the API's clients. */
const SERVER_POOL = 5;
/** The API's own pool, all of it connected to PgBouncer. */
const CLIENT_POOL = 20;
const OPERATIONS = STRESS ? 10_000 : 1_000;
/** Twice the API's clients, eight times the server connections; few enough that none waits 2 s. */
const IN_FLIGHT = 40;
const LOGIN_USER = SERVER_URL ? decodeURIComponent(new URL(SERVER_URL).username || 'postgres') : '';
const SKIP = SERVER_URL
  ? pgbouncerUnavailableReason()
  : 'TEST_DATABASE_URL is not set (PgBouncer needs a PostgreSQL server behind it)';

// The describe title carries the reason too, but only verbose reporters print titles.
if (SKIP) console.warn(`[isolation] PgBouncer transaction mode skipped: ${SKIP}`);

describe.skipIf(SKIP)(
  `through PgBouncer in transaction mode${SKIP ? ` (skipped: ${SKIP})` : ''}`,
  () => {
    const serverUrl = SERVER_URL as string;
    let bouncer: PgBouncer;
    let database: TestDatabase;
    let t: TestApi;
    let api: Api;
    let scoped: ScopedClients;
    let tenants: LoadTenant[];
    let loaded = false;

    beforeAll(async () => {
      bouncer = await startPgBouncer({ serverUrl, poolMode: 'transaction', poolSize: SERVER_POOL });
      // Debian's PgBouncer (1.18) cannot keep named statements in transaction mode: the README's
      // setting for it (DATABASE_PREPARED_STATEMENTS=false).
      database = await openTestDatabase({
        poolSize: CLIENT_POOL,
        connectUrl: bouncer.through,
        preparedStatements: false,
      });
      t = await createTestApi({ database, introspection: false });
      api = t.api;
      // Seeded on the server directly; everything the API does goes through PgBouncer.
      tenants = await seedTenants(database.url as string, TENANTS, t.tokens);
      scoped = createScopedClients(database.adapter);
    });

    afterAll(async () => {
      await scoped?.disconnect();
      await t?.close();
      await database?.drop();
      await bouncer?.stop();
    });

    it(
      `${OPERATIONS} calls across ${TENANTS} tenants, ${CLIENT_POOL} clients sharing ${SERVER_POOL} server connections: nothing leaks`,
      async () => {
        const report = await runLoad({
          api,
          scoped,
          tenants,
          databaseUrl: database.url as string,
          operations: OPERATIONS,
          concurrency: IN_FLIGHT,
        });
        loaded = true;
        console.info(
          `[isolation] PgBouncer: ${report.operations} calls (${report.requests} HTTP requests), ` +
            `${report.concurrency} in flight, ${CLIENT_POOL} clients over ${SERVER_POOL} server ` +
            `connections: ${Math.round(report.durationMs)} ms, ${report.overloaded} overloaded`,
        );
        expect(report.leaks).toEqual([]);
        expect(report.unexpected).toEqual([]);
        expect(report.residue).toEqual([]);
        expect(report.overloaded).toBe(0);
      },
      STRESS ? 600_000 : 120_000,
    );

    it('leaves every server connection PgBouncer holds clean', async () => {
      expect(loaded, 'the load ran').toBe(true);
      const name = new URL(database.url as string).pathname.slice(1);
      const { states, serverPids } = await inspectThroughPooler(
        bouncer.through(database.url as string),
        serverUrl,
        name,
        SERVER_POOL,
      );
      expectAllInspected(states, serverPids);
      expect(states.flatMap((state) => leftoversOf(state, LOGIN_USER))).toEqual([]);
    });

    it('positive control: a session-level SET through PgBouncer reaches other clients, and the inspection sees it', async () => {
      const name = uniqueName('scopegraph_bouncer_control');
      const direct = databaseUrl(serverUrl, name);
      const pooled = bouncer.through(direct);
      const organization = tenants[0]?.organization.id as string;
      await adminQuery(serverUrl, `CREATE DATABASE "${name}"`);
      try {
        // What the binding must never do: bind at session level, outside any transaction.
        await withClient(pooled, async (client) => {
          await client.query(`SET app.organization_id = '${organization}'`);
          await client.query('SET ROLE scopegraph_app');
        });
        // A different client, later, through the same PgBouncer: it may land on that connection.
        const { states, serverPids } = await inspectThroughPooler(
          pooled,
          serverUrl,
          name,
          SERVER_POOL,
        );
        expectAllInspected(states, serverPids);
        const leaked = states.filter((state) => leftoversOf(state, LOGIN_USER).length > 0);
        expect(leaked).toHaveLength(1);
        expect(leftoversOf(leaked[0] as SessionState, LOGIN_USER)).toEqual([
          expect.stringContaining(`app.organization_id = '${organization}'`),
          expect.stringContaining('current_user = scopegraph_app'),
          expect.stringContaining('role = scopegraph_app'),
        ]);
      } finally {
        await adminQuery(serverUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      }
    });
  },
);

/** The probes saw every server connection of the database, each once. */
function expectAllInspected(states: SessionState[], serverPids: number[]) {
  const seen = [...new Set(states.map((state) => state.pid))].sort((a, b) => a - b);
  expect(seen).toHaveLength(states.length);
  expect(seen).toEqual(serverPids);
}
