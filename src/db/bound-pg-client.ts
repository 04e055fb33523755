// The binding's wire protocol on a PostgreSQL server: how the pg pool's client sends the tenant
// binding (src/tenancy/binding.ts) in the same message as the transaction it binds, so that it
// costs no round trip of its own. It reaches into pg's internals (Query#prepare, handleDataRow,
// handleCommandComplete, requiresPreparation); test/db/bound-pg-client.test.ts names the pg
// versions this was verified on and fails when those internals change.
import pg from 'pg';
import {
  APP_ROLE,
  BIND_SQL,
  READ_ONLY_BIND_SQL,
  transactionBeingOpened,
} from '../tenancy/binding.ts';
import { isUuid } from '../tenancy/ids.ts';

/** A statement sent in front of another, in the same message (PrefixedQuery below). */
export type Prefix = Readonly<{ sql: string; args: readonly string[] }>;

/**
 * pg's client, except for the transactions the tenant binding opens (planBegin below): their
 * BEGIN and binding travel in the message of the transaction's first statement, or, for a
 * read-only one, no BEGIN is sent and every statement carries the binding in its own message.
 * Every other statement, and every transaction of the system client, goes out unchanged.
 */
export class BindingClient extends pg.Client {
  /** Set while a read-only transaction of the binding holds this connection. */
  statementwise: Prefix | null = null;
  /** BEGIN and the binding, held until the transaction's first statement carries them. */
  opening: readonly Prefix[] | null = null;
}

type QueryArgs = unknown[];
type QueryConfigLike = {
  text?: unknown;
  values?: unknown;
  rowMode?: unknown;
  types?: unknown;
  name?: unknown;
};
type QueryCallback = (error: Error | null, result?: pg.QueryResult) => void;

BindingClient.prototype.query = function query(this: BindingClient, ...args: QueryArgs) {
  const [config] = args;
  const text = isConfig(config) && typeof config.text === 'string' ? config.text : null;
  // Looked up at call time: whatever pg.Client#query is then (the benchmark counts through it).
  const send = (...a: QueryArgs) =>
    (pg.Client.prototype.query as (...b: QueryArgs) => unknown).apply(this, a);
  if (this.statementwise) {
    if (text === 'COMMIT' || text === 'ROLLBACK') {
      this.statementwise = null;
      return Promise.resolve(EMPTY_RESULT);
    }
    if (!isConfig(config) || text === null || args.length > 1) {
      // adapter-pg always passes one config object; anything else is refused, never sent unbound.
      return Promise.reject(
        new Error('Unexpected query shape inside a read-only tenant transaction'),
      );
    }
    return sendBehind(send, config, [this.statementwise]);
  }
  if (this.opening) {
    const prefixes = this.opening;
    this.opening = null;
    // Nothing ran: there is no transaction to end.
    if (text === 'COMMIT' || text === 'ROLLBACK') return Promise.resolve(EMPTY_RESULT);
    if (!isConfig(config) || text === null || args.length > 1) {
      // Not the shape adapter-pg sends: open the transaction and bind it first, then send it.
      return prefixes
        .reduce<Promise<unknown>>(
          (sent, prefix) => sent.then(() => send({ text: prefix.sql, values: prefix.args })),
          Promise.resolve(),
        )
        .then(() => send(...args));
    }
    return sendBehind(send, config, prefixes);
  }
  const plan = text === null ? null : planBegin(text);
  if (plan?.kind === 'statementwise') {
    this.statementwise = { sql: plan.sql, args: plan.args };
    return Promise.resolve(EMPTY_RESULT);
  }
  if (plan?.kind === 'deferred') {
    this.opening = plan.prefixes;
    return Promise.resolve(EMPTY_RESULT);
  }
  return send(...args);
} as pg.Client['query'];

const EMPTY_RESULT = { command: '', rowCount: 0, oid: 0, rows: [], fields: [] };

/** Sends the statement `config` behind `prefixes`, in one message (PrefixedQuery below). */
function sendBehind(
  send: (...a: QueryArgs) => unknown,
  config: QueryConfigLike,
  prefixes: readonly Prefix[],
): Promise<pg.QueryResult> {
  return new Promise((resolve, reject) => {
    const callback: QueryCallback = (error, result) =>
      error ? reject(error) : resolve(result as pg.QueryResult);
    send(new PrefixedQuery({ ...config, callback }, prefixes));
  });
}

