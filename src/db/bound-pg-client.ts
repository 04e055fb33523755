// The binding's wire protocol on a PostgreSQL server: how the pg pool's client sends the tenant
// binding (src/tenancy/binding.ts) in the same message as the transaction it binds, so that it
// costs no round trip of its own, on plain PostgreSQL and on Citus. The message itself is
// src/db/prefixed-query.ts.
import pg from 'pg';
import {
  APP_ROLE,
  BIND_SQL,
  citusBindStatements,
  READ_ONLY_BIND_SQL,
  transactionBeingOpened,
} from '../tenancy/binding.ts';
import { isUuid } from '../tenancy/ids.ts';
import { type Prefix, PrefixedQuery } from './prefixed-query.ts';

/** What a read-only transaction of the binding sends around each of its statements. */
type Statementwise = Readonly<{ prefixes: readonly Prefix[]; suffixes: readonly Prefix[] }>;

export type BindingClientConfig = pg.ClientConfig & {
  /** The server is a Citus coordinator (true) or plain PostgreSQL (false); asked when unset. */
  citus?: boolean | undefined;
};

/**
 * pg's client, except for the transactions the tenant binding opens (planBegin below): their
 * BEGIN and binding travel in the message of the transaction's first statement, or, for a
 * read-only one, no BEGIN is sent and every statement carries the binding in its own message.
 * Every other statement, and every transaction of the system client, goes out unchanged.
 *
 * On a Citus coordinator (asked once per connection, when it opens, unless configured) the
 * binding is literal `SET LOCAL`s inside a transaction block instead, the only form Citus
 * forwards to its workers: a read-only statement goes out as BEGIN READ ONLY, the binding, the
 * statement and COMMIT in one message, and the explicit bind statement of a transaction
 * (`BIND_SQL`) is preceded by its `SET LOCAL`s.
 */
export class BindingClient extends pg.Client {
  citus: boolean;
  private readonly citusConfigured: boolean | undefined;
  /** Set while a read-only transaction of the binding holds this connection. */
  statementwise: Statementwise | null = null;
  /** BEGIN and the binding, held until the transaction's first statement carries them. */
  opening: readonly Prefix[] | null = null;

  constructor(config?: string | BindingClientConfig) {
    super(config);
    this.citusConfigured = typeof config === 'object' ? config.citus : undefined;
    this.citus = this.citusConfigured ?? false;
  }

  /** Whether the server this connection reached runs Citus: asked here, once. */
  async askCitus(): Promise<void> {
    if (this.citusConfigured !== undefined) return;
    const result = await (
      pg.Client.prototype.query as (text: string) => Promise<pg.QueryResult>
    ).call(this, "SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus') AS citus");
    this.citus = result.rows[0]?.citus === true;
  }
}

type ConnectCallback = (error: Error | null, client?: pg.Client) => void;

