// One extended-protocol message of several statements: the binding's statements in front of a
// query (and, on Citus, COMMIT behind it), sent with one Sync so that they share its transaction
// and cost no round trip of their own (src/db/bound-pg-client.ts decides what to send). It
// reaches into pg's internals (Query#prepare, _getRows, handleDataRow, handleCommandComplete,
// handleError, requiresPreparation); test/db/bound-pg-client.test.ts names the pg versions this
// was verified on and fails when those internals change.
import pg from 'pg';

/** A statement sent in front of another (or behind it), in the same message. */
export type Prefix = Readonly<{ sql: string; args: readonly string[] }>;

type Connection = {
  parse: (message: { text: string; name: string; types: unknown[] }) => void;
  bind: (message: { portal: string; statement: string; values: readonly string[] }) => void;
  execute: (message: { portal: string; rows: number | undefined }) => void;
  sync: () => void;
  close: (message: { type: 'S'; name: string }) => void;
  parsedStatements: Record<string, string | undefined>;
};

type QueryInternals = {
  name?: string;
  portal: string;
  _getRows(connection: Connection, rows: number | undefined): void;
  requiresPreparation(): boolean;
  prepare(connection: Connection): void;
  handleError(error: unknown, connection: Connection): void;
  handleDataRow(message: unknown): void;
  handleCommandComplete(message: unknown, connection: unknown): void;
};

const Query = pg.Query as unknown as new (config: object) => QueryInternals;

/**
 * A statement sent behind `prefixes` in one extended-protocol message (Parse, Bind, Execute of
 * each prefix, then the statement's own Parse, Bind, Describe, Execute, then Parse, Bind, Execute
 * of each suffix, and one Sync): all run in one implicit transaction, unless a prefix is BEGIN,
 * which makes it an ordinary transaction that outlives the message (or ends at a suffix's
 * COMMIT). The prefixes' and suffixes' rows and completions are not part of the result. If one
 * fails, PostgreSQL skips the rest up to the Sync and the error is the query's.
 *
 * A named (prepared) statement behind prefixes: pg marks a name parsed at the message's first
 * ParseComplete, which is a prefix's, so after a failure it cannot tell whether the server kept
 * the statement. Such a name is closed (a no-op on the server if it does not exist) and parsed
 * again the next time, instead of being bound to a statement that may not exist (pg 8.23.1).
 */
export class PrefixedQuery extends Query {
  private prefixesLeft: number;
  private statementDone = false;

  constructor(
    config: Record<string, unknown>,
    /** Public for the benchmark, which counts each as a statement of its own. */
    readonly prefixes: readonly Prefix[],
    readonly suffixes: readonly Prefix[] = [],
  ) {
    super(config);
    this.prefixesLeft = prefixes.length;
    // Rows read page by page would interleave with the suffixes: never asked for here.
    if (suffixes.length > 0 && config['rows'])
      throw new Error('A statement with suffixes reads all rows');
  }

  override _getRows(connection: Connection, rows: number | undefined): void {
    if (this.suffixes.length === 0) {
      super._getRows(connection, rows);
      return;
    }
    connection.execute({ portal: this.portal, rows });
    for (const suffix of this.suffixes) {
      connection.parse({ text: suffix.sql, name: '', types: [] });
      connection.bind({ portal: '', statement: '', values: suffix.args });
      connection.execute({ portal: '', rows: 0 });
    }
    connection.sync();
  }

  override requiresPreparation(): boolean {
    return true;
  }

  override prepare(connection: Connection): void {
    for (const prefix of this.prefixes) {
      connection.parse({ text: prefix.sql, name: '', types: [] });
      connection.bind({ portal: '', statement: '', values: prefix.args });
      connection.execute({ portal: '', rows: 0 });
    }
    const name = this.name;
    if (name && uncertainStatements.get(connection)?.delete(name)) {
      connection.close({ type: 'S', name });
      connection.parsedStatements[name] = undefined;
    }
    super.prepare(connection);
  }

  override handleError(error: unknown, connection: Connection): void {
    const name = this.name;
    if (name) {
      const names = uncertainStatements.get(connection) ?? new Set<string>();
      uncertainStatements.set(connection, names.add(name));
    }
    super.handleError(error, connection);
  }

  override handleDataRow(message: unknown): void {
    if (this.prefixesLeft === 0 && !this.statementDone) super.handleDataRow(message);
  }

  override handleCommandComplete(message: unknown, connection: unknown): void {
    if (this.prefixesLeft > 0) this.prefixesLeft--;
    else if (!this.statementDone) {
      this.statementDone = true;
      super.handleCommandComplete(message, connection);
    }
  }
}

/** Per connection, the prepared statements a failed PrefixedQuery may or may not have left. */
const uncertainStatements = new WeakMap<Connection, Set<string>>();
