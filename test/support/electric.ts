import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import type { TestDatabase } from './database.ts';

/** One statement as the database's owner: a superuser, past every row-level security policy. */
export type OwnerQuery = (
  sql: string,
  params?: readonly string[],
) => Promise<Record<string, string | null>[]>;

export type StandInElectric = Readonly<{
  url: string;
  /** Every request it got, in order. */
  received: URL[];
  /** The owner's connection it reads with (the test also uses it to set rows up). */
  query: OwnerQuery;
  close: () => Promise<void>;
}>;

/** The headers Electric sets on a shape response; the proxy must pass them through. */
export const ELECTRIC_HEADERS = Object.freeze({
  'electric-handle': '12345-1700000000000',
  'electric-offset': '0_0',
  'electric-up-to-date': '',
  'cache-control': 'public, max-age=60, stale-while-revalidate=300',
  etag: '"12345-1700000000000:-1:0_0"',
});

export type ShapeLogEntry = {
  headers: Record<string, unknown>;
  key?: string;
  value?: Record<string, string | null>;
};

/**
 * A stand-in for ElectricSQL (which cannot be installed here) that does what Electric's snapshot
 * does with a shape request: it runs `SELECT <columns> FROM <table> WHERE <where>` with
 * `params[n]` bound as `$n`, on the real test database, as the owner, so row-level security
 * does not narrow anything (Electric's replication connection reads every tenant). Its answer is
 * Electric's shape log (an insert per row, then `up-to-date`) with Electric's headers; a
 * statement the database refuses is a 400 like Electric's. So a where that escapes the tenant
 * filter returns other organizations' rows here, exactly as it would from Electric.
 */
export async function startStandInElectric(database: TestDatabase): Promise<StandInElectric> {
  const owner = await ownerConnection(database);
  const received: URL[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://electric');
    received.push(url);
    answer(url, owner.query).then(
      ({ status, headers, body }) => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(body));
      },
      (error: unknown) => failed(res, error),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.freeze({
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    query: owner.query,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await owner.close();
    },
  });
}

type Answer = { status: number; headers: Record<string, string>; body: unknown };

async function answer(url: URL, query: OwnerQuery): Promise<Answer> {
  const table = url.searchParams.get('table') ?? '';
  const columns = (url.searchParams.get('columns') ?? '').split(',').filter(Boolean);
  const where = url.searchParams.get('where');
  const params: string[] = [];
  for (let n = 1; url.searchParams.has(`params[${n}]`); n++) {
    params.push(url.searchParams.get(`params[${n}]`) ?? '');
  }
  const list = columns.map((column) => `${ident(column)}::text AS ${ident(column)}`).join(', ');
  const sql = `SELECT ${list || '*'} FROM ${ident(table)}${where ? ` WHERE ${where}` : ''}`;
  let rows: Record<string, string | null>[];
  try {
    rows = await query(sql, params);
  } catch (error) {
    // Electric answers a where it cannot run with 400 and the reason.
    const message = error instanceof Error ? error.message : String(error);
    return {
      status: 400,
      headers: {},
      body: { message: 'Invalid request', errors: { where: [message] } },
    };
  }
  const types = await query(
    `SELECT column_name, udt_name FROM information_schema.columns
      WHERE table_schema = 'public' AND table_name = $1`,
    [table],
  );
  const schema = Object.fromEntries(
    types
      .filter((row) => columns.includes(row.column_name ?? ''))
      .map((row) => [row.column_name, { type: row.udt_name }]),
  );
  const log: ShapeLogEntry[] = rows.map((row) => ({
    headers: { operation: 'insert', relation: ['public', table] },
    key: `"public"."${table}"/"${row.organization_id}"/"${row.id}"`,
    value: row,
  }));
  log.push({ headers: { control: 'up-to-date' } });
  return {
    status: 200,
    headers: { ...ELECTRIC_HEADERS, 'electric-schema': JSON.stringify(schema) },
    body: log,
  };
}

function failed(res: ServerResponse, error: unknown) {
  res.writeHead(500, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ message: String(error) }));
}

function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

type Owner = { query: OwnerQuery; close: () => Promise<void> };

/**
 * The database's owner: on the server the test database's own URL (user postgres, a superuser),
 * on PGlite the instance itself (which runs as its superuser). On PGlite, each statement is its
 * own transaction of PGlite's, so it waits for the API's open transactions instead of running
 * inside one of them (and under its role and organization).
 */
async function ownerConnection(database: TestDatabase): Promise<Owner> {
  const backend = database.jobBackend;
  if (backend.kind === 'postgres') {
    const client = new pg.Client({ connectionString: database.url ?? backend.url });
    await client.connect();
    return {
      query: async (sql, params = []) =>
        (await client.query<Record<string, string | null>>(sql, [...params])).rows,
      close: () => client.end(),
    };
  }
  const { pglite } = backend;
  return {
    query: (sql, params = []) =>
      pglite.transaction(
        async (tx) => (await tx.query<Record<string, string | null>>(sql, [...params])).rows,
      ),
    close: async () => {},
  };
}
