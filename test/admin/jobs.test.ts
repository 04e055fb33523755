import { describe, expect, it } from 'vitest';
import { ADMIN_PATH } from '../../src/admin/endpoint.ts';
import { type Api, createApi } from '../../src/http/yoga.ts';
import type { JobQueue } from '../../src/jobs/queue.ts';
import { createLogger } from '../../src/logging.ts';
import { models } from '../../src/tenancy/models.ts';
import {
  codes,
  createTestApi,
  field,
  type GraphQLResponse,
  signUpOrg,
  TEST_SECRET,
} from '../support/api.ts';
import { storedExport } from '../support/exports.ts';
import { createRowOfEveryModel, parentsOfApiOrg } from '../support/fixtures.ts';
import {
  a,
  adminGql,
  adminToken,
  auditLog,
  gql,
  jobDone,
  jobs,
  orgA,
  orgB,
  system,
  t,
  until,
  useAdminApi,
  VIEWER,
} from './setup.ts';

/** Export and deletion through the job queue, its dead letters, and the endpoint without a queue. */
useAdminApi();

describe('export and deletion through the job queue', () => {
  it('exportOrganization creates an export the job makes READY', async () => {
    const response = await adminGql(
      `mutation($id: ID!) { exportOrganization(id: $id) { exportId jobId } }`,
      { id: orgA },
    );
    const { exportId, jobId } = field<{ exportId: string; jobId: string }>(
      response,
      'exportOrganization',
    );
    const key = { organizationId_id: { organizationId: orgA, id: exportId } };
    expect(await system.dataExport.findUnique({ where: key })).toMatchObject({
      requestedById: null,
    });
    await jobDone('export-organization', jobId);
    const done = await system.dataExport.findUniqueOrThrow({ where: key });
    expect(done.status).toBe('READY');
    const text = await storedExport(system, exportId);
    expect(text).toContain(orgA);
    expect(text).not.toContain(orgB);
    const [entry] = await auditLog(orgA);
    expect(entry).toMatchObject({
      action: 'organization.export_requested',
      actorType: 'PLATFORM_ADMIN',
    });
    expect(JSON.parse(entry?.details ?? 'null')).toEqual({ exportId });
  });

  it('deleteOrganization removes every row of it, none of anyone else, and keeps its audit log', async () => {
    const c = await signUpOrg(t, 'initech');
    const orgC = (await system.organization.findUniqueOrThrow({ where: { slug: 'initech' } })).id;
    // Let the notify-comment jobs of the sign-ups land first, so that nothing else moves.
    await until('notifications', async () => {
      const counts = await Promise.all(
        [orgA, orgB, orgC].map((organizationId) =>
          system.notification.count({ where: { organizationId } }),
        ),
      );
      return counts.every((count) => count > 0);
    });
    // A row of every tenant-owned model from its fixture factory, so "none left" covers each.
    await createRowOfEveryModel(system, parentsOfApiOrg(orgC, c));
    const before = await rowCounts([orgA, orgB, orgC]);
    expect(Object.entries(before[orgC] ?? {}).filter(([, count]) => count === 0)).toEqual([]);
    expect(before[orgC]?.User).toBe(4);
    expect(before[orgC]?.Notification).toBeGreaterThan(0);

    const DELETE = `mutation($id: ID!) { deleteOrganization(id: $id) {
      jobId organization { id deletionRequestedAt } } }`;
    const first = field<{ jobId: string; organization: { deletionRequestedAt: string } }>(
      await adminGql(DELETE, { id: orgC }, adminToken, { 'x-request-id': 'delete-initech' }),
      'deleteOrganization',
    );
    expect(first.organization.deletionRequestedAt).toEqual(expect.any(String));
    // Its tokens stop working at once, whether or not the job has run yet.
    expect(await gql(VIEWER, {}, c.owner.token)).toFailWith('UNAUTHENTICATED');
    // A second call changes and records nothing (or finds the organization already gone).
    const second = await adminGql(DELETE, { id: orgC });
    if (second.errors) expect(codes(second)).toEqual(['NOT_FOUND']);
    else {
      expect(field<typeof first>(second, 'deleteOrganization').organization).toEqual(
        first.organization,
      );
    }
    await jobDone('delete-organization', first.jobId);
    await until(
      'the organization to be gone',
      async () => (await system.organization.findUnique({ where: { id: orgC } })) === null,
    );

    const after = await rowCounts([orgA, orgB, orgC]);
    for (const [model, count] of Object.entries(after[orgC] ?? {})) {
      if (model === 'AuditEntry') expect(count).toBeGreaterThan(0);
      else expect({ model, count }).toEqual({ model, count: 0 });
    }
    expect(after[orgA]).toEqual(before[orgA]);
    expect(after[orgB]).toEqual(before[orgB]);
    expect(
      codes(await adminGql(`query($id: ID!) { organization(id: $id) { id } }`, { id: orgC })),
    ).toEqual(['NOT_FOUND']);

    // The audit log outlives the organization, and is still readable by a platform admin.
    const entries = await auditLog(orgC);
    const actions = entries.map((e) => e.action);
    expect(actions.filter((action) => action === 'organization.deletion_requested')).toHaveLength(
      1,
    );
    expect(actions).toContain('organization.deleted');
    expect(actions).toContain('member.added');
    expect(entries.find((e) => e.action === 'organization.deletion_requested')).toMatchObject({
      actorLabel: 'ops@example.com',
      requestId: 'delete-initech',
    });
    // The others' logs hold nothing of it.
    for (const org of [orgA, orgB]) {
      expect((await auditLog(org)).map((e) => e.targetId)).not.toContain(orgC);
    }
  });

  it('deadLetterJobs lists a job that failed all of its attempts', async () => {
    const jobId = await jobs().send('export-organization', {
      organizationId: 'not-a-uuid',
      exportId: '00000000-0000-4000-8000-000000000000',
    });
    const LIST = `{ deadLetterJobs(limit: 10) { id queue data retries error createdAt failedAt } }`;
    const listed = await until('the dead letter', async () => {
      const response = await adminGql(LIST);
      const jobsListed = field<{ id: string; queue: string; data: string; error: string | null }[]>(
        response,
        'deadLetterJobs',
      );
      return jobsListed.find((job) => job.id === jobId);
    });
    expect(listed.queue).toBe('export-organization');
    expect(JSON.parse(listed.data)).toMatchObject({ organizationId: 'not-a-uuid' });
    expect(listed.error).toEqual(expect.any(String));
    expect(codes(await adminGql('{ deadLetterJobs(limit: 0) { id } }'))).toEqual([
      'BAD_USER_INPUT',
    ]);
    // A tenant cannot ask for them.
    expect(codes(await gql('{ deadLetterJobs { id } }', {}, a.owner.token))).toEqual([
      'GRAPHQL_VALIDATION_FAILED',
    ]);
  });
});

