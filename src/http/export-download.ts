import { randomUUID } from 'node:crypto';
import type { Plugin } from 'graphql-yoga';
import type { TokenService } from '../auth/tokens.ts';
import { noteOrganization } from '../logging.ts';
import { decodeGlobalId, encodeGlobalId } from '../schema/ids.ts';
import { forOrganizationId, type Scope } from '../tenancy/scope.ts';
import type { ScopedClients, ScopedDb, ScopedTx } from '../tenancy/scoped-client.ts';

/**
 * `GET /exports/<id>?token=…`: a finished export's NDJSON, streamed chunk by chunk from the
 * database. The token is a short-lived JWT (src/auth/tokens.ts) naming the organization, the
 * export and a jti; the export row holds the jti of the one link still usable, and the download
 * clears it in one compare-and-set UPDATE, so a link works once even under concurrent requests.
 * Whatever is wrong (forged, expired, used, another organization's export, not READY) answers
 * the same 404: nobody learns that an export exists.
 */
export const EXPORTS_PATH = '/exports/';
export const EXPORT_LINK_TTL_SECONDS = 5 * 60;
/** Chunks read per query while streaming (each at most EXPORT_CHUNK_CHARS). */
const CHUNKS_PER_READ = 4;

export type ExportLinks = Readonly<{
  /** A fresh link for the scope's READY export (null if there is none); older links stop working. */
  create: (
    scope: Scope,
    db: Pick<ScopedTx, 'dataExport'>,
    exportId: string,
  ) => Promise<string | null>;
}>;

export function createExportLinks(tokens: TokenService): ExportLinks {
  return Object.freeze({
    create: async (scope, db, exportId) => {
      const tokenId = randomUUID();
      const { count } = await db.dataExport.updateMany({
        where: {
          organizationId: scope.organizationId as string,
          id: exportId,
          status: 'READY',
          expiresAt: { gt: new Date() },
        },
        data: { downloadTokenId: tokenId },
      });
      if (count !== 1) return null;
      const organizationId = scope.organizationId as string;
      const token = await tokens.issueExportLink(
        { organizationId, exportId, tokenId },
        EXPORT_LINK_TTL_SECONDS,
      );
      return `${EXPORTS_PATH}${encodeGlobalId('DataExport', exportId)}?token=${token}`;
    },
  });
}

export function useExportDownload(
  tokens: TokenService,
  scoped: ScopedClients,
): Plugin<Record<string, unknown>> {
  return {
    async onRequest({ request, url, endResponse }) {
      if (!url.pathname.startsWith(EXPORTS_PATH)) return;
      if (request.method !== 'GET') {
        endResponse(Response.json({ code: 'BAD_REQUEST' }, { status: 405 }));
        return;
      }
      endResponse((await download(url, tokens, scoped)) ?? notFound());
    },
  };
}

const notFound = () =>
  Response.json(
    { code: 'NOT_FOUND', message: 'No such export, or the link is used or expired' },
    { status: 404, headers: { 'cache-control': 'no-store' } },
  );

async function download(
  url: URL,
  tokens: TokenService,
  scoped: ScopedClients,
): Promise<Response | null> {
  const claims = await tokens.verifyExportLink(url.searchParams.get('token') ?? '');
  if (!claims) return null;
  let pathId: string;
  try {
    const decoded = decodeGlobalId(decodeURIComponent(url.pathname.slice(EXPORTS_PATH.length)));
    if (decoded.typename !== 'DataExport') return null;
    pathId = decoded.id;
  } catch {
    return null;
  }
  if (pathId !== claims.exportId) return null;
  // Nothing here asks the scope for its organization row: it is read below, through the client.
  const scope = forOrganizationId(claims.organizationId, () =>
    Promise.reject(new Error('not loaded')),
  );
  const db = scoped.scopedDb(scope);
  const organization = await db.organization.findUnique({ where: { id: claims.organizationId } });
  if (!organization || organization.suspendedAt || organization.deletionRequestedAt) return null;
  // The compare-and-set: of two requests with the same link, one clears the jti, the other
  // matches no row.
  const { count } = await db.dataExport.updateMany({
    where: {
      organizationId: claims.organizationId,
      id: claims.exportId,
      downloadTokenId: claims.tokenId,
      status: 'READY',
      expiresAt: { gt: new Date() },
    },
    data: { downloadTokenId: null },
  });
  if (count !== 1) return null;
  // The link was good: the request's lines (its access line among them) name the organization.
  noteOrganization(organization.id);
  return new Response(chunkStream(db, claims.organizationId, claims.exportId), {
    headers: {
      'content-type': 'application/x-ndjson; charset=utf-8',
      'content-disposition': `attachment; filename="export-${claims.exportId}.ndjson"`,
      'cache-control': 'no-store',
    },
  });
}

/** The chunks in order of seq, a few per query: memory holds one read, not the export. */
function chunkStream(db: ScopedDb, organizationId: string, exportId: string): ReadableStream {
  const encoder = new TextEncoder();
  let after = -1;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const chunks = await db.dataExportChunk.findMany({
        where: { organizationId, exportId, seq: { gt: after } },
        orderBy: { seq: 'asc' },
        take: CHUNKS_PER_READ,
        select: { seq: true, content: true },
      });
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk.content));
      const last = chunks.at(-1);
      if (last) after = last.seq;
      if (chunks.length < CHUNKS_PER_READ) controller.close();
    },
  });
}
