import type { Plugin } from 'graphql-yoga';
import { BadUserInput, OrganizationSuspended } from '../errors.ts';
import type { Logger } from '../logging.ts';
import type { Scope } from '../tenancy/scope.ts';
import { checkWhere, loadWhereParser } from './shape-where.ts';
import { MAX_WHERE_PARAMS } from './shape-where-printer.ts';

/**
 * `GET /v1/shape`: ElectricSQL's shape API behind the API's own authentication.
 *
 * A client of Electric chooses its shape's `where` itself, so on its own anyone could ask for
 * another organization's rows, and Electric reads them as the table owner, past row-level
 * security. Here the organization comes from the token: the proxy allows only listed tables and
 * columns, checks the client's `where` against PostgreSQL's grammar (src/http/shape-where.ts), ANDs
 * the organization in front of the `where` printed from that tree as a bound parameter, forwards
 * to `ELECTRIC_URL`, and streams Electric's answer back with its headers. Nothing reaches
 * Electric without the tenant filter, and nothing of the client's text reaches it as SQL.
 */
export const SHAPE_PATH = '/v1/shape';

/** Tables a client may sync, and the columns it may see (never password hashes or emails). */
export const SHAPE_TABLES: Readonly<Record<string, readonly string[]>> = Object.freeze({
  posts: ['organization_id', 'id', 'author_id', 'title', 'content', 'created_at', 'updated_at'],
  comments: ['organization_id', 'id', 'post_id', 'author_id', 'body', 'created_at', 'updated_at'],
  users: ['organization_id', 'id', 'name', 'role', 'created_at', 'updated_at'],
});

/** Electric's parameters that pass through unchanged (besides `params[n]`). */
const PASSTHROUGH = new Set(['offset', 'handle', 'live', 'cursor', 'replica', 'log']);
/** Hop-by-hop, or no longer true once the body has been read through fetch (decompressed). */
const DROPPED_HEADERS = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'content-encoding',
  'content-length',
]);

export type ShapeProxyOptions = Readonly<{
  /** Electric's base URL; unset turns the route off (404). */
  electricUrl: string | undefined;
  /** The member's Scope for an Authorization header; throws UNAUTHENTICATED-style errors. */
  authenticate: (authorization: string | null) => Promise<Scope | null>;
  logger: Logger;
}>;

class Refused extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function useShapeProxy(options: ShapeProxyOptions): Plugin {
  // Loaded while the server starts; a request that comes earlier waits for it, and a failure to
  // load is the first request's error.
  if (options.electricUrl) loadWhereParser().catch(() => {});
  return {
    async onRequest({ request, url, endResponse }) {
      if (url.pathname !== SHAPE_PATH) return;
      endResponse(await handle(request, url, options));
    },
  };
}

async function handle(request: Request, url: URL, options: ShapeProxyOptions): Promise<Response> {
  try {
    if (!options.electricUrl) throw new Refused(404, 'NOT_FOUND', 'Shape sync is not enabled');
    if (request.method !== 'GET') throw new Refused(405, 'BAD_REQUEST', 'Use GET');
    const scope = await options
      .authenticate(request.headers.get('authorization'))
      .catch((error: unknown) => {
        if (error instanceof OrganizationSuspended) {
          throw new Refused(403, error.code, error.message);
        }
        return null;
      });
    if (!scope) throw new Refused(401, 'UNAUTHENTICATED', 'Invalid or missing token');
    const upstream = new URL(SHAPE_PATH, options.electricUrl);
    upstream.search = (await shapeParams(url.searchParams, scope)).toString();
    let response: Response;
    try {
      const etag = request.headers.get('if-none-match');
      response = await fetch(upstream, {
        headers: etag ? { 'if-none-match': etag } : {},
        signal: request.signal,
      });
    } catch (error) {
      options.logger.warn({ err: error }, 'shape proxy: Electric unreachable');
      throw new Refused(503, 'SERVICE_UNAVAILABLE', 'The sync service is unavailable; retry');
    }
    const headers = new Headers();
    response.headers.forEach((value, name) => {
      if (!DROPPED_HEADERS.has(name)) headers.set(name, value);
    });
    // Electric marks shape responses cacheable by shared caches. Behind a token these are one
    // organization's rows: a shared cache must never serve them to anyone else.
    const cacheControl = headers.get('cache-control');
    if (cacheControl) headers.set('cache-control', cacheControl.replace(/\bpublic\b/g, 'private'));
    headers.append('vary', 'authorization');
    return new Response(response.body, { status: response.status, headers });
  } catch (caught) {
    const error =
      caught instanceof BadUserInput ? new Refused(400, caught.code, caught.message) : caught;
    if (!(error instanceof Refused)) throw error;
    return Response.json(
      { message: error.message, code: error.code },
      { status: error.status, headers: { 'cache-control': 'no-store' } },
    );
  }
}

