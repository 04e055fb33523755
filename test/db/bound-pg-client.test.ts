import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { PassThrough } from 'node:stream';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { PrefixedQuery } from '../../src/db/prefixed-query.ts';

/**
 * src/db/prefixed-query.ts overrides internals of pg's Query that are no public API. These are
 * the pg versions it was verified on (the wire order below, and the server tests in
 * test/tenancy/unit-of-work.test.ts). A new pg fails here first: read pg's lib/query.js for what
 * is listed in INTERNALS, run the server suites, then add the version.
 */
const VERIFIED_PG_VERSIONS = ['8.23.1'];

/** What PrefixedQuery overrides or calls, with the number of parameters pg declares for each. */
const INTERNALS = {
  requiresPreparation: 0,
  prepare: 1,
  handleDataRow: 1,
  handleCommandComplete: 2,
  handleError: 2,
  submit: 1,
  _getRows: 2,
} as const;

const pgVersion = String(
  JSON.parse(readFileSync(createRequire(import.meta.url).resolve('pg/package.json'), 'utf8'))
    .version,
);

describe('the pg internals the binding relies on', () => {
  it('the installed pg is a version the override was verified on', () => {
    expect(
      VERIFIED_PG_VERSIONS.includes(pgVersion),
      `pg ${pgVersion} is not among the versions src/db/prefixed-query.ts was verified on ` +
        `(${VERIFIED_PG_VERSIONS.join(', ')}). It overrides pg's Query#${Object.keys(INTERNALS).join(', #')}: ` +
        'check them in node_modules/pg/lib/query.js, run test/db and test/tenancy with ' +
        'TEST_DATABASE_URL, then add the version to VERIFIED_PG_VERSIONS.',
    ).toBe(true);
  });

  it.each(Object.entries(INTERNALS))('Query#%s exists and takes %i parameter(s)', (name, arity) => {
    const method: unknown = Reflect.get(pg.Query.prototype, name);
    expect(
      typeof method === 'function' ? method.length : `no Query#${name}`,
      `pg ${pgVersion} changed Query#${name}, which src/db/prefixed-query.ts (PrefixedQuery) relies on`,
    ).toBe(arity);
  });

  it('a prefixed statement leaves as one message: the prefix, then the statement, one Sync', () => {
    // pg's real Connection, writing its bytes into a stream instead of a socket.
    const socket = new PassThrough();
    const written: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => written.push(chunk));
    const connection = new pg.Connection({ stream: () => socket });
    const query = new PrefixedQuery(
      { text: 'SELECT $1::text AS v', values: ['statement'], callback: () => {} },
      [{ sql: "SELECT set_config('app.test', $1, true)", args: ['prefix'] }],
    );
    const submit = Reflect.get(query, 'submit') as (connection: pg.Connection) => unknown;
    expect(submit.call(query, connection)).toBeNull();

    const messages = frontendMessages(Buffer.concat(written));
    expect(
      messages.map((message) => message.type).join(''),
      `pg ${pgVersion} no longer sends Parse/Bind/Execute of the prefix, then the statement's ` +
        'Parse/Bind/Describe/Execute and ONE Sync: the prefix would not share its transaction',
    ).toBe('PBEPBDES');
    expect(messages.filter((m) => m.type === 'P').map((m) => parsedText(m.body))).toEqual([
      "SELECT set_config('app.test', $1, true)",
      'SELECT $1::text AS v',
    ]);
    // Each Bind carries its own statement's arguments.
    const binds = messages.filter((m) => m.type === 'B').map((m) => m.body.toString('latin1'));
    expect(binds[0]).toContain('prefix');
    expect(binds[0]).not.toContain('statement');
    expect(binds[1]).toContain('statement');
  });

  it('with suffixes (Citus: COMMIT after the statement), still one message and one Sync', () => {
    const socket = new PassThrough();
    const written: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => written.push(chunk));
    const connection = new pg.Connection({ stream: () => socket });
    const query = new PrefixedQuery(
      { text: 'SELECT 1 AS v', callback: () => {} },
      [{ sql: 'BEGIN READ ONLY', args: [] }],
      [{ sql: 'COMMIT', args: [] }],
    );
    const submit = Reflect.get(query, 'submit') as (connection: pg.Connection) => unknown;
    expect(submit.call(query, connection)).toBeNull();
    const messages = frontendMessages(Buffer.concat(written));
    expect(messages.map((message) => message.type).join('')).toBe('PBEPBDEPBES');
    expect(messages.filter((m) => m.type === 'P').map((m) => parsedText(m.body))).toEqual([
      'BEGIN READ ONLY',
      'SELECT 1 AS v',
      'COMMIT',
    ]);
  });

  describe.runIf(!!process.env.TEST_DATABASE_URL)('on a server', () => {
    const run = async (
      query: PrefixedQuery,
      result: Promise<pg.QueryResult>,
      after?: (client: pg.Client) => Promise<unknown>,
    ) => {
      const client = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
      await client.connect();
      try {
        client.query(query as unknown as pg.QueryConfig);
        const answer = await result;
        return { answer, after: await after?.(client) };
      } finally {
        await client.end();
      }
    };
    const prefixed = (text: string, ...prefixes: string[]) => {
      let settle: (error: Error | null, result?: pg.QueryResult) => void = () => {};
      const result = new Promise<pg.QueryResult>((resolve, reject) => {
        settle = (error, value) => (error || !value ? reject(error) : resolve(value));
      });
      const query = new PrefixedQuery(
        { text, callback: settle },
        prefixes.map((sql) => ({ sql, args: sql.includes('$1') ? ['bound'] : [] })),
      );
      return { query, result };
    };

    it('the statement sees what the prefix set, and only its own rows and fields come back', async () => {
      const { query, result } = prefixed(
        "SELECT current_setting('app.test', true) AS v",
        "SELECT set_config('app.test', $1, true) AS prefix_column",
      );
      const { answer } = await run(query, result);
      expect(answer.rows).toEqual([{ v: 'bound' }]);
      expect(answer.fields.map((field) => field.name)).toEqual(['v']);
      expect(answer.command).toBe('SELECT');
    });

    it('behind BEGIN, the transaction outlives the message: the setting holds for the next statement, until COMMIT', async () => {
      const { query, result } = prefixed(
        "SELECT current_setting('app.test', true) AS v",
        'BEGIN',
        "SELECT set_config('app.test', $1, true) AS prefix_column",
      );
      const { answer, after } = await run(query, result, async (client) => {
        const inside = await client.query("SELECT current_setting('app.test', true) AS v");
        await client.query('COMMIT');
        const outside = await client.query("SELECT current_setting('app.test', true) AS v");
        return [inside.rows[0]?.v, outside.rows[0]?.v];
      });
      expect(answer.rows).toEqual([{ v: 'bound' }]);
      expect(answer.command).toBe('SELECT');
      // Positive control: after COMMIT the transaction-local setting is gone.
      expect(after).toEqual(['bound', '']);
    });

    it('behind BEGIN and before COMMIT: its own rows and command, and no transaction after', async () => {
      let settle: (error: Error | null, result?: pg.QueryResult) => void = () => {};
      const result = new Promise<pg.QueryResult>((resolve, reject) => {
        settle = (error, value) => (error || !value ? reject(error) : resolve(value));
      });
      const query = new PrefixedQuery(
        { text: "SELECT current_setting('app.test', true) AS v", callback: settle },
        [
          { sql: 'BEGIN READ ONLY', args: [] },
          { sql: "SET LOCAL app.test = 'inside'", args: [] },
        ],
        [{ sql: 'COMMIT', args: [] }],
      );
      const { answer, after } = await run(query, result, async (client) => {
        const outside = await client.query("SELECT current_setting('app.test', true) AS v");
        // Outside a transaction block each statement is a transaction of its own: now() is
        // when it started. Inside one still open, now() would be the BEGIN's time.
        const begun = await client.query('SELECT now() = statement_timestamp() AS fresh');
        return [outside.rows[0]?.v, begun.rows[0]?.fresh];
      });
      expect(answer.rows).toEqual([{ v: 'inside' }]);
      expect(answer.command).toBe('SELECT');
      expect(after).toEqual(['', true]);
    });

    it('a failing prefix fails the query with its own error (the positive control is the test above)', async () => {
      const { query, result } = prefixed(
        'SELECT 1 AS v',
        "SELECT set_config('app.test', $1, true), 1 / 0",
      );
      await expect(run(query, result)).rejects.toThrow(/division by zero/);
    });

    it('a prepared statement whose prefix failed is parsed again next time, not bound to nothing', async () => {
      const client = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
      await client.connect();
      const send = (prefix: string) =>
        new Promise<pg.QueryResult>((resolve, reject) => {
          const query = new PrefixedQuery(
            {
              name: 'scopegraph_test_statement',
              text: "SELECT current_setting('app.test', true) AS v",
              callback: (error: Error | null, value?: pg.QueryResult) =>
                error || !value ? reject(error) : resolve(value),
            },
            [{ sql: prefix, args: ['bound'] }],
          );
          client.query(query as unknown as pg.QueryConfig);
        });
      try {
        // The prefix's ParseComplete arrives, then its error: the named statement never parsed.
        await expect(send("SELECT set_config('app.test', $1, true), 1 / 0")).rejects.toThrow(
          /division by zero/,
        );
        expect((await send("SELECT set_config('app.test', $1, true)")).rows).toEqual([
          { v: 'bound' },
        ]);
        // And once parsed, it is reused: the server holds it.
        expect((await send("SELECT set_config('app.test', $1, true)")).rows).toEqual([
          { v: 'bound' },
        ]);
        const held = await client.query(
          "SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name = 'scopegraph_test_statement'",
        );
        expect(held.rows).toEqual([{ n: 1 }]);
      } finally {
        await client.end();
      }
    });
  });
});

type FrontendMessage = { type: string; body: Buffer };

/** Splits what a client wrote into protocol messages: a type byte, an int32 length, a body. */
function frontendMessages(bytes: Buffer): FrontendMessage[] {
  const messages: FrontendMessage[] = [];
  for (let at = 0; at < bytes.length; ) {
    const length = bytes.readInt32BE(at + 1);
    messages.push({
      type: String.fromCharCode(bytes[at] ?? 0),
      body: bytes.subarray(at + 5, at + 1 + length),
    });
    at += 1 + length;
  }
  return messages;
}

/** A Parse message's body: the statement name, then its text, each NUL-terminated. */
function parsedText(body: Buffer): string {
  const nameEnd = body.indexOf(0);
  return body.subarray(nameEnd + 1, body.indexOf(0, nameEnd + 1)).toString('utf8');
}
