import type { SqlQuery } from '@prisma/driver-adapter-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, runsOnCitus, type TestDatabase } from '../support/database.ts';
import { collectPlans, explainAll } from '../support/plans.ts';

// The guard createTestApi runs over every statement of the API suite (test/support/plans.ts),
// shown failing on statements that do not reach a tenant table through organization_id.
const ORG = '00000000-0000-4000-8000-000000000001';
const text = (sql: string, ...args: string[]): SqlQuery => ({
  sql,
  args,
  argTypes: args.map(() => ({ scalarType: 'string', arity: 'scalar' }) as const),
});

describe('the query-plan guard', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await openTestDatabase();
  });
  afterAll(() => database.drop());

  const explain = async (query: SqlQuery) => explainAll(await database.adapter.connect(), [query]);

  it('passes a statement filtered on organization_id through an index that leads with it', async () => {
    const query = text(
      'SELECT id FROM posts WHERE organization_id = $1::uuid AND author_id = $2::uuid',
      ORG,
      ORG,
    );
    expect(await explain(query)).toEqual([]);
  });

  it('fails a statement whose only filter has no organization-leading index', async () => {
    const failures = await explain(text('SELECT id FROM posts WHERE title = $1', 'x'));
    // (On Citus a failure comes first that it goes to every shard.)
    const failure = failures.find((f) => f.table === 'posts');
    expect(failure).toMatchObject({ table: 'posts' });
    expect(failure?.reason).toMatch(/without organization_id|Seq Scan/);
  });

  it('fails an index scan that skips the organization_id column', async () => {
    // PostgreSQL 18 can skip-scan (organization_id, author_id) for author_id alone.
    const failures = await explain(text('SELECT id FROM posts WHERE author_id = $1::uuid', ORG));
    expect(failures.map((f) => f.table)).toContain('posts');
  });

  it('fails a join whose inner side is not reached through organization_id', async () => {
    const failures = await explain(
      text(
        `SELECT c.id FROM posts p JOIN comments c ON c.post_id = p.id
         WHERE p.organization_id = $1::uuid`,
        ORG,
      ),
    );
    // Citus refuses to plan it at all (a join not on the distribution column): the error is
    // the failure.
    expect(failures.map((f) => f.table)).toContain(runsOnCitus() ? '?' : 'comments');
  });

  it('skips statements that read no tenant table', async () => {
    expect(await explain(text('SELECT id FROM organizations WHERE slug = $1', 'x'))).toEqual([]);
  });

  it('collects what goes through the adapter and reports it with the statement', async () => {
    const plans = collectPlans();
    const adapter = await plans.recording(database.adapter).connect();
    await adapter.queryRaw(text('SELECT id FROM users WHERE name = $1', 'Mia'));
    const error = await plans.check(database.adapter);
    expect(error?.message).toContain('SELECT id FROM users WHERE name = $1');
    expect(error?.message).toContain('- users:');
  });
});
