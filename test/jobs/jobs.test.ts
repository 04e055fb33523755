import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createSystemClient, type SystemClient } from '../../src/db/system.ts';
import { COMMENT_ON_YOUR_POST } from '../../src/jobs/notifications.ts';
import type { JobQueue } from '../../src/jobs/queue.ts';
import { decodeGlobalId } from '../../src/schema/ids.ts';
import { SECRET_FIELDS, UNEXPORTED_MODELS } from '../../src/tenancy/export-rules.ts';
import { modelInfo, models } from '../../src/tenancy/models.ts';
import { createTestApi, field, type Org, signUpOrg, type TestApi } from '../support/api.ts';
import { parseExport, storedExport } from '../support/exports.ts';
import { createRowOfEveryModel, parentsOfApiOrg } from '../support/fixtures.ts';

/**
 * The real jobs on the real queue (pg-boss on this suite's database: PGlite in-process, or the
 * server), worked in this process. Each job rebuilds its Scope from the organization id in its
 * payload and works through the scoped client: a payload that names another organization's row
 * finds nothing and changes nothing.
 */

let t: TestApi;
let jobs: JobQueue;
let system: SystemClient;
let a: Org;
let b: Org;

const WAIT = { timeout: 20_000, interval: 100 } as const;
const uuid = (globalId: string) => decodeGlobalId(globalId).id;

beforeAll(async () => {
  t = await createTestApi({ jobs: { retryLimit: 1, retryDelay: 1, retryDelayMax: 1 } });
  jobs = t.jobs as JobQueue;
  system = createSystemClient(t.database);
  // Each has the member's comment on the owner's post: one notification job each.
  a = await signUpOrg(t, 'acme');
  b = await signUpOrg(t, 'globex');
});

afterAll(async () => {
  await system.$disconnect();
  await t.close();
});

const NOTIFICATIONS = `query($unreadOnly: Boolean) {
  notifications(first: 10, unreadOnly: $unreadOnly) {
    totalCount
    edges { node { kind readAt comment { id body } } }
  }
}`;

type Notifications = {
  totalCount: number;
  edges: { node: { kind: string; readAt: string | null; comment: { id: string } } }[];
};

async function notificationsOf(token: string, unreadOnly = false): Promise<Notifications> {
  return field<Notifications>(await t.gql(NOTIFICATIONS, { unreadOnly }, token), 'notifications');
}

async function jobDone(name: Parameters<JobQueue['state']>[0], id: string): Promise<void> {
  await vi.waitFor(async () => expect(await jobs.state(name, id)).toBe('completed'), WAIT);
}