describe('without a job queue, or when it fails', () => {
  it('deletion is SERVICE_UNAVAILABLE and changes nothing; an unexpected error says nothing', async () => {
    const failing = {
      deadLetters: () =>
        Promise.reject(new Error('relation "pgboss.job" does not exist at 10.1.2.3:5432')),
    } as unknown as JobQueue;
    const noQueue = await createTestApi({
      database: t.database,
      introspection: false,
      api: { adminSecret: TEST_SECRET },
    });
    // By hand: createTestApi makes a real queue or none, and this one has to fail.
    const broken = createApi({
      database: t.database,
      tokens: t.tokens,
      logger: createLogger('silent'),
      introspection: false,
      graphiql: false,
      adminSecret: TEST_SECRET,
      jobs: failing,
    });
    const call = async (target: Api, query: string) =>
      (
        await target.yoga.fetch(`http://yoga${ADMIN_PATH}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
          body: JSON.stringify({ query }),
        })
      ).text();
    try {
      const deletion = JSON.parse(
        await call(noQueue.api, `mutation { deleteOrganization(id: "${orgB}") { jobId } }`),
      ) as GraphQLResponse;
      expect(deletion).toFailWith('SERVICE_UNAVAILABLE');
      const row = await system.organization.findUniqueOrThrow({ where: { id: orgB } });
      expect(row.deletionRequestedAt).toBeNull();

      const text = await call(broken, '{ deadLetterJobs { id } }');
      expect(JSON.parse(text) as GraphQLResponse).toFailWith('INTERNAL_SERVER_ERROR');
      expect(text).toContain('Unexpected error.');
      expect(text).not.toMatch(/pgboss|10\.1\.2\.3|relation/);
      // Introspection follows the API's setting for admins too.
      expect(await call(broken, '{ __schema { types { name } } }')).not.toContain('Organization');
    } finally {
      await noQueue.close();
      await broken.close();
    }
    expect(field(await adminGql('{ deadLetterJobs { id } }'), 'deadLetterJobs')).toEqual(
      expect.any(Array),
    );
  });
});

/** Rows of every tenant-owned model (src/tenancy/models.ts), per organization. */
async function rowCounts(
  organizationIds: string[],
): Promise<Record<string, Record<string, number>>> {
  const delegates = system as unknown as Record<
    string,
    { count: (args: { where: { organizationId: string } }) => Promise<number> }
  >;
  const counts: Record<string, Record<string, number>> = {};
  for (const organizationId of organizationIds) {
    const perModel: Record<string, number> = {};
    for (const model of models.values()) {
      if (model.global) continue;
      const delegate = delegates[model.name.charAt(0).toLowerCase() + model.name.slice(1)];
      if (!delegate) throw new Error(`No delegate for ${model.name}`);
      perModel[model.name] = await delegate.count({ where: { organizationId } });
    }
    counts[organizationId] = perModel;
  }
  return counts;
}
