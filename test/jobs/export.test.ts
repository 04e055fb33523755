import type { SqlDriverAdapter, SqlQuery, Transaction } from '@prisma/driver-adapter-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.ts';
import { createSystemClient, type SystemClient } from '../../src/db/system.ts';
import { getDatamodel } from '../../src/generated/pothos-types.ts';
import { EXPORT_BATCH_ROWS, exportOrganization } from '../../src/jobs/export.ts';
import type { Job } from '../../src/jobs/queue.ts';
import { exportRules } from '../../src/tenancy/export-rules.ts';
import type { Datamodel } from '../../src/tenancy/models.ts';
import { forOrganization } from '../../src/tenancy/scope.ts';
import { createScopedClients, type ScopedClients } from '../../src/tenancy/scoped-client.ts';
import { openTestDatabase, type TestDatabase } from '../support/database.ts';
import { parseExport, storedExport } from '../support/exports.ts';

/**
 * The export job on its own, over an adapter that records how many rows every query returned:
 * a tenant bigger than one batch is read in bounded keyset batches, and a retried job writes its
 * chunks once.
 */

const POSTS = 2 * EXPORT_BATCH_ROWS + 500;
const SECRET_HASH = '$scrypt$secret-hash-that-must-not-leave';

let database: TestDatabase;
let system: SystemClient;
let scoped: ScopedClients;
const rowsPerQuery: { sql: string; rows: number }[] = [];
let organizationId: string;
let otherOrganizationId: string;

beforeAll(async () => {
  database = await openTestDatabase();
  system = createSystemClient(database);
  scoped = createScopedClients(rowCounting(database.adapter));
  const seed = async (slug: string, posts: number) => {
    const organization = await system.organization.create({ data: { name: slug, slug } });
    const user = await system.user.create({
      data: { organizationId: organization.id, email: 'o@x', name: 'O', passwordHash: SECRET_HASH },
    });
    await system.post.createMany({
      data: Array.from({ length: posts }, (_, i) => ({
        organizationId: organization.id,
        authorId: user.id,
        title: `${slug} post ${i}`,
      })),
    });
    return organization.id;
  };
  organizationId = await seed('big', POSTS);
  otherOrganizationId = await seed('other', 3);
});

afterAll(async () => {
  await scoped.disconnect();
  await system.$disconnect();
  await database.drop();
});

async function runExport(exportId: string, retryCount = 0): Promise<void> {
  const organization = await system.organization.findUniqueOrThrow({
    where: { id: organizationId },
  });
  const scope = forOrganization(organization);
  const job = { id: 'j', name: 'export-organization', data: { organizationId, exportId } };
  await scoped.scopedDb(scope).$transaction(
    (db) =>
      exportOrganization({
        scope,
        db,
        job: { ...job, retryCount, lastAttempt: false } as Job<'export-organization'>,
      }),
    { timeout: 60_000 },
  );
}

describe('export-organization', () => {
  it('reads the tenant in keyset batches of at most EXPORT_BATCH_ROWS rows', async () => {
    const { id: exportId } = await system.dataExport.create({ data: { organizationId } });
    rowsPerQuery.length = 0;
    await runExport(exportId);
    const postReads = rowsPerQuery.filter((q) => /FROM "public"\."posts"/.test(q.sql));
    expect(postReads.length).toBeGreaterThanOrEqual(Math.ceil(POSTS / EXPORT_BATCH_ROWS));
    expect(Math.max(...rowsPerQuery.map((q) => q.rows))).toBeLessThanOrEqual(EXPORT_BATCH_ROWS);
    const lines = parseExport(await storedExport(system, exportId));
    const posts = lines.filter((line) => line.model === 'Post');
    expect(posts).toHaveLength(POSTS);
    expect(new Set(posts.map((line) => line.row?.id)).size).toBe(POSTS);
    const text = await storedExport(system, exportId);
    expect(text).not.toContain(SECRET_HASH);
    expect(text).not.toContain(otherOrganizationId);
    expect(text).not.toContain('other post');
  });

  it('a retried job neither redoes a READY export nor duplicates a PENDING one', async () => {
    const { id: exportId } = await system.dataExport.create({ data: { organizationId } });
    await runExport(exportId);
    const chunks = await system.dataExportChunk.count({ where: { exportId } });
    expect(chunks).toBeGreaterThan(1);
    const first = await storedExport(system, exportId);
    await runExport(exportId, 1);
    expect(await storedExport(system, exportId)).toBe(first);
    // Back to PENDING with its chunks still there (as a job that crashed after a commit would
    // leave it): the retry replaces them instead of appending.
    await system.dataExport.update({
      where: { organizationId_id: { organizationId, id: exportId } },
      data: { status: 'PENDING' },
    });
    await runExport(exportId, 2);
    expect(await system.dataExportChunk.count({ where: { exportId } })).toBe(chunks);
    const posts = parseExport(await storedExport(system, exportId)).filter(
      (line) => line.model === 'Post',
    );
    expect(posts).toHaveLength(POSTS);
  });
});

describe('export rules', () => {
  const dmmf = getDatamodel().datamodel.models as Datamodel;

  it('every model is exported, minus the machinery, with declared secrets omitted', () => {
    const { rules, problems } = exportRules(dmmf);
    expect(problems).toEqual([]);
    expect(rules.map((rule) => rule.model)).toEqual(
      Object.keys(dmmf).filter((name) => name !== 'DataExportChunk'),
    );
    expect(rules.find((rule) => rule.model === 'User')?.omit).toEqual({ passwordHash: true });
  });

  it('a declaration naming an unknown model or field is a load-time problem', () => {
    const { problems } = exportRules(
      dmmf,
      { Nope: ['x'], User: ['nope', 'posts'] },
      new Set(['Missing']),
    );
    expect(problems).toEqual([
      'SECRET_FIELDS names Nope, which is not a model',
      'SECRET_FIELDS names User.nope, which is not a scalar field',
      'SECRET_FIELDS names User.posts, which is not a scalar field',
      'UNEXPORTED_MODELS names Missing, which is not a model',
    ]);
  });
});

/** The database's adapter, recording the row count of every query's result. */
function rowCounting(factory: Database['adapter']): Database['adapter'] {
  const record = <T extends SqlDriverAdapter | Transaction>(target: T): T =>
    new Proxy(target, {
      get(object, property, receiver) {
        const value = Reflect.get(object, property, receiver);
        if (property === 'queryRaw') {
          return async (query: SqlQuery) => {
            const result = await (value as (q: SqlQuery) => Promise<{ rows: unknown[] }>).call(
              object,
              query,
            );
            rowsPerQuery.push({ sql: query.sql, rows: result.rows.length });
            return result;
          };
        }
        if (property === 'startTransaction') {
          return async (...args: unknown[]) =>
            record(await (value as (...a: unknown[]) => Promise<Transaction>).apply(object, args));
        }
        return typeof value === 'function' ? value.bind(object) : value;
      },
    });
  return Object.assign(Object.create(factory) as Database['adapter'], {
    provider: factory.provider,
    adapterName: factory.adapterName,
    connect: async () => record(await factory.connect()),
  });
}
