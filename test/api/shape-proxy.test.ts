import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadModule, type Node, parseSync } from 'libpg-query';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SHAPE_PATH, SHAPE_TABLES } from '../../src/http/shape-proxy.ts';
import { checkWhere } from '../../src/http/shape-where.ts';
import { type Api, createApi } from '../../src/http/yoga.ts';
import { createLogger } from '../../src/logging.ts';
import { createTestApi, field, type Org, signUpOrg, type TestApi } from '../support/api.ts';
import {
  ELECTRIC_HEADERS,
  type ShapeLogEntry,
  type StandInElectric,
  startStandInElectric,
} from '../support/electric.ts';

/**
 * GET /v1/shape in front of a stand-in for ElectricSQL that executes what it is sent
 * (test/support/electric.ts): `SELECT <columns> FROM <table> WHERE <where>` with the params
 * bound, on the real test database as its owner, where row-level security protects nothing.
 * Both organizations hold look-alike posts, so any where that escapes the tenant filter returns
 * the other organization's rows. Every request of this file goes through `shape()`, which checks
 * on every answer that no row is another organization's, and on every forwarded request, by
 * parsing its where with PostgreSQL's parser, that it is the tenant filter on a bound parameter
 * ANDed with allowed nodes over allowed columns only.
 */
let t: TestApi;
let a: Org;
let b: Org;
let orgA: string;
let orgB: string;
let electric: StandInElectric;
let api: Api;
let proxy: Server;
let proxyUrl: string;
/** Acme's posts as the owner reads them: what a filter's answer is compared with. */
let acmePosts: Row[];

type Row = Record<string, string | null>;
type Caller = Readonly<{ token: string; org: string }>;
type ShapeAnswer = Readonly<{
  status: number;
  code: string | undefined;
  message: string | undefined;
  rows: Row[];
  headers: Headers;
  log: ShapeLogEntry[];
  forwarded: URL[];
}>;

const acme = (): Caller => ({ token: a.member.token, org: orgA });
const globex = (): Caller => ({ token: b.member.token, org: orgB });