/**
 * The parameters Electric receives: the client's, checked, with the tenant filter in front. The
 * forwarded `where` is `"organization_id" = $1 AND (<the client's where, printed from its parse
 * tree>)`, the organization is `params[1]`, and the client's `$k` / `params[k]` become `$k+1` /
 * `params[k+1]`: no text of the client's reaches Electric as SQL, and no `$n` of the client's can
 * name the organization's parameter.
 */
export async function shapeParams(client: URLSearchParams, scope: Scope): Promise<URLSearchParams> {
  const clientParams = new Map<number, string>();
  for (const key of new Set(client.keys())) {
    if (client.getAll(key).length > 1) throw bad(`Repeated parameter: ${key}`);
    if (['table', 'where', 'columns'].includes(key) || PASSTHROUGH.has(key)) continue;
    const number = /^params\[([1-9][0-9]{0,2})\]$/.exec(key)?.[1];
    if (!number || Number(number) > MAX_WHERE_PARAMS) throw bad(`Unknown parameter: ${key}`);
    const value = client.get(key) ?? '';
    if (value.includes('\0')) throw bad(`${key} contains a NUL character`);
    clientParams.set(Number(number), value);
  }
  const table = client.get('table') ?? '';
  const allowed = Object.hasOwn(SHAPE_TABLES, table) ? SHAPE_TABLES[table] : undefined;
  if (!allowed) throw bad(`Unknown table: ${table || '(none)'}`);
  const columns = client.get('columns');
  const chosen = columns ? columns.split(',').map((column) => column.trim()) : [...allowed];
  for (const column of chosen) {
    if (!allowed.includes(column)) throw bad(`Unknown column: ${column}`);
  }
  for (const key of ['organization_id', 'id']) if (!chosen.includes(key)) chosen.push(key);
  const where = client.get('where')?.trim() ? client.get('where') : null;
  const checked =
    where === null ? null : await checkWhere(where, { columns: allowed, paramOffset: 1 });
  // Every `$k` the where uses has its `params[k]`, and there is no other: numbered 1 to n.
  const used = checked?.params ?? new Set<number>();
  for (let k = 1; k <= Math.max(used.size, clientParams.size); k++) {
    if (!used.has(k)) {
      throw bad(
        clientParams.has(k)
          ? `params[${k}] is not used by the where clause`
          : `Parameters are numbered from $1 without gaps: $${k} is missing`,
      );
    }
    if (!clientParams.has(k)) throw bad(`The where clause uses $${k} but params[${k}] is missing`);
  }
  const out = new URLSearchParams();
  out.set('table', table);
  out.set('columns', chosen.join(','));
  const tenant = `"organization_id" = $1`;
  out.set('where', checked ? `${tenant} AND (${checked.sql})` : tenant);
  out.set('params[1]', scope.organizationId);
  for (const [k, value] of [...clientParams].sort(([x], [y]) => x - y)) {
    out.set(`params[${k + 1}]`, value);
  }
  for (const [key, value] of client) if (PASSTHROUGH.has(key)) out.set(key, value);
  return out;
}

function bad(message: string): BadUserInput {
  return new BadUserInput(message);
}