function isConfig(value: unknown): value is QueryConfigLike {
  return typeof value === 'object' && value !== null && !('submit' in value);
}

type Connection = {
  parse: (message: { text: string; name: string; types: unknown[] }) => void;
  bind: (message: { portal: string; statement: string; values: readonly string[] }) => void;
  execute: (message: { portal: string; rows: number }) => void;
  close: (message: { type: 'S'; name: string }) => void;
  parsedStatements: Record<string, string | undefined>;
};

type QueryInternals = {
  name?: string;
  requiresPreparation(): boolean;
  prepare(connection: Connection): void;
  handleError(error: unknown, connection: Connection): void;
  handleDataRow(message: unknown): void;
  handleCommandComplete(message: unknown, connection: unknown): void;
};

const Query = pg.Query as unknown as new (config: object) => QueryInternals;

/**
 * A statement sent behind `prefixes` in one extended-protocol message (Parse, Bind, Execute of
 * each prefix, then the statement's own Parse, Bind, Describe, Execute, and one Sync): all run
 * in one implicit transaction, unless a prefix is BEGIN, which makes it an ordinary transaction
 * that outlives the message. The prefixes' rows and completions are not part of the result. If a
 * prefix fails, PostgreSQL skips the rest and the error is the query's.
 *
 * A named (prepared) statement behind prefixes: pg marks a name parsed at the message's first
 * ParseComplete, which is a prefix's, so after a failure it cannot tell whether the server kept
 * the statement. Such a name is closed (a no-op on the server if it does not exist) and parsed
 * again the next time, instead of being bound to a statement that may not exist (pg 8.23.1).
 */
export class PrefixedQuery extends Query {
  private prefixesLeft: number;

  constructor(
    config: object,
    /** Public for the benchmark, which counts each as a statement of its own. */
    readonly prefixes: readonly Prefix[],
  ) {
    super(config);
    this.prefixesLeft = prefixes.length;
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
    if (this.prefixesLeft === 0) super.handleDataRow(message);
  }

  override handleCommandComplete(message: unknown, connection: unknown): void {
    if (this.prefixesLeft === 0) super.handleCommandComplete(message, connection);
    else this.prefixesLeft--;
  }
}

/** Per connection, the prepared statements a failed PrefixedQuery may or may not have left. */
const uncertainStatements = new WeakMap<Connection, Set<string>>();

/** A connection goes back to the pool with no read-only binding left on it, whatever happened. */
export function clearBinding(client: pg.PoolClient): void {
  (client as unknown as BindingClient).statementwise = null;
  (client as unknown as BindingClient).opening = null;
}

/**
 * How the pg pool's client opens a transaction the binding starts (BindingClient above), so that
 * neither BEGIN nor the binding costs a round trip of its own:
 *
 * - `deferred`: send nothing yet. BEGIN and the binding (with its arguments) go out in front of
 *   the transaction's first statement, in its message (PrefixedQuery). A transaction that ends
 *   before any statement sends nothing at all.
 * - `statementwise` (read-only transactions): send no BEGIN at all. Every statement goes out
 *   with `READ_ONLY_BIND_SQL` and these arguments in front of it, in the same message and before
 *   one Sync, so both run in one implicit transaction: the binding holds for exactly that
 *   statement, which cannot write. COMMIT and ROLLBACK then have nothing to end.
 *
 * null: send BEGIN as it is. Then, or where this is never asked (PGlite, an adapter that opens
 * transactions differently), the transaction binds itself before its first statement: a saved
 * round trip, never a missing binding.
 */
export type BeginPlan =
  | Readonly<{ kind: 'deferred'; prefixes: readonly Prefix[] }>
  | Readonly<{ kind: 'statementwise'; sql: string; args: readonly [string, string] }>;

export function planBegin(sql: string): BeginPlan | null {
  if (sql !== 'BEGIN') return null;
  const open = transactionBeingOpened();
  if (!open || !isUuid(open.organizationId)) return null;
  open.carriedAtBegin();
  if (open.readOnly) {
    return {
      kind: 'statementwise',
      sql: READ_ONLY_BIND_SQL,
      args: [APP_ROLE, open.organizationId],
    };
  }
  return {
    kind: 'deferred',
    prefixes: [
      { sql: 'BEGIN', args: [] },
      { sql: BIND_SQL, args: [APP_ROLE, open.organizationId] },
    ],
  };
}