/** Posts both organizations hold, with the creation dates BETWEEN filters on. */
const POSTS = [
  { title: 'rocket launch', content: 'Countdown', createdAt: '2024-01-10T09:00:00Z' },
  { title: "it's here", content: null, createdAt: '2024-01-20T09:00:00Z' },
  { title: 'back\\slash', content: 'one \\ two', createdAt: '2024-02-05T09:00:00Z' },
  { title: 'Plain', content: 'x', createdAt: '2024-03-01T09:00:00Z' },
];

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void) {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return [server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`] as const;
}

beforeAll(async () => {
  await loadModule();
  t = await createTestApi();
  a = await signUpOrg(t, 'acme');
  b = await signUpOrg(t, 'globex');
  electric = await startStandInElectric(t.database);
  const orgId = async (slug: string) =>
    (await electric.query('SELECT id::text FROM organizations WHERE slug = $1', [slug]))[0]?.id ??
    '';
  orgA = await orgId('acme');
  orgB = await orgId('globex');
  for (const org of [a, b]) {
    for (const post of POSTS) {
      const created = await t.gql(
        'mutation($input: CreatePostInput!) { createPost(input: $input) { id } }',
        { input: { title: post.title, ...(post.content ? { content: post.content } : {}) } },
        org.owner.token,
      );
      field(created, 'createPost');
    }
  }
  for (const post of POSTS) {
    await electric.query('UPDATE posts SET created_at = $1 WHERE title = $2', [
      post.createdAt,
      post.title,
    ]);
  }
  acmePosts = await electric.query(
    'SELECT id::text, title, content FROM posts WHERE organization_id = $1',
    [orgA],
  );
  api = createApi({
    database: t.database,
    tokens: t.tokens,
    logger: createLogger('silent'),
    introspection: false,
    graphiql: false,
    electricUrl: electric.url,
  });
  // Yoga's server instance is itself a node request listener; its type is a wide union.
  [proxy, proxyUrl] = await listen(
    api.yoga as unknown as (req: IncomingMessage, res: ServerResponse) => void,
  );
});

afterAll(async () => {
  proxy?.closeAllConnections();
  await new Promise<void>((resolve) => (proxy ? proxy.close(() => resolve()) : resolve()));
  await api?.close();
  await electric?.close();
  await t?.close();
});

/** One shape request through the proxy, with the invariants every answer must keep. */
async function shape(
  query: Record<string, string> | [string, string][],
  caller?: Caller,
): Promise<ShapeAnswer> {
  electric.received.length = 0;
  const response = await fetch(`${proxyUrl}${SHAPE_PATH}?${new URLSearchParams(query)}`, {
    headers: caller ? { authorization: `Bearer ${caller.token}` } : {},
  });
  const body = (await response.json()) as unknown;
  const log = Array.isArray(body) ? (body as ShapeLogEntry[]) : [];
  const rows = log.flatMap((entry) => (entry.value ? [entry.value] : []));
  const error = Array.isArray(body) ? {} : (body as { code?: string; message?: string });
  const forwarded = [...electric.received];
  const label = JSON.stringify(query);
  // The guarantee: never a row of another organization…
  for (const row of rows) expect(row.organization_id, label).toBe(caller?.org);
  // …and nothing reaches Electric but the caller's tenant filter and allowed nodes.
  for (const url of forwarded) expectTenantFiltered(url, caller?.org, label);
  return {
    status: response.status,
    code: error.code,
    message: error.message,
    rows,
    headers: response.headers,
    log,
    forwarded,
  };
}

/** Node kinds a forwarded where may contain (and the List of IN / BETWEEN). */
const FORWARDED_NODES = new Set([
  'BoolExpr',
  'A_Expr',
  'ColumnRef',
  'A_Const',
  'ParamRef',
  'TypeCast',
  'NullTest',
  'BooleanTest',
  'List',
  'String',
]);

/**
 * The forwarded where, read with PostgreSQL's parser: `"organization_id" = $1` (alone or ANDed
 * in front), `params[1]` the caller's organization, `$1` nowhere else, `$n` only for the
 * params sent, and only allowed node kinds and columns of the table's allow-list.
 */
function expectTenantFiltered(url: URL, org: string | undefined, label: string) {
  const table = url.searchParams.get('table') ?? '';
  const allowed = SHAPE_TABLES[table] ?? [];
  expect(allowed.length, label).toBeGreaterThan(0);
  expect(url.searchParams.get('params[1]'), label).toBe(org);
  const where = url.searchParams.get('where') ?? '';
  const statements = parseSync(`SELECT FROM ${table} WHERE ${where}`).stmts ?? [];
  expect(statements, label).toHaveLength(1);
  const statement = statements[0]?.stmt;
  const clause = statement && 'SelectStmt' in statement ? statement.SelectStmt.whereClause : null;
  const isTenant = (node: Node | undefined) =>
    JSON.stringify(stripLocations(node)) ===
    JSON.stringify(stripLocations(parseWhereNode('"organization_id" = $1')));
  const conjuncts = clause && 'BoolExpr' in clause ? clause.BoolExpr : null;
  const tenantFirst =
    isTenant(clause ?? undefined) ||
    (conjuncts?.boolop === 'AND_EXPR' &&
      conjuncts.args?.length === 2 &&
      isTenant(conjuncts.args[0]));
  expect(tenantFirst, `${label}: ${where}`).toBe(true);
  const kinds = new Set<string>();
  const columns = new Set<string>();
  const params: number[] = [];
  walk(clause, (kind, value) => {
    kinds.add(kind);
    if (kind === 'ColumnRef') {
      const fields = (value as { fields?: Node[] }).fields ?? [];
      columns.add(fields.map((f) => ('String' in f ? f.String.sval : '*')).join('.'));
    }
    if (kind === 'ParamRef') params.push((value as { number?: number }).number ?? 0);
  });
  for (const kind of kinds) expect(FORWARDED_NODES.has(kind), `${label}: ${kind}`).toBe(true);
  for (const column of columns) expect(allowed, `${label}: ${column}`).toContain(column);
  expect(
    params.filter((n) => n === 1),
    label,
  ).toHaveLength(1);
  const sent = [...url.searchParams.keys()].filter((key) => key.startsWith('params['));
  expect(new Set(params), label).toEqual(new Set(sent.map((key) => Number(key.slice(7, -1)))));
}

function parseWhereNode(where: string): Node | undefined {
  const statement = parseSync(`SELECT FROM t WHERE ${where}`).stmts?.[0]?.stmt;
  return statement && 'SelectStmt' in statement ? statement.SelectStmt.whereClause : undefined;
}

/** Calls `visit` with every node of the tree (an object keyed by its kind, e.g. `A_Expr`). */
function walk(value: unknown, visit: (kind: string, node: unknown) => void) {
  if (Array.isArray(value)) for (const item of value) walk(item, visit);
  else if (value && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) {
      if (/^[A-Z]/.test(key)) visit(key, inner);
      walk(inner, visit);
    }
  }
}

function stripLocations(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripLocations);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([key]) => !['location', 'rexpr_list_start', 'rexpr_list_end'].includes(key))
        .map(([key, inner]) => [key, stripLocations(inner)]),
    );
  }
  return value;
}

const UUID_1 = '00000000-0000-4000-8000-000000000001';
const UUID_2 = '00000000-0000-4000-8000-000000000002';
const ids = (rows: Row[]) => rows.map((row) => row.id).sort();
const acmeIds = (keep: (post: Row) => boolean) => ids(acmePosts.filter(keep));

describe('the shape proxy', () => {
  it("forwards with the token's organization as a bound parameter, and streams Electric's answer back", async () => {
    const answer = await shape({ table: 'posts', offset: '-1' }, acme());
    expect(answer.status).toBe(200);
    expect(answer.forwarded).toHaveLength(1);
    const forwarded = answer.forwarded[0]?.searchParams;
    expect(forwarded?.get('where')).toBe('"organization_id" = $1');
    expect(forwarded?.get('params[1]')).toBe(orgA);
    expect(forwarded?.get('table')).toBe('posts');
    expect(forwarded?.get('offset')).toBe('-1');
    expect(forwarded?.get('columns')).toBe(
      'organization_id,id,author_id,title,content,created_at,updated_at',
    );
    for (const [name, value] of Object.entries(ELECTRIC_HEADERS)) {
      if (name !== 'cache-control') expect(answer.headers.get(name), name).toBe(value);
    }
    // One organization's rows: never for a shared cache.
    expect(answer.headers.get('cache-control')).toBe(
      'private, max-age=60, stale-while-revalidate=300',
    );
    expect(answer.headers.get('vary')).toContain('authorization');
    expect(answer.log.at(-1)?.headers).toEqual({ control: 'up-to-date' });
    // Every post of acme (its sign-up post and the seeded ones), read by the stand-in.
    expect(ids(answer.rows)).toEqual(acmeIds(() => true));
    expect(answer.rows.length).toBe(POSTS.length + 1);
  });

  it('the stand-in reads as the owner: sent directly, `true` returns every organization', async () => {
    // The control that makes the rest mean something: row-level security does not protect here.
    const response = await fetch(
      `${electric.url}${SHAPE_PATH}?table=posts&columns=id,organization_id&where=true`,
    );
    const log = (await response.json()) as ShapeLogEntry[];
    const orgs = new Set(
      log.flatMap((entry) => (entry.value ? [entry.value.organization_id] : [])),
    );
    expect(orgs).toEqual(new Set([orgA, orgB]));
  });

  it("ANDs the client's where, printed from its parse tree, behind the filter", async () => {
    const forwarded = async (query: Record<string, string>, caller: Caller) => {
      const answer = await shape(query, caller);
      expect(answer.status, JSON.stringify(query)).toBe(200);
      return Object.fromEntries(answer.forwarded[0]?.searchParams ?? []);
    };
    expect(await forwarded({ table: 'posts', where: "title = 'x'" }, acme())).toMatchObject({
      where: `"organization_id" = $1 AND ("title" = 'x')`,
      'params[1]': orgA,
    });
    expect(
      await forwarded({ table: 'comments', where: "body LIKE '%)%'" }, globex()),
    ).toMatchObject({ where: `"organization_id" = $1 AND ("body" LIKE '%)%')`, 'params[1]': orgB });
    // The client's $1, $2 become $2, $3: none of its parameters can name the organization's.
    expect(
      await forwarded(
        { table: 'posts', where: 'id IN ($1,$2)', 'params[1]': UUID_1, 'params[2]': UUID_2 },
        acme(),
      ),
    ).toEqual(
      expect.objectContaining({
        where: `"organization_id" = $1 AND ("id" IN ($2, $3))`,
        'params[1]': orgA,
        'params[2]': UUID_1,
        'params[3]': UUID_2,
      }),
    );
    // Literals are escaped here, in one standard form, whatever form the client used.
    expect(
      await forwarded({ table: 'posts', where: "title = $q$it's$q$ OR title = E'a\\\\b'" }, acme()),
    ).toMatchObject({
      where: `"organization_id" = $1 AND (("title" = 'it''s') OR ("title" = E'a\\\\b'))`,
    });
  });

  it('asking for another organization only narrows to nothing', async () => {
    const answer = await shape({ table: 'posts', where: `organization_id = '${orgB}'` }, acme());
    expect(answer.status).toBe(200);
    expect(answer.rows).toEqual([]);
  });

  describe('ordinary filters return exactly the right rows of the own organization', () => {
    const cases: [string, Record<string, string>, (post: Row) => boolean][] = [
      ["title = 'Plain'", {}, (p) => p.title === 'Plain'],
      ['"title" = \'Plain\'', {}, (p) => p.title === 'Plain'],
      ['U&"t\\0069tle" = \'Plain\'', {}, (p) => p.title === 'Plain'],
      ["title LIKE '%rocket%'", {}, (p) => p.title === 'rocket launch'],
      ["title ILIKE 'ROCKET%'", {}, (p) => p.title === 'rocket launch'],
      ["title NOT LIKE '%e%'", {}, (p) => !p.title?.includes('e')],
      ["title = 'it''s here'", {}, (p) => p.title === "it's here"],
      ["title = E'it\\'s here'", {}, (p) => p.title === "it's here"],
      ["title = $$it's here$$", {}, (p) => p.title === "it's here"],
      ["title = $q$it's here$q$", {}, (p) => p.title === "it's here"],
      ["title = U&'it\\0027s here'", {}, (p) => p.title === "it's here"],
      ["title = U&'it!0027s here' UESCAPE '!'", {}, (p) => p.title === "it's here"],
      ["title = 'back\\slash'", {}, (p) => p.title === 'back\\slash'],
      ["title = E'back\\\\slash'", {}, (p) => p.title === 'back\\slash'],
      ["content LIKE '%\\\\%'", {}, (p) => p.content?.includes('\\') ?? false],
      ['title = $1', { 'params[1]': "it's here" }, (p) => p.title === "it's here"],
      ['title = $1', { 'params[1]': "x' OR true OR 'x" }, () => false],
      ["title IN ('Plain', 'Hello')", {}, (p) => p.title === 'Plain' || p.title === 'Hello'],
      ["title NOT IN ('Plain', 'Hello')", {}, (p) => p.title !== 'Plain' && p.title !== 'Hello'],
      [
        "title <> 'Plain' AND title != 'Hello'",
        {},
        (p) => p.title !== 'Plain' && p.title !== 'Hello',
      ],
      [
        "NOT (title = 'Plain' OR title = 'Hello')",
        {},
        (p) => p.title !== 'Plain' && p.title !== 'Hello',
      ],
      ['content IS NULL', {}, (p) => p.content === null],
      ['content IS NOT NULL', {}, (p) => p.content !== null],
      ["(content = 'x') IS NOT TRUE", {}, (p) => p.content !== 'x'],
      ["content IS DISTINCT FROM 'x'", {}, (p) => p.content !== 'x'],
      [
        "created_at BETWEEN '2024-01-01' AND '2024-01-31'",
        {},
        (p) => p.title === 'rocket launch' || p.title === "it's here",
      ],
      [
        "created_at NOT BETWEEN '2024-01-01'::timestamptz AND '2024-12-31'::timestamp with time zone",
        {},
        // Only the sign-up post, created today.
        (p) => p.title === 'Hello',
      ],
      [
        'created_at BETWEEN $1 AND $2',
        { 'params[1]': '2024-01-15T00:00:00Z', 'params[2]': '2024-02-10T00:00:00Z' },
        (p) => p.title === "it's here" || p.title === 'back\\slash',
      ],
      ["created_at::text LIKE '2024-03%'", {}, (p) => p.title === 'Plain'],
      ['true', {}, () => true],
      ['title IS NULL', {}, () => false],
    ];
    for (const [where, params, keep] of cases) {
      it(`${where} ${Object.values(params).join(' ')}`, async () => {
        const answer = await shape({ table: 'posts', where, ...params }, acme());
        expect(answer.status, answer.message).toBe(200);
        expect(ids(answer.rows)).toEqual(acmeIds(keep));
      });
    }

    it('id IN ($1, $2) with an id of each organization: only the own one', async () => {
      const [first, second] = acmePosts;
      const foreign = await electric.query(
        'SELECT id::text FROM posts WHERE organization_id = $1',
        [orgB],
      );
      const answer = await shape(
        {
          table: 'posts',
          where: 'id IN ($1, $2, $3)',
          'params[1]': first?.id ?? '',
          'params[2]': second?.id ?? '',
          'params[3]': foreign[0]?.id ?? '',
        },
        acme(),
      );
      expect(answer.status).toBe(200);
      expect(ids(answer.rows)).toEqual([first?.id, second?.id].sort());
    });

    it('users by role (an enum, as text) and comments by body', async () => {
      const admins = await shape({ table: 'users', where: "role::text = 'ADMIN'" }, acme());
      expect(admins.rows.map((row) => row.name)).toEqual(['Adam Admin']);
      const comments = await shape({ table: 'comments', where: "body = 'Nice'" }, globex());
      expect(comments.rows).toHaveLength(1);
    });
  });

  describe('a hostile where is refused with 400 BAD_USER_INPUT, and nothing is forwarded', () => {
    const issue = "$q$'$q$ = 'x' ) OR true OR ( 'x' = $q$'$q$";
    const corpus: [table: string, where: string][] = [
      // The issue's exact attacks.
      ['posts', issue],
      ['comments', issue],
      ['users', issue],
      ['users', "password_hash LIKE 'scrypt$131072$8$1$7y%'"],
      ['users', "email LIKE 'owner%'"],
      // Every quoting form, aimed at closing the parenthesis.
      ['posts', "$$'$$ = 'x' ) OR true OR ( 'x' = $$'$$"],
      ['posts', "$a$ $b$ ) $a$ = 'x' ) OR true OR ( 'x' = $a$ $b$ ( $a$"],
      ['posts', "title = E'\\' ) OR true OR ( title = E'\\''"],
      ['posts', "title = 'a\\' ) OR true OR ( title = '"],
      ['posts', "title = e'\\x27' ) OR true OR ( 'x' = 'x'"],
      ['posts', "title = U&'\\0027' ) OR true OR ( title = U&'\\0027'"],
      ['posts', "title = U&'!0027' UESCAPE '!' ) OR true OR ( 'x' = 'x'"],
      ['posts', "title = 'x'' ) OR true OR ( ''x') OR (true"],
      ['posts', '"title"" = \'x\' ) OR true OR (""" = \'y\''],
      ['posts', "title = N'x' ) OR true OR ( 'x' = 'x'"],
      ['posts', "title = B'01' ) OR true OR ( 'x' = 'x'"],
      ['posts', "title = X'1F'"],
      // Comments.
      ['posts', "title = 'x') OR true --"],
      ['posts', "title = 'x' --\n) OR true OR (\ntitle = 'y'"],
      ['posts', "title = 'x' /* /* */ ) OR true OR ( /* */ */ title = 'y'"],
      ['posts', "title = 'x' /* */ ) OR true OR ( /* */ title = 'y'"],
      ['posts', '1=1) OR (1=1'],
      ['posts', ')('],
      // Hidden columns, however spelled.
      ['users', 'password_hash IS NOT NULL'],
      ['users', '"password_hash" IS NOT NULL'],
      ['users', 'U&"password_hash" IS NOT NULL'],
      ['users', 'U&"p\\0061ssword_hash" IS NOT NULL'],
      ['users', 'U&"p!0061ssword_hash" UESCAPE \'!\' IS NOT NULL'],
      ['users', '"email" = \'owner@example.com\''],
      ['users', "name = 'x' OR email LIKE 'a%'"],
      ['posts', "title = 'x' OR email = 'y'"],
      ['posts', '"Title" = \'x\''],
      // Subqueries.
      ['posts', "EXISTS (SELECT 1 FROM users WHERE password_hash LIKE 's%')"],
      ['posts', 'title IN (SELECT email FROM users)'],
      ['posts', 'id = (SELECT id FROM posts LIMIT 1)'],
      ['posts', 'title = ANY (SELECT title FROM posts)'],
      ['posts', '(SELECT count(*) FROM posts) > 0'],
      ['posts', 'ARRAY(SELECT 1) IS NOT NULL'],
      // Functions and session values.
      ['posts', 'pg_sleep(1) IS NULL'],
      ['posts', "current_setting('app.organization_id') = ''"],
      ['posts', "title = lower('X')"],
      ['posts', 'length(title) > 0'],
      ['posts', 'now() > created_at'],
      ['posts', 'CURRENT_TIMESTAMP > created_at'],
      ['posts', "current_user = 'postgres'"],
      ['posts', "COALESCE(content, '') = ''"],
      ['posts', "NULLIF(title, 'x') IS NULL"],
      ['posts', 'GREATEST(1, 2) = 2'],
      ['posts', 'CASE WHEN true THEN true END'],
      ['posts', "title LIKE 'x' ESCAPE '!'"],
      // Casts beyond the plain types.
      ['posts', "'posts'::regclass IS NOT NULL"],
      ['posts', 'title::regclass IS NULL'],
      ['posts', "CAST('users' AS regclass) IS NOT NULL"],
      ['posts', "'1'::int4[] IS NULL"],
      ['posts', "title::varchar(10) = 'x'"],
      ['posts', "title::public.text = 'x'"],
      ['posts', 'title::"toString" = \'x\''],
      ['posts', "created_at > timestamptz(3) '2024-01-01'"],
      // System columns.
      ['posts', "ctid = '(0,1)'"],
      ['posts', "xmin::text = '1'"],
      ['posts', 'tableoid > 0'],
      ['posts', 'cmax IS NOT NULL'],
      // Qualified names and stars.
      ['users', "public.users.email = 'x'"],
      ['posts', "posts.title = 'x'"],
      [
        'posts',
        `public.posts.organization_id = '${'0'.repeat(8)}-0000-0000-0000-${'0'.repeat(12)}'`,
      ],
      ['posts', 'posts.* IS NOT NULL'],
      // Rows and arrays.
      [
        'posts',
        "(organization_id, id) > ('00000000-0000-0000-0000-000000000000', '00000000-0000-0000-0000-000000000000')",
      ],
      ['posts', 'ROW(title, id) IS NOT NULL'],
      ['posts', "(title, title) = ('x', 'x')"],
      ['posts', "title = ANY('{x,y}')"],
      ['posts', "title = ALL(ARRAY['x'])"],
      ['posts', "ARRAY[title] && ARRAY['x']"],
      ['posts', "title = ('{x}'::text[])[1]"],
      // Operators outside the list.
      ['posts', "title || 'x' = 'xx'"],
      ['posts', "title ~ '^H'"],
      ['posts', "title SIMILAR TO 'H%'"],
      ['posts', "title OPERATOR(pg_catalog.=) 'x'"],
      ['posts', "title ~~ 'x'"],
      ['posts', 'title COLLATE "C" = \'x\''],
      ['posts', "- title = 'x'"],
      ['posts', 'created_at BETWEEN SYMMETRIC created_at AND created_at'],
      // The where closes its clause and goes on.
      ['posts', 'true; SELECT 1'],
      ['posts', "title = 'x'; DROP TABLE posts"],
      ['posts', 'true ORDER BY 1'],
      ['posts', 'true LIMIT 1'],
      ['posts', 'true UNION SELECT FROM posts'],
      ['posts', 'true GROUP BY 1'],
      ['posts', 'true FOR UPDATE'],
      ['posts', 'true WINDOW w AS ()'],
      ['posts', "title = 'unclosed"],
      ['posts', `${'NOT '.repeat(300)}true`],
      ['posts', `title = '${'x'.repeat(2_001)}'`],
      ['posts', "title = 'x\0' OR true"],
      // Parameters: $0, unknown numbers, huge numbers.
      ['posts', '$0 = $0'],
      ['posts', '$99999999999 = 1'],
      ['posts', '$101 = 1'],
    ];
    for (const [table, where] of corpus) {
      it(`${table}: ${JSON.stringify(where).slice(0, 110)}`, async () => {
        const answer = await shape({ table, where }, acme());
        expect(answer.status, answer.message).toBe(400);
        expect(answer.code).toBe('BAD_USER_INPUT');
        expect(answer.forwarded).toEqual([]);
      });
    }
  });

  describe('odd but valid forms are one expression, and stay inside the own organization', () => {
    const accepted = [
      "title = 'a\\' OR true --'",
      "title = 'x' -- ) OR true",
      "title = 'x' /* ) OR true OR ( */",
      "title = 'x' /* /* */ ) OR true OR ( */",
      "title = 'x'' ) OR true OR ( ''x'",
      "title = E'\\' ) OR true OR ( title = '",
      'title = $q$ ) OR true OR ( $q$',
      'true OR true',
      "title = 'x' OR 'a' = 'a'",
      `${'('.repeat(200)}true${')'.repeat(200)}`,
      'title = 99999999999999999999999999',
    ];
    for (const where of accepted) {
      it(JSON.stringify(where).slice(0, 110), async () => {
        const answer = await shape({ table: 'posts', where }, acme());
        // shape() already checked the rows and the forwarded where; the database may still
        // refuse a type mismatch (text = numeric) with Electric's own 400.
        expect([200, 400], answer.message).toContain(answer.status);
        expect(answer.forwarded).toHaveLength(1);
      });
    }

    it('the printed where is the same tree as the client’s', async () => {
      for (const where of [
        ...accepted,
        "title = U&'it!0027s here' UESCAPE '!'",
        'id IN ($1, $2)',
      ]) {
        const printed = await checkWhere(where, {
          columns: SHAPE_TABLES.posts ?? [],
          paramOffset: 0,
        });
        expect(stripLocations(parseWhereNode(printed.sql)), where).toEqual(
          stripLocations(parseWhereNode(where)),
        );
      }
    });
  });

  describe('parameters cannot reach the organization’s $1 or go astray', () => {
    const cases: [string, Record<string, string> | [string, string][]][] = [
      // The client's $1 is not the organization: without params[1] it has no value.
      ['$1 names the org parameter', { where: 'organization_id = $1' }],
      ['params[0]', { where: "title = 'x'", 'params[0]': orgB }],
      ['params[01]', { where: 'title = $1', 'params[01]': 'x' }],
      ['params[1000]', { where: "title = 'x'", 'params[1000]': 'x' }],
      ['$101 with params[101]', { where: 'title = $101', 'params[101]': 'x' }],
      ['a gap: $2 only', { where: 'title = $2', 'params[2]': 'x' }],
      [
        'a param the where does not use',
        { where: 'title = $1', 'params[1]': 'x', 'params[2]': orgB },
      ],
      ['params without a where', { 'params[1]': orgB }],
      [
        'a repeated params[1]',
        [
          ['where', 'title = $1'],
          ['params[1]', 'x'],
          ['params[1]', orgB],
        ],
      ],
      ['a NUL in a param', { where: 'title = $1', 'params[1]': 'x\0' }],
      ['bare params', { where: "title = 'x'", params: JSON.stringify({ 1: orgB }) }],
    ];
    for (const [name, query] of cases) {
      it(name, async () => {
        const entries = Array.isArray(query) ? query : Object.entries(query);
        const answer = await shape([['table', 'posts'], ...entries], acme());
        expect(answer.status, answer.message).toBe(400);
        expect(answer.code).toBe('BAD_USER_INPUT');
        expect(answer.forwarded).toEqual([]);
      });
    }

    it('positive control: $1 with its params[1] naming the other organization narrows to nothing', async () => {
      const answer = await shape(
        { table: 'posts', where: 'organization_id = $1', 'params[1]': orgB },
        acme(),
      );
      expect(answer.status).toBe(200);
      expect(answer.rows).toEqual([]);
      const own = await shape(
        { table: 'posts', where: 'organization_id = $1', 'params[1]': orgA },
        acme(),
      );
      expect(ids(own.rows)).toEqual(acmeIds(() => true));
    });
  });

  it('allows listed tables and columns only', async () => {
    for (const query of [
      { table: 'organizations' },
      { table: '_prisma_migrations' },
      { table: 'public.posts' },
      { table: 'constructor' },
      { table: '__proto__' },
      { table: 'users', columns: 'id,password_hash' },
      { table: 'users', columns: 'id,email' },
      { table: 'users', columns: 'id,"email"' },
      {},
      { table: 'posts', unknown: '1' },
    ]) {
      const answer = await shape(query as Record<string, string>, acme());
      expect(answer.status, JSON.stringify(query)).toBe(400);
      expect(answer.code).toBe('BAD_USER_INPUT');
      expect(answer.forwarded).toEqual([]);
    }
    // Positive control: the listed columns of users.
    const ok = await shape({ table: 'users', columns: 'id,name' }, acme());
    expect(ok.status).toBe(200);
    expect(ok.forwarded[0]?.searchParams.get('columns')).toBe('id,name,organization_id');
    expect(ok.rows.map((row) => row.name).sort()).toEqual([
      'Adam Admin',
      'Mia Member',
      'Olive Owner',
    ]);
    expect(Object.keys(ok.rows[0] ?? {}).sort()).toEqual(['id', 'name', 'organization_id']);
  });

  it('needs a member: no token, a bad token or a deleted user is 401, and nothing is forwarded', async () => {
    const ghost = await t.tokens.issue({
      userId: '00000000-0000-4000-8000-000000000000',
      organizationId: orgA,
    });
    for (const token of [undefined, 'not-a-token', ghost]) {
      const answer = await shape({ table: 'posts' }, token ? { token, org: orgA } : undefined);
      expect(answer.status).toBe(401);
      expect(answer.code).toBe('UNAUTHENTICATED');
      expect(answer.forwarded).toEqual([]);
    }
  });

  it("a suspended organization's members are 403, and nothing is forwarded", async () => {
    const initech = await signUpOrg(t, 'initech');
    const [row] = await electric.query("SELECT id::text FROM organizations WHERE slug = 'initech'");
    const caller = { token: initech.member.token, org: row?.id ?? '' };
    expect((await shape({ table: 'posts' }, caller)).status).toBe(200);
    await electric.query('UPDATE organizations SET suspended_at = now() WHERE id = $1', [
      caller.org,
    ]);
    const answer = await shape({ table: 'posts' }, caller);
    expect(answer.status).toBe(403);
    expect(answer.code).toBe('ORGANIZATION_SUSPENDED');
    expect(answer.forwarded).toEqual([]);
  });

  it('every request that reached Electric carried the tenant filter', async () => {
    const live = await shape(
      { table: 'posts', live: 'true', handle: 'h', offset: '0_0' },
      { token: a.owner.token, org: orgA },
    );
    const comments = await shape({ table: 'comments' }, { token: b.owner.token, org: orgB });
    expect([...live.forwarded, ...comments.forwarded]).toHaveLength(2);
    expect(comments.rows.map((row) => row.id)).toHaveLength(1);
  });
});

describe('without ELECTRIC_URL', () => {
  it('the route is off: 404', async () => {
    const response = await t.fetch({ path: `${SHAPE_PATH}?table=posts`, method: 'GET' });
    expect(response.status).toBe(404);
  });
});
