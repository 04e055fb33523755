// Contender 4: the practical limit for this API shape — plain node http and a pg Pool, one
// hand-written SQL statement per request that builds the whole JSON response (json aggregation,
// LATERAL-style correlated subqueries), under the same row-level security as scopegraph: role
// scopegraph_app and app.organization_id set transaction-locally, the same HS256 token check,
// and the user must still exist (checked inside the same statement).
//
// It takes the same request bodies as scopegraph and dispatches on `operationName` (it does not
// parse GraphQL); the JSON it answers has the same shape as scopegraph's.
//
// RAW_MODE=single (contender `raw`, the default): ONE round trip. The bind and the query go in
// one simple-protocol Query message, which PostgreSQL runs as one implicit transaction, so the
// transaction-local settings hold for the query and vanish after it. Values are inlined as
// escaped literals (the simple protocol has no parameters); every uuid is validated first.
// RAW_MODE=tx (contender `raw-tx`): the same SQL with parameters, sent like the app's binding:
// BEGIN, bind, query, COMMIT — four round trips.
import type { IncomingMessage, ServerResponse } from 'node:http';
import pg from 'pg';
import { bearerToken } from '../../src/auth/bearer.ts';
import { createTokenService, type VerifiedClaims } from '../../src/auth/tokens.ts';
import { countPgQueries, reportStartupFailure, serve, serverEnv } from './common.ts';

const APP_ROLE = 'scopegraph_app';
const BIND = "SELECT set_config('role', $1, true), set_config('app.organization_id', $2, true)";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const AUTHOR = (alias: string) =>
  `(SELECT json_build_object('name', u.name) FROM users u
     WHERE u.organization_id = ${alias}.organization_id AND u.id = ${alias}.author_id)`;

/** $1 organization, $2 user; with `after`, $3 is the id of the post the page starts after. */
function feedSql(after: boolean): string {
  const keyset = after
    ? `AND (p.created_at, p.id) < (SELECT a.created_at, a.id FROM posts a
         WHERE a.organization_id = $1::uuid AND a.id = $3::uuid)`
    : '';
  return `SELECT
  EXISTS (SELECT 1 FROM users WHERE organization_id = $1::uuid AND id = $2::uuid) AS ok,
  json_build_object('data', json_build_object('posts', json_build_object('edges', coalesce((
    SELECT json_agg(json_build_object('node', json_build_object(
      'title', p.title,
      'author', ${AUTHOR('p')},
      'comments', json_build_object('edges', coalesce((
        SELECT json_agg(json_build_object('node', json_build_object(
          'body', c.body, 'author', ${AUTHOR('c')})) ORDER BY c.created_at, c.id)
        FROM (SELECT * FROM comments c
              WHERE c.organization_id = p.organization_id AND c.post_id = p.id
              ORDER BY c.created_at, c.id LIMIT 10) c
      ), '[]'::json))
    )) ORDER BY p.created_at DESC, p.id DESC)
    FROM (SELECT * FROM posts p WHERE p.organization_id = $1::uuid ${keyset}
          ORDER BY p.created_at DESC, p.id DESC LIMIT 20) p
  ), '[]'::json))))::text AS body`;
}

const SQL = {
  feed: feedSql(false),
  deepFeed: feedSql(true),
  /** $1 organization, $2 user, $3 post id. */
  post: `SELECT
  EXISTS (SELECT 1 FROM users WHERE organization_id = $1::uuid AND id = $2::uuid) AS ok,
  (SELECT json_build_object('title', p.title, 'content', p.content, 'author', ${AUTHOR('p')})
     FROM posts p WHERE p.organization_id = $1::uuid AND p.id = $3::uuid)::text AS body`,
  /** $1 organization, $2 user (the author), $3 title, $4 content. No row: the user is gone. */
  createPost: `WITH me AS (
    SELECT name FROM users WHERE organization_id = $1::uuid AND id = $2::uuid
  ), created AS (
    INSERT INTO posts (organization_id, id, author_id, title, content, created_at, updated_at)
    SELECT $1::uuid, gen_random_uuid(), $2::uuid, $3::text, $4::text, now(), now() FROM me
    RETURNING title
  )
  SELECT true AS ok, json_build_object('title', created.title,
    'author', json_build_object('name', me.name))::text AS body
  FROM created, me`,
} as const;

type Row = { ok: boolean; body: string | null };
type Mode = 'single' | 'tx';

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

const unauthenticated = () => new HttpError(401, 'Invalid or expired token', 'UNAUTHENTICATED');
const badInput = (what: string) => new HttpError(400, `Invalid ${what}`, 'BAD_USER_INPUT');