BindingClient.prototype.connect = function connect(
  this: BindingClient,
  callback?: ConnectCallback,
) {
  const connected = (pg.Client.prototype.connect as () => Promise<pg.Client>)
    .call(this)
    .then(async () => {
      await this.askCitus();
      return this;
    });
  if (!callback) return connected;
  connected.then(
    () => callback(null, this),
    (error: Error) => callback(error),
  );
  return undefined;
} as pg.Client['connect'];

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
  // On Citus, an explicit bind statement is preceded by its SET LOCALs (the form that reaches
  // the workers); what it binds is checked first, so nothing else is ever printed into SQL.
  const citusBind = this.citus && (text === BIND_SQL || text === READ_ONLY_BIND_SQL);
  if (citusBind) {
    const values = isConfig(config) && Array.isArray(config.values) ? config.values : [];
    const organization = values[1];
    if (
      args.length > 1 ||
      values[0] !== APP_ROLE ||
      (organization !== '' && !isUuid(organization))
    ) {
      return Promise.reject(new Error('Unexpected arguments of the tenant bind statement'));
    }
  }
  const bindFirst = (): Prefix[] =>
    citusBind
      ? statementsOf(citusBindStatements((config as { values: string[] }).values[1] ?? ''))
      : [];
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
    const { prefixes, suffixes } = this.statementwise;
    const sent = sendBehind(send, config, [...prefixes, ...bindFirst()], suffixes);
    if (suffixes.length === 0) return sent;
    // The message opened a transaction block (Citus): after a failure it is still open.
    return sent.catch(async (error: unknown) => {
      await Promise.resolve(send({ text: 'ROLLBACK' })).catch(() => {});
      throw error;
    });
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
    return sendBehind(send, config, [...prefixes, ...bindFirst()]);
  }
  if (citusBind && isConfig(config)) return sendBehind(send, config, bindFirst());
  const plan = text === null ? null : planBegin(text, this.citus);
  if (plan?.kind === 'statementwise') {
    this.statementwise = { prefixes: plan.prefixes, suffixes: plan.suffixes };
    return Promise.resolve(EMPTY_RESULT);
  }
  if (plan?.kind === 'deferred') {
    this.opening = plan.prefixes;
    return Promise.resolve(EMPTY_RESULT);
  }
  return send(...args);
} as pg.Client['query'];

const EMPTY_RESULT = { command: '', rowCount: 0, oid: 0, rows: [], fields: [] };

/**
 * Sends the statement `config` behind `prefixes` and before `suffixes`, in one message
 * (src/db/prefixed-query.ts).
 */
function sendBehind(
  send: (...a: QueryArgs) => unknown,
  config: QueryConfigLike,
  prefixes: readonly Prefix[],
  suffixes: readonly Prefix[] = [],
): Promise<pg.QueryResult> {
  return new Promise((resolve, reject) => {
    const callback: QueryCallback = (error, result) =>
      error ? reject(error) : resolve(result as pg.QueryResult);
    send(new PrefixedQuery({ ...config, callback }, prefixes, suffixes));
  });
}

function statementsOf(sql: readonly string[]): Prefix[] {
  return sql.map((text) => ({ sql: text, args: [] }));
}

function isConfig(value: unknown): value is QueryConfigLike {
  return typeof value === 'object' && value !== null && !('submit' in value);
}

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
 * On Citus (`citus`), which forwards only literal SET LOCALs and only inside a transaction block:
 * `deferred` carries BEGIN and citusBindStatements; `statementwise` wraps every statement in
 * BEGIN READ ONLY, the same SET LOCALs, and COMMIT, still one message per statement.
 *
 * null: send BEGIN as it is. Then, or where this is never asked (PGlite, an adapter that opens
 * transactions differently), the transaction binds itself before its first statement: a saved
 * round trip, never a missing binding.
 */
export type BeginPlan =
  | Readonly<{ kind: 'deferred'; prefixes: readonly Prefix[] }>
  | Readonly<{ kind: 'statementwise'; prefixes: readonly Prefix[]; suffixes: readonly Prefix[] }>;

export function planBegin(sql: string, citus = false): BeginPlan | null {
  if (sql !== 'BEGIN') return null;
  const open = transactionBeingOpened();
  if (!open || !isUuid(open.organizationId)) return null;
  open.carriedAtBegin();
  if (citus) {
    const binding = statementsOf(citusBindStatements(open.organizationId));
    return open.readOnly
      ? {
          kind: 'statementwise',
          prefixes: [{ sql: 'BEGIN READ ONLY', args: [] }, ...binding],
          suffixes: [{ sql: 'COMMIT', args: [] }],
        }
      : { kind: 'deferred', prefixes: [{ sql: 'BEGIN', args: [] }, ...binding] };
  }
  if (open.readOnly) {
    return {
      kind: 'statementwise',
      prefixes: [{ sql: READ_ONLY_BIND_SQL, args: [APP_ROLE, open.organizationId] }],
      suffixes: [],
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
