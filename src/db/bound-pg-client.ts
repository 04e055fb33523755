// The binding's wire protocol on a PostgreSQL server: how the pg pool's client sends the tenant
// binding (src/tenancy/binding.ts) in the same message as the transaction it binds, so that it
// costs no round trip of its own. It reaches into pg's internals (Query#prepare, handleDataRow,
// handleCommandComplete, requiresPreparation); test/db/bound-pg-client.test.ts names the pg
// versions this was verified on and fails when those internals change.
import pg from 'pg';
import { APP_ROLE, READ_ONLY_BIND_SQL, transactionBeingOpened } from '../tenancy/binding.ts';
import { isUuid } from '../tenancy/ids.ts';

/**
 * pg's client, except for the transactions the tenant binding opens (planBegin below): their
 * BEGIN carries the binding in the same round trip, or, for a read-only one, no BEGIN is sent and
 * every statement carries the binding in its own message.
 * Every other statement, and every transaction of the system client, goes out unchanged.
 */
export class BindingClient extends pg.Client {
  /** Set while a read-only transaction of the binding holds this connection. */
  statementwise: Readonly<{ sql: string; args: readonly [string, string] }> | null = null;
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
    const { sql, args: bindArgs } = this.statementwise;
    return new Promise((resolve, reject) => {
      const callback: QueryCallback = (error, result) => (error ? reject(error) : resolve(result));
      send(new PrefixedQuery({ ...config, callback }, sql, bindArgs));
    });
  }
  const plan = text === null ? null : planBegin(text);
  if (plan?.kind === 'statementwise') {
    this.statementwise = { sql: plan.sql, args: plan.args };
    return Promise.resolve(EMPTY_RESULT);
  }
  if (plan?.kind === 'merge') args[0] = { ...(config as object), text: plan.sql };
  return send(...args);
} as pg.Client['query'];

const EMPTY_RESULT = { command: '', rowCount: 0, oid: 0, rows: [], fields: [] };

function isConfig(value: unknown): value is QueryConfigLike {
  return typeof value === 'object' && value !== null && !('submit' in value);
}

type Connection = {
  parse: (message: { text: string; name: string; types: unknown[] }) => void;
  bind: (message: { portal: string; statement: string; values: readonly string[] }) => void;
  execute: (message: { portal: string; rows: number }) => void;
};

type QueryInternals = {
  requiresPreparation(): boolean;
  prepare(connection: Connection): void;
  handleDataRow(message: unknown): void;
  handleCommandComplete(message: unknown, connection: unknown): void;
};

const Query = pg.Query as unknown as new (config: object) => QueryInternals;

/**
 * A statement sent behind `prefix` in one extended-protocol message (Parse, Bind, Execute of the
 * prefix, then the statement's own Parse, Bind, Describe, Execute, and one Sync): both run in one
 * implicit transaction. The prefix's row and completion are not part of the result. If the
 * prefix fails, PostgreSQL skips the statement and the error is the query's.
 */
export class PrefixedQuery extends Query {
  private prefixDone = false;

  constructor(
    config: object,
    /** Public for the benchmark, which counts it as a statement of its own. */
    readonly prefix: string,
    private readonly prefixArgs: readonly string[],
  ) {
    super(config);
  }

  override requiresPreparation(): boolean {
    return true;
  }

  override prepare(connection: Connection): void {
    connection.parse({ text: this.prefix, name: '', types: [] });
    connection.bind({ portal: '', statement: '', values: this.prefixArgs });
    connection.execute({ portal: '', rows: 0 });
    super.prepare(connection);
  }

  override handleDataRow(message: unknown): void {
    if (this.prefixDone) super.handleDataRow(message);
  }

  override handleCommandComplete(message: unknown, connection: unknown): void {
    if (this.prefixDone) super.handleCommandComplete(message, connection);
    else this.prefixDone = true;
  }
}

/** A connection goes back to the pool with no read-only binding left on it, whatever happened. */
export function clearBinding(client: pg.PoolClient): void {
  (client as unknown as BindingClient).statementwise = null;
}

/**
 * How the pg pool's client opens a transaction the binding starts (BindingClient above), so that
 * the binding costs no round trip of its own:
 *
 * - `merge`: send `sql` instead of BEGIN: `BEGIN; SELECT set_config(…)` in one simple-protocol
 *   message. Simple-protocol messages cannot carry parameters, so the organization id is inlined,
 *   and only when it is a well-formed UUID (it always is: it comes from a branded OrganizationId).
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
  | Readonly<{ kind: 'merge'; sql: string }>
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
    kind: 'merge',
    sql: `BEGIN; SELECT /* scopegraph:bind */ set_config('role', '${APP_ROLE}', true), set_config('app.organization_id', '${open.organizationId}', true)`,
  };
}
