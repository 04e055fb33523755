import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTokenService } from '../../src/auth/tokens.ts';
import { createSystemClient, type SystemClient } from '../../src/db/system.ts';
import { decodeGlobalId, encodeGlobalId } from '../../src/schema/ids.ts';
import { createTestApi, field, type Org, signUpOrg, type TestApi } from '../support/api.ts';
import { parseExport } from '../support/exports.ts';
import { capturedLogger } from '../support/log-lines.ts';

/**
 * `GET /exports/<id>?token=…`: a link from `createExportDownloadLink` downloads its export once;
 * a used, expired, forged or foreign link answers exactly like a missing export.
 */

let t: TestApi;
let system: SystemClient;
let a: Org;
let b: Org;
let aExport: string;
let bExport: string;
const log = capturedLogger();

const LINK = 'mutation($id: ID!) { createExportDownloadLink(id: $id) }';
const WAIT = { timeout: 20_000, interval: 100 } as const;

async function readyExport(org: Org): Promise<string> {
  const requested = await t.gql('mutation { requestDataExport { id } }', {}, org.owner.token);
  const id = field<{ id: string }>(requested, 'requestDataExport').id;
  await vi.waitFor(async () => {
    const view = await t.gql(
      'query($id: ID!) { dataExport(id: $id) { status } }',
      { id },
      org.owner.token,
    );
    expect(field<{ status: string }>(view, 'dataExport').status).toBe('READY');
  }, WAIT);
  return id;
}

const linkFor = async (org: Org, id: string) =>
  field<string>(await t.gql(LINK, { id }, org.owner.token), 'createExportDownloadLink');
const get = (path: string) => t.fetch({ path, method: 'GET' });

async function expectMissing(path: string): Promise<void> {
  const response = await get(path);
  expect(response.status).toBe(404);
  expect(await response.json()).toEqual({
    code: 'NOT_FOUND',
    message: 'No such export, or the link is used or expired',
  });
}

beforeAll(async () => {
  t = await createTestApi({ jobs: true, logger: log.logger });
  system = createSystemClient(t.database);
  a = await signUpOrg(t, 'acme');
  b = await signUpOrg(t, 'globex');
  aExport = await readyExport(a);
  bExport = await readyExport(b);
});

afterAll(async () => {
  await system.$disconnect();
  await t.close();
});

describe('export download', () => {
  it('works once, as an NDJSON attachment; the second use is a 404', async () => {
    const path = await linkFor(a, aExport);
    expect(path).toMatch(/^\/exports\/[A-Za-z0-9_-]+=*\?token=/);
    const response = await get(path);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    expect(response.headers.get('content-disposition')).toMatch(
      /^attachment; filename="export-[0-9a-f-]+\.ndjson"$/,
    );
    const lines = parseExport(await response.text());
    expect(lines[0]).toMatchObject({ format: 'scopegraph-ndjson/1' });
    expect(lines.some((line) => line.model === 'Post')).toBe(true);
    await expectMissing(path);
  });

  it("the access line of a download names the export's organization; a refused one names none", async () => {
    const path = await linkFor(a, aExport);
    const accessLine = async (requestId: string) => {
      await t.fetch({ path, method: 'GET', headers: { 'x-request-id': requestId } });
      return log.lines.find((l) => l.msg === 'http request' && l.requestId === requestId);
    };
    const { id: organizationId } = await system.organization.findUniqueOrThrow({
      where: { slug: a.slug },
    });
    expect(await accessLine('download-1')).toMatchObject({ status: 200, organizationId });
    expect(await accessLine('download-2')).toMatchObject({ status: 404, organizationId: null });
  });

  it('a new link replaces the old one; two concurrent uses of one link: one 200, one 404', async () => {
    const old = await linkFor(a, aExport);
    const current = await linkFor(a, aExport);
    await expectMissing(old);
    const statuses = await Promise.all([get(current), get(current)]).then((responses) =>
      Promise.all(
        responses.map(async (r) => {
          await r.arrayBuffer(); // read to the end, so the stream is done before the check
          return r.status;
        }),
      ),
    );
    expect(statuses.sort()).toEqual([200, 404]);
  });

  it('an expired link or export is a 404', async () => {
    const path = await linkFor(a, aExport);
    const { organizationId, id } = await system.dataExport.findFirstOrThrow({
      where: { id: decodeGlobalId(aExport).id },
    });
    const row = await system.dataExport.findUniqueOrThrow({
      where: { organizationId_id: { organizationId, id } },
    });
    // The same claims as the live link, already past their exp.
    const expired = await t.tokens.issueExportLink(
      { organizationId, exportId: id, tokenId: row.downloadTokenId ?? '' },
      -60,
    );
    await expectMissing(`/exports/${aExport}?token=${expired}`);
    await system.dataExport.update({
      where: { organizationId_id: { organizationId, id } },
      data: { expiresAt: new Date(Date.now() - 1000) },
    });
    await expectMissing(path);
    await system.dataExport.update({
      where: { organizationId_id: { organizationId, id } },
      data: { expiresAt: row.expiresAt },
    });
    // Positive control: the same export downloads again through a fresh link.
    expect((await get(await linkFor(a, aExport))).status).toBe(200);
  });

  it("another organization's export, a forged or a member token: 404 like a missing one", async () => {
    const bPath = await linkFor(b, bExport);
    const bToken = new URL(bPath, 'http://x').searchParams.get('token') ?? '';
    // B's valid token on A's export id, and A's id under claims that name B.
    await expectMissing(`/exports/${aExport}?token=${bToken}`);
    const aRow = await system.dataExport.findFirstOrThrow({
      where: { id: decodeGlobalId(aExport).id },
    });
    const aPath = await linkFor(a, aExport);
    const aLive = await system.dataExport.findFirstOrThrow({ where: { id: aRow.id } });
    const crossed = await t.tokens.issueExportLink(
      {
        organizationId: (await system.organization.findUniqueOrThrow({ where: { slug: b.slug } }))
          .id,
        exportId: aRow.id,
        tokenId: aLive.downloadTokenId ?? '',
      },
      60,
    );
    await expectMissing(`/exports/${aExport}?token=${crossed}`);
    const forged = await createTokenService({
      secret: 'another-secret-that-is-long-enough-for-hs256-000',
    }).issueExportLink(
      {
        organizationId: aRow.organizationId,
        exportId: aRow.id,
        tokenId: aLive.downloadTokenId ?? '',
      },
      60,
    );
    await expectMissing(`/exports/${aExport}?token=${forged}`);
    await expectMissing(`/exports/${aExport}?token=${a.owner.token}`);
    await expectMissing(`/exports/${aExport}`);
    await expectMissing(`/exports/${encodeGlobalId('DataExport', randomUUID())}?token=${bToken}`);
    // Positive controls: both real links still work, each for its own export only.
    const aText = await (await get(aPath)).text();
    const bText = await (await get(bPath)).text();
    expect(aText).toContain(aRow.organizationId);
    const bExportId = decodeGlobalId(bExport).id;
    expect(aText).not.toContain(bExportId);
    expect(bText).toContain(bExportId);
    expect(bText).not.toContain(aRow.organizationId);
  });
});
