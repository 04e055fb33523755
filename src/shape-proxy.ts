import type { Plugin } from 'graphql-yoga';
import { OrganizationSuspended } from './errors.ts';
import type { Logger } from './logging.ts';
import type { Scope } from './tenancy/scope.ts';

/**
 * `GET /v1/shape`: ElectricSQL's shape API behind the API's own authentication.
 *
 * A client of Electric chooses its shape's `where` itself, so on its own anyone could ask for
 * another organization's rows. Here the organization comes from the token: the proxy allows only
 * listed tables and columns, ANDs `organization_id = '<the scope's organization>'` in front of
 * whatever `where` the client sent (refusing a `where` that is not one self-contained
 * expression), forwards to `ELECTRIC_URL`, and streams Electric's answer back with its headers.
 * Nothing reaches Electric without the tenant filter.
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
const MAX_WHERE = 2_000;
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
    upstream.search = shapeParams(url.searchParams, scope).toString();
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
  } catch (error) {
    if (!(error instanceof Refused)) throw error;
    return Response.json(
      { message: error.message, code: error.code },
      { status: error.status, headers: { 'cache-control': 'no-store' } },
    );
  }
}

/** The parameters Electric receives: the client's, checked, with the tenant filter in front. */
export function shapeParams(client: URLSearchParams, scope: Scope): URLSearchParams {
  const out = new URLSearchParams();
  for (const key of new Set(client.keys())) {
    if (client.getAll(key).length > 1) throw bad(`Repeated parameter: ${key}`);
    if (!['table', 'where', 'columns'].includes(key) && !PASSTHROUGH.has(key)) {
      if (!/^params\[[1-9][0-9]{0,2}\]$/.test(key)) throw bad(`Unknown parameter: ${key}`);
    }
  }
  const table = client.get('table') ?? '';
  const allowed = SHAPE_TABLES[table];
  if (!allowed) throw bad(`Unknown table: ${table || '(none)'}`);
  out.set('table', table);
  const columns = client.get('columns');
  const chosen = columns ? columns.split(',').map((column) => column.trim()) : [...allowed];
  for (const column of chosen) {
    if (!allowed.includes(column)) throw bad(`Unknown column: ${column}`);
  }
  for (const key of ['organization_id', 'id']) if (!chosen.includes(key)) chosen.push(key);
  out.set('columns', chosen.join(','));
  const where = client.get('where');
  if (where !== null && !isSelfContained(where)) {
    throw bad('The where clause must be one self-contained expression');
  }
  // The organization id is a branded, validated UUID: safe to inline.
  const tenant = `organization_id = '${scope.organizationId}'`;
  out.set('where', where?.trim() ? `${tenant} AND (${where})` : tenant);
  for (const [key, value] of client) {
    if (PASSTHROUGH.has(key) || key.startsWith('params[')) out.set(key, value);
  }
  return out;
}

function bad(message: string): Refused {
  return new Refused(400, 'BAD_USER_INPUT', message);
}

/**
 * True when `where` can be put inside parentheses and ANDed without changing what surrounds it:
 * balanced parentheses outside string literals and quoted identifiers, every literal and
 * identifier closed, and no statement separator or comment. Electric parses and limits the
 * expression further; this only makes sure it cannot escape the AND.
 */
export function isSelfContained(where: string): boolean {
  if (where.length > MAX_WHERE) return false;
  let depth = 0;
  for (let i = 0; i < where.length; i++) {
    const char = where[i];
    const next = where[i + 1];
    if (char === "'" || char === '"') {
      // A literal or quoted identifier: a doubled quote is an escaped one.
      let closed = false;
      for (i++; i < where.length; i++) {
        if (where[i] === char) {
          if (where[i + 1] === char) i++;
          else {
            closed = true;
            break;
          }
        }
      }
      if (!closed) return false;
    } else if (char === '(') depth++;
    else if (char === ')') {
      if (--depth < 0) return false;
    } else if (char === ';' || char === '\\' || (char === '$' && next === '$')) return false;
    else if ((char === '-' && next === '-') || (char === '/' && next === '*')) return false;
    else if (char === '\0') return false;
  }
  return depth === 0;
}