describe('notifications outbox', () => {
  it("a comment on your post reaches your outbox, and nobody else's", async () => {
    await vi.waitFor(async () => {
      expect((await notificationsOf(a.owner.token)).totalCount).toBe(1);
    }, WAIT);
    const own = await notificationsOf(a.owner.token);
    expect(own.edges[0]?.node).toMatchObject({
      kind: COMMENT_ON_YOUR_POST,
      readAt: null,
      comment: { id: a.commentId },
    });
    // The commenter gets nothing for their own comment; the other organization only its own.
    expect((await notificationsOf(a.member.token)).totalCount).toBe(0);
    await vi.waitFor(async () => {
      expect((await notificationsOf(b.owner.token)).edges.map((e) => e.node.comment.id)).toEqual([
        b.commentId,
      ]);
    }, WAIT);
  });

  it('commenting on your own post notifies no one', async () => {
    const comment = await t.gql(
      `mutation($postId: ID!) { createComment(input: { postId: $postId, body: "Me again" }) { id } }`,
      { postId: a.postId },
      a.owner.token,
    );
    const commentId = uuid(field<{ id: string }>(comment, 'createComment').id);
    const organizationId = await orgIdOf(a);
    // A second job for the same comment, sent directly, has been worked once it completes.
    await jobDone(
      'notify-comment',
      await jobs.send('notify-comment', { organizationId, commentId }),
    );
    expect(await system.notification.count({ where: { commentId } })).toBe(0);
  });

  it('a retried or repeated job does not duplicate the notification', async () => {
    const organizationId = await orgIdOf(a);
    const commentId = uuid(a.commentId);
    const ids = await Promise.all(
      [1, 2, 3].map(() => jobs.send('notify-comment', { organizationId, commentId })),
    );
    for (const id of ids) await jobDone('notify-comment', id);
    expect(await system.notification.count({ where: { organizationId, commentId } })).toBe(1);
  });

  it("a job naming another organization's comment writes nothing, in either organization", async () => {
    const aId = await orgIdOf(a);
    const bId = await orgIdOf(b);
    const before = await system.notification.findMany({ orderBy: { id: 'asc' } });
    // Organization A's job, B's comment: the scoped client does not find it.
    await jobDone(
      'notify-comment',
      await jobs.send('notify-comment', { organizationId: aId, commentId: uuid(b.commentId) }),
    );
    expect(await system.notification.findMany({ orderBy: { id: 'asc' } })).toEqual(before);
    // Positive control: B's new comment, under B's own id, is written.
    const comment = await t.gql(
      `mutation($postId: ID!) { createComment(input: { postId: $postId, body: "Again" }) { id } }`,
      { postId: b.postId },
      b.admin.token,
    );
    const commentId = uuid(field<{ id: string }>(comment, 'createComment').id);
    await jobDone(
      'notify-comment',
      await jobs.send('notify-comment', { organizationId: bId, commentId }),
    );
    expect(await system.notification.count({ where: { organizationId: bId, commentId } })).toBe(1);
  });

  it('markNotificationsRead marks only your own', async () => {
    await vi.waitFor(async () => {
      expect((await notificationsOf(b.owner.token, true)).totalCount).toBe(2);
    }, WAIT);
    const marked = await t.gql('mutation { markNotificationsRead }', {}, a.owner.token);
    expect(field<number>(marked, 'markNotificationsRead')).toBe(1);
    expect((await notificationsOf(a.owner.token, true)).totalCount).toBe(0);
    expect((await notificationsOf(a.owner.token)).totalCount).toBe(1);
    expect((await notificationsOf(b.owner.token, true)).totalCount).toBe(2);
  });
});

const REQUEST_EXPORT = 'mutation { requestDataExport { id status } }';
const EXPORT = 'query($id: ID!) { dataExport(id: $id) { id status expiresAt } }';
const LINK = 'mutation($id: ID!) { createExportDownloadLink(id: $id) }';

type ExportView = { id: string; status: string; expiresAt: string | null };

async function finishedExport(org: Org): Promise<ExportView> {
  const requested = field<ExportView>(
    await t.gql(REQUEST_EXPORT, {}, org.owner.token),
    'requestDataExport',
  );
  expect(requested).toMatchObject({ status: 'PENDING' });
  return vi.waitFor(async () => {
    const view = field<ExportView>(
      await t.gql(EXPORT, { id: requested.id }, org.owner.token),
      'dataExport',
    );
    expect(view.status).toBe('READY');
    return view;
  }, WAIT);
}

/** The export as its owner downloads it: a link through GraphQL, then GET on the link. */
async function downloaded(org: Org, id: string): Promise<string> {
  const path = field<string>(
    await t.gql(LINK, { id }, org.owner.token),
    'createExportDownloadLink',
  );
  const response = await t.fetch({ path, method: 'GET' });
  expect(response.status).toBe(200);
  return response.text();
}

