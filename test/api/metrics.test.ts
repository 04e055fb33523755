import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMetrics } from '../../src/observability/load.ts';
import { createTestApi, type Org, signUpOrg, type TestApi } from '../support/api.ts';

const TOKEN = 'metrics-token-that-is-long-enough-0123456789';

/** Every sample of the exposition: name, labels, value (comments skipped). */
function samples(text: string) {
  return text
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const match = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/);
      if (!match) throw new Error(`not a sample: ${line}`);
      const labels: Record<string, string> = {};
      for (const [, key, value] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
        labels[key as string] = value as string;
      }
      return { name: match[1] as string, labels, value: Number(match[3]) };
    });
}

const scrape = async (t: TestApi, token = TOKEN) => {
  const response = await t.fetch({
    method: 'GET',
    path: '/metrics',
    headers: { authorization: `Bearer ${token}` },
  });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
  return samples(await response.text());
};

const value = (
  all: ReturnType<typeof samples>,
  name: string,
  labels: Record<string, string> = {},
) =>
  all
    .filter((s) => s.name === name)
    .filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);

describe('GET /metrics', () => {
  let t: TestApi;
  let orgs: Org[];
  let organizationIds: string[];

  beforeAll(async () => {
    t = await createTestApi({ jobs: true, api: { metrics: await loadMetrics({ token: TOKEN }) } });
    orgs = [await signUpOrg(t, 'metrics-a'), await signUpOrg(t, 'metrics-b')];
    const db = await t.database.adapter.connect();
    const rows = await db.queryRaw({ sql: 'SELECT id FROM organizations', args: [], argTypes: [] });
    organizationIds = rows.rows.map((row) => String(row[0]));
    expect(organizationIds).toHaveLength(2);
  });
  afterAll(() => t.close());

  it('is refused without the bearer, or with another one', async () => {
    const attempts: Record<string, string>[] = [
      {},
      { authorization: 'Bearer wrong' },
      { authorization: TOKEN },
    ];
    for (const headers of attempts) {
      const response = await t.fetch({ method: 'GET', path: '/metrics', headers });
      expect(response.status).toBe(401);
      expect(await response.text()).toBe('');
    }
    // A member's own token is not a scraper's.
    const member = await t.fetch({
      method: 'GET',
      path: '/metrics',
      headers: { authorization: `Bearer ${orgs[0]?.owner.token}` },
    });
    expect(member.status).toBe(401);
  });

  it('counts operations by name and type, and errors by code', async () => {
    const before = await scrape(t);
    for (const org of orgs) {
      expect((await t.gql('query Feed { viewer { name } }', {}, org.owner.token)).status).toBe(200);
      await t.gql('{ viewer { name } }', {}, org.member.token);
    }
    const refused = await t.gql('query Feed { viewer { name } }');
    expect(refused.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    await t.gql('query Broken { viewer { nope } }', {}, orgs[0]?.owner.token);

    const after = await scrape(t);
    const feed = { operation_name: 'Feed', operation_type: 'query' };
    const diff = (name: string, labels: Record<string, string>) =>
      value(after, name, labels) - value(before, name, labels);
    expect(diff('graphql_operations_total', feed)).toBe(3);
    expect(diff('graphql_operation_duration_seconds_count', feed)).toBe(3);
    expect(
      diff('graphql_operations_total', { operation_name: 'anonymous', operation_type: 'query' }),
    ).toBe(2);
    expect(diff('graphql_errors_total', { code: 'UNAUTHENTICATED' })).toBe(1);
    expect(diff('graphql_errors_total', { code: 'GRAPHQL_VALIDATION_FAILED' })).toBe(1);
  });

  it('shows open streams, the job queues, the pool (on Postgres) and Node defaults', async () => {
    const all = await scrape(t);
    const names = new Set(all.map((s) => s.name));
    expect(value(all, 'graphql_subscription_streams_open')).toBe(0);
    expect(names).toContain('job_queue_jobs');
    expect(all.filter((s) => s.name === 'job_queue_jobs').map((s) => s.labels.queue)).toContain(
      'export-organization',
    );
    expect(names).toContain('job_failed_attempts_total');
    expect(names).toContain('process_resident_memory_bytes');
    expect(names).toContain('nodejs_eventloop_lag_seconds');
    if (t.database.kind === 'postgres') {
      expect(value(all, 'db_pool_connections', { state: 'total' })).toBeGreaterThan(0);
    } else {
      expect(names).not.toContain('db_pool_connections');
    }
  });

  it('no label carries an organization: not its id, not its slug', async () => {
    for (const org of orgs) await t.gql('query Feed { viewer { name } }', {}, org.owner.token);
    const all = await scrape(t);
    const tenantValues = [...organizationIds, ...orgs.map((org) => org.slug)];
    const labelValues = all.flatMap((s) => Object.values(s.labels));
    expect(labelValues.length).toBeGreaterThan(0);
    for (const label of labelValues) {
      for (const tenant of tenantValues) expect(label).not.toContain(tenant);
    }
    // And no label is named after one.
    const labelNames = new Set(all.flatMap((s) => Object.keys(s.labels)));
    expect([...labelNames].filter((n) => /org|tenant|user|member|request/i.test(n))).toEqual([]);
  });
});

describe('GET /metrics bounds its labels', () => {
  let t: TestApi;
  let org: Org;
  beforeAll(async () => {
    t = await createTestApi({
      api: { metrics: await loadMetrics({ token: TOKEN, maxOperationNames: 3 }) },
    });
    org = await signUpOrg(t, 'metrics-cap');
  });
  afterAll(() => t.close());

  it('random operation names past the cap collapse into `other`', async () => {
    for (let i = 0; i < 12; i++) {
      await t.gql(`query Random${i} { viewer { name } }`, {}, org.owner.token);
    }
    const all = await scrape(t);
    const names = new Set(
      all.filter((s) => s.name === 'graphql_operations_total').map((s) => s.labels.operation_name),
    );
    // signUpOrg's own (anonymous or named) operations may take some of the three places.
    const kept = [...names].filter((n) => n !== 'anonymous' && n !== 'other');
    expect(kept.length).toBe(3);
    expect(names).toContain('other');
    expect(value(all, 'graphql_operations_total', { operation_name: 'other' })).toBeGreaterThan(8);
  });
});

describe('without METRICS_TOKEN', () => {
  let t: TestApi;
  beforeAll(async () => {
    t = await createTestApi();
  });
  afterAll(() => t.close());

  it('there is no /metrics', async () => {
    const response = await t.fetch({
      method: 'GET',
      path: '/metrics',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(response.status).toBe(404);
  });
});
