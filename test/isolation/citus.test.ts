// On a Citus coordinator (TEST_DATABASE_URL names one, README "Scaling out"): the migrations
// distribute every tenant table by organization_id, co-located, with organizations a reference
// table; and what one organization's requests send is routed to one shard. Elsewhere it skips.
import { fileURLToPath } from 'node:url';
import type { SqlQuery } from '@prisma/driver-adapter-utils';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tenantTables } from '../../src/db/migrations/distribution.ts';
import {
  createTestApi,
  type Org,
  recordingAdapter,
  signUpOrg,
  type TestApi,
} from '../support/api.ts';
import { openTestDatabase, runsOnCitus, type TestDatabase } from '../support/database.ts';
import { explainAll } from '../support/plans.ts';

const skipped = runsOnCitus()
  ? ''
  : ' (skipped: TEST_DATABASE_URL does not name a Citus coordinator; README "Scaling out" says how to run one)';

const NESTED = `query {
  posts(first: 10) { edges { node { title author { name } comments(first: 5) { edges { node { body author { name } } } } } } }
}`;

describe.skipIf(!runsOnCitus())(`on Citus${skipped}`, () => {
  let database: TestDatabase;
  let t: TestApi;
  let a: Org;
  const sent: SqlQuery[] = [];

  beforeAll(async () => {
    database = await openTestDatabase();
    t = await createTestApi({
      database: {
        ...database,
        adapter: recordingAdapter(database.adapter, { query: (query) => sent.push(query) }),
      } as TestDatabase,
    });
    a = await signUpOrg(t, 'citus-a');
    await signUpOrg(t, 'citus-b');
  });

  afterAll(async () => {
    await t?.close();
    await database?.drop();
  });

  it('distributes every tenant table of the registry by organization_id, co-located', async () => {
    const tenant = (
      await tenantTables(fileURLToPath(new URL('../../prisma/schema.prisma', import.meta.url)))
    ).sort();
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const { rows } = await client.query<{
        table: string;
        method: string;
        column: string | null;
        colocation: number;
      }>(`SELECT logicalrelid::text AS table, partmethod AS method,
                 column_to_column_name(logicalrelid, partkey) AS column, colocationid AS colocation
            FROM pg_dist_partition ORDER BY 1`);
      const reference = rows.filter((row) => row.method === 'n').map((row) => row.table);
      const distributed = rows.filter((row) => row.method === 'h');
      expect(reference).toEqual(['organizations']);
      expect(distributed.map((row) => row.table).sort()).toEqual(tenant);
      expect(new Set(distributed.map((row) => row.column))).toEqual(new Set(['organization_id']));
      expect(new Set(distributed.map((row) => row.colocation)).size).toBe(1);
    } finally {
      await client.end();
    }
  });

  it("routes each statement of one organization's read and write to one shard (EXPLAIN)", async () => {
    sent.length = 0;
    const read = await t.gql(NESTED, {}, a.owner.token);
    expect(read.errors).toBeUndefined();
    const write = await t.gql(
      'mutation { createPost(input: { title: "routed", content: "x" }) { title author { name } } }',
      {},
      a.owner.token,
    );
    expect(write.errors).toBeUndefined();
    const statements = sent.filter((query) =>
      /^\s*(SELECT|INSERT|UPDATE|DELETE)\b/i.test(query.sql),
    );
    const tenantStatements = statements.filter((query) =>
      /"(posts|users|comments)"/.test(query.sql),
    );
    expect(tenantStatements.length).toBeGreaterThanOrEqual(4);
    // Not disposed: it shares the database's pool (as test/support/plans.ts does).
    const adapter = await database.adapter.connect();
    expect(await explainAll(adapter, statements)).toEqual([]);
    // The check can fail: the same table read without an organization goes to every shard.
    const fanOut = await explainAll(adapter, [
      {
        sql: 'SELECT "title" FROM "public"."posts" WHERE "title" = $1',
        args: ['x'],
        argTypes: [{ scalarType: 'string', arity: 'scalar' }],
      },
    ]);
    expect(fanOut.map((failure) => failure.reason)).toContainEqual(
      expect.stringMatching(/^Citus sends it to \d+ shards, not one$/),
    );
  });
});