describe('data export', () => {
  it("holds every row of every model of the owner's organization and nothing of another", async () => {
    const aId = await orgIdOf(a);
    const bId = await orgIdOf(b);
    // A row of every tenant-owned model from its fixture factory, in both organizations, so
    // that every model has rows to find, and to leave out.
    await createRowOfEveryModel(system, parentsOfApiOrg(aId, a));
    await createRowOfEveryModel(system, parentsOfApiOrg(bId, b));
    const view = await finishedExport(a);
    const text = await downloaded(a, view.id);
    const [header, ...lines] = parseExport(text);
    expect(header).toMatchObject({ format: 'scopegraph-ndjson/1', organizationId: aId });
    // Every exported model of the registry, each with exactly A's rows (the positive control).
    const exported = [...models.keys()].filter((name) => !UNEXPORTED_MODELS.has(name));
    for (const name of exported) {
      const delegate = (system as unknown as Record<string, Counter>)[lowerFirst(name)] as Counter;
      const where = modelInfo(name).global ? { id: aId } : { organizationId: aId };
      const count = await delegate.count({ where });
      expect(count, `${name} has rows in A`).toBeGreaterThan(0);
      expect(lines.filter((line) => line.model === name).length, name).toBe(count);
    }
    expect(new Set(lines.map((line) => line.model))).toEqual(new Set(exported));
    expect(lines.map((line) => line.row?.id)).toContain(uuid(a.postId));
    // ... and not one id of B, nor any declared secret.
    for (const id of [bId, uuid(b.postId), uuid(b.commentId), uuid(b.owner.userId)]) {
      expect(text).not.toContain(id);
    }
    for (const [name, fields] of Object.entries(SECRET_FIELDS)) {
      for (const row of lines.filter((line) => line.model === name)) {
        for (const secret of fields) expect(row.row ?? {}).not.toHaveProperty(secret);
      }
    }
    expect(text).not.toMatch(/passwordHash|password_hash|\$argon2|\$scrypt/);
  });

  it('is for the OWNER only; another organization cannot see it exists', async () => {
    expect(await t.gql(REQUEST_EXPORT, {}, a.admin.token)).toFailWith('FORBIDDEN');
    const view = await finishedExport(a);
    expect(await t.gql(EXPORT, { id: view.id }, a.admin.token)).toFailWith('FORBIDDEN');
    expect(await t.gql(LINK, { id: view.id }, a.admin.token)).toFailWith('FORBIDDEN');
    expect(await t.gql(EXPORT, { id: view.id }, b.owner.token)).toFailWith('NOT_FOUND');
    expect(await t.gql(LINK, { id: view.id }, b.owner.token)).toFailWith('NOT_FOUND');
    expect(
      field<ExportView>(await t.gql(EXPORT, { id: view.id }, a.owner.token), 'dataExport').id,
    ).toBe(view.id);
  });

  it('expires: no link after expiresAt, and the expiry job deletes the chunks', async () => {
    const view = await finishedExport(b);
    const organizationId = await orgIdOf(b);
    const exportId = uuid(view.id);
    expect(await system.dataExportChunk.count({ where: { exportId } })).toBeGreaterThan(0);
    await system.dataExport.update({
      where: { organizationId_id: { organizationId, id: exportId } },
      data: { expiresAt: new Date(Date.now() - 1_000) },
    });
    expect(
      field<ExportView>(await t.gql(EXPORT, { id: view.id }, b.owner.token), 'dataExport'),
    ).toMatchObject({ status: 'EXPIRED' });
    expect(await t.gql(LINK, { id: view.id }, b.owner.token)).toFailWith('BAD_USER_INPUT');
    await jobDone('expire-export', await jobs.send('expire-export', { organizationId, exportId }));
    expect(await system.dataExportChunk.count({ where: { exportId } })).toBe(0);
  });

  it("an export job under another organization's id writes nothing into the export", async () => {
    const aId = await orgIdOf(a);
    // A pending export of A, with no job of its own yet.
    const { id: exportId } = await system.dataExport.create({ data: { organizationId: aId } });
    // Worked under B's organization: B's scoped client cannot see A's export row.
    await jobDone(
      'export-organization',
      await jobs.send('export-organization', { organizationId: await orgIdOf(b), exportId }),
    );
    const untouched = await system.dataExport.findFirstOrThrow({ where: { id: exportId } });
    expect(untouched).toMatchObject({ status: 'PENDING' });
    expect(await system.dataExportChunk.count({ where: { exportId } })).toBe(0);
    // Positive control: the same export under A's own id is filled, with A's rows.
    await jobDone(
      'export-organization',
      await jobs.send('export-organization', { organizationId: aId, exportId }),
    );
    const done = await system.dataExport.findFirstOrThrow({ where: { id: exportId } });
    expect(done.status).toBe('READY');
    expect(await storedExport(system, exportId)).toContain('"slug":"acme"');
  });
});

type Counter = { count: (args: object) => Promise<number> };
const lowerFirst = (name: string) => name.charAt(0).toLowerCase() + name.slice(1);

async function orgIdOf(org: Org): Promise<string> {
  const found = await system.organization.findUniqueOrThrow({ where: { slug: org.slug } });
  return found.id;
}
