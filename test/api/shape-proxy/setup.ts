import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadModule, type Node, parseSync } from 'libpg-query';
import { afterAll, beforeAll, expect } from 'vitest';
import { SHAPE_PATH, SHAPE_TABLES } from '../../../src/http/shape-proxy.ts';
import { createTestApi, field, type Org, signUpOrg, type TestApi } from '../../support/api.ts';
import { openTestDatabase, type TestDatabase } from '../../support/database.ts';
import {
  type ShapeLogEntry,
  type StandInElectric,
  startStandInElectric,
} from '../../support/electric.ts';

/**
 * GET /v1/shape in front of a stand-in for ElectricSQL that executes what it is sent
 * (test/support/electric.ts): `SELECT <columns> FROM <table> WHERE <where>` with the params
 * bound, on the real test database as its owner, where row-level security protects nothing.
 * Both organizations hold look-alike posts, so any where that escapes the tenant filter returns
 * the other organization's rows. Every request of these files goes through `shape()`, which checks
 * on every answer that no row is another organization's, and on every forwarded request, by
 * parsing its where with PostgreSQL's parser, that it is the tenant filter on a bound parameter
 * ANDed with allowed nodes over allowed columns only.
 */
export let t: TestApi;
export let a: Org;
export let b: Org;
export let orgA: string;
export let orgB: string;
export let electric: StandInElectric;
let database: TestDatabase;
let proxy: Server;
let proxyUrl: string;
/** Acme's posts as the owner reads them: what a filter's answer is compared with. */
export let acmePosts: Row[];

export type Row = Record<string, string | null>;
export type Caller = Readonly<{ token: string; org: string }>;
type ShapeAnswer = Readonly<{
  status: number;
  code: string | undefined;
  message: string | undefined;
  rows: Row[];
  headers: Headers;
  log: ShapeLogEntry[];
  forwarded: URL[];
}>;

export const acme = (): Caller => ({ token: a.member.token, org: orgA });
export const globex = (): Caller => ({ token: b.member.token, org: orgB });

/** Posts both organizations hold, with the creation dates BETWEEN filters on. */
export const POSTS = [
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

/** Registers, in the calling test file, the hooks that build and tear down all of the above. */
export function useShapeProxy() {
  beforeAll(async () => {
    await loadModule();
    // The stand-in reads this database, and the API needs the stand-in's URL: database first.
    database = await openTestDatabase();
    electric = await startStandInElectric(database);
    t = await createTestApi({ database, api: { electricUrl: electric.url } });
    a = await signUpOrg(t, 'acme');
    b = await signUpOrg(t, 'globex');
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
    // Yoga's server instance is itself a node request listener; its type is a wide union.
    [proxy, proxyUrl] = await listen(
      t.api.yoga as unknown as (req: IncomingMessage, res: ServerResponse) => void,
    );
  });

  afterAll(async () => {
    proxy?.closeAllConnections();
    await new Promise<void>((resolve) => (proxy ? proxy.close(() => resolve()) : resolve()));
    await electric?.close();
    await t?.close();
    await database?.drop();
  });
}

/** One shape request through the proxy, with the invariants every answer must keep. */
export async function shape(
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

export function parseWhereNode(where: string): Node | undefined {
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

export function stripLocations(value: unknown): unknown {
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

export const UUID_1 = '00000000-0000-4000-8000-000000000001';
export const UUID_2 = '00000000-0000-4000-8000-000000000002';
export const ids = (rows: Row[]) => rows.map((row) => row.id).sort();
export const acmeIds = (keep: (post: Row) => boolean) => ids(acmePosts.filter(keep));