/** One statement under the binding; in `single` mode in one round trip. */
async function runBound(
  pool: pg.Pool,
  mode: Mode,
  organizationId: string,
  sql: string,
  values: (string | null)[],
): Promise<Row | undefined> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    if (mode === 'single') {
      const inline = (v: string | null) => (v === null ? 'NULL' : client.escapeLiteral(v));
      const bind = BIND.replace('$1', inline(APP_ROLE)).replace('$2', inline(organizationId));
      const query = sql.replace(/\$(\d+)/g, (_, n: string) =>
        inline(values[Number(n) - 1] ?? null),
      );
      const results = (await client.query(`${bind};\n${query}`)) as unknown as pg.QueryResult[];
      return results[1]?.rows[0] as Row | undefined;
    }
    await client.query('BEGIN');
    try {
      await client.query(BIND, [APP_ROLE, organizationId]);
      const { rows } = await client.query<Row>(sql, values);
      await client.query('COMMIT');
      return rows[0];
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    }
  } catch (error) {
    broken = error instanceof Error ? error : new Error(String(error));
    throw error;
  } finally {
    // A connection whose query failed is dropped rather than trusted with the next request.
    client.release(broken);
  }
}

/** base64url("Post:<uuid>") → uuid. */
function postIdOf(globalId: unknown): string {
  const decoded = typeof globalId === 'string' ? Buffer.from(globalId, 'base64url').toString() : '';
  const id = decoded.startsWith('Post:') ? decoded.slice(5).toLowerCase() : '';
  if (!UUID.test(id)) throw badInput('Post id');
  return id;
}

/** A scopegraph posts cursor (base64 of `GPC:T:["S:<org>","S:<id>"]`) → the post's id. */
function cursorPostId(cursor: unknown): string {
  const decoded = typeof cursor === 'string' ? Buffer.from(cursor, 'base64').toString() : '';
  const ids = decoded.match(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi);
  const id = ids?.at(-1)?.toLowerCase() ?? '';
  if (!decoded.startsWith('GPC:') || !UUID.test(id)) throw badInput('cursor');
  return id;
}

type Body = { operationName?: unknown; variables?: Record<string, unknown> };

async function answer(
  pool: pg.Pool,
  mode: Mode,
  claims: VerifiedClaims,
  body: Body,
): Promise<string> {
  const org = claims.organizationId.toLowerCase();
  const user = claims.userId.toLowerCase();
  const variables = body.variables ?? {};
  const run = async (sql: string, values: (string | null)[]) => {
    const row = await runBound(pool, mode, org, sql, values);
    if (!row?.ok) throw unauthenticated();
    return row.body;
  };
  switch (body.operationName) {
    case 'Feed':
      return (await run(SQL.feed, [org, user])) ?? '';
    case 'DeepFeed':
      return (await run(SQL.deepFeed, [org, user, cursorPostId(variables.after)])) ?? '';
    case 'OnePost': {
      const post = await run(SQL.post, [org, user, postIdOf(variables.id)]);
      if (post === null) {
        return JSON.stringify({
          errors: [{ message: 'Post not found', extensions: { code: 'NOT_FOUND' } }],
          data: null,
        });
      }
      return `{"data":{"post":${post}}}`;
    }
    case 'CreatePost': {
      const input = (variables.input ?? {}) as { title?: unknown; content?: unknown };
      if (typeof input.title !== 'string' || input.title.length === 0) throw badInput('title');
      const content = typeof input.content === 'string' ? input.content : null;
      const post = await run(SQL.createPost, [org, user, input.title, content]);
      return `{"data":{"createPost":${post}}}`;
    }
    default:
      throw badInput('operationName');
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

try {
  const env = serverEnv();
  countPgQueries();
  const mode: Mode = process.env.RAW_MODE === 'tx' ? 'tx' : 'single';
  const tokens = createTokenService({ secret: env.jwtSecret });
  const pool = new pg.Pool({ connectionString: env.databaseUrl, max: env.poolSize });
  pool.on('error', () => {});
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    try {
      if (req.method !== 'POST' || req.url !== '/graphql')
        throw new HttpError(404, 'Not found', 'NOT_FOUND');
      const token = bearerToken(req.headers.authorization);
      const claims = token ? await tokens.verify(token) : null;
      if (!claims) throw unauthenticated();
      const body = JSON.parse(await readBody(req)) as Body;
      send(res, 200, await answer(pool, mode, claims, body));
    } catch (error) {
      const known = error instanceof HttpError ? error : null;
      if (!known) console.error(error);
      const message = known?.message ?? 'Unexpected error.';
      const code = known?.code ?? 'INTERNAL_SERVER_ERROR';
      send(
        res,
        known?.status ?? 500,
        JSON.stringify({ errors: [{ message, extensions: { code } }] }),
      );
    }
  };
  serve(
    mode === 'tx' ? 'raw-tx' : 'raw',
    (req, res) => void handle(req, res),
    () => pool.end(),
  );
} catch (error) {
  reportStartupFailure(error);
}
