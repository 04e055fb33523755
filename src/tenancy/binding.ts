// One file on purpose: its AsyncLocalStorage stores stay module-private, so only it can bind.
import { AsyncLocalStorage } from 'node:async_hooks';
import type {
  IsolationLevel,
  SqlDriverAdapter,
  SqlDriverAdapterFactory,
  SqlQuery,
  SqlResultSet,
  Transaction,
} from '@prisma/driver-adapter-utils';
import { isUuid, type OrganizationId } from './ids.ts';

/**
 * The row-level-security binding. Every statement sent through a bound adapter runs inside a
 * transaction that first switches to the application role (no table ownership, no
 * BYPASSRLS) and sets `app.organization_id` transaction-locally to the organization bound
 * for the current unit of work. Nothing is ever set at session level, so a pooled
 * connection carries nothing to its next user.
 *
 * Outside `withOrganization`, the setting is empty and the policies match no row: anything
 * that slips past the scoped client (the fluent API, a forgotten code path) fails closed.
 *
 * Import rule: only the scoped client, the pg pool's client that carries the binding with BEGIN
 * (src/db/bound-pg-client.ts) and their tests may import this module; a test lists the importers.
 */
export const APP_ROLE = 'scopegraph_app';

/**
 * Savepoints of one bound transaction, for the unit of work that opened it
 * (src/tenancy/scoped-client.ts): names it chooses itself, never a caller's text.
 */
export type Savepoints = Readonly<{
  create: (name: SavepointName) => Promise<void>;
  rollbackTo: (name: SavepointName) => Promise<void>;
}>;

/** `scopegraph_sp_<n>`: the only savepoint names there are. */
export type SavepointName = `scopegraph_sp_${number}`;

type Binding = Readonly<{
  organizationId: OrganizationId;
  readOnly: boolean;
  /** Told of the transaction an interactive transaction opened in this context started. */
  onTransaction?: ((savepoints: Savepoints) => void) | undefined;
}>;

const bound = new AsyncLocalStorage<Binding>();

/** A transaction being started, and whether the connection bound it together with BEGIN. */
type Opening = { organizationId: string; readOnly: boolean; boundAtBegin: boolean };
const opening = new AsyncLocalStorage<Opening>();

/**
 * Runs `work` with `organizationId` bound for the interactive transactions it starts (and for
 * statements sent outside any transaction). Prisma starts those in the caller's async
 * context. Its batch transactions are dispatched from a tick scheduled by whichever request
 * came first, so they must not rely on this: they begin with `bindStatement` instead.
 */
export function withOrganization<T>(
  organizationId: OrganizationId,
  work: () => Promise<T>,
  options: Readonly<{
    readOnly?: boolean;
    onTransaction?: (savepoints: Savepoints) => void;
  }> = {},
): Promise<T> {
  // Prisma's promises are lazy: awaiting inside the context makes them start inside it.
  const binding = {
    organizationId,
    readOnly: options.readOnly ?? false,
    onTransaction: options.onTransaction,
  };
  return bound.run(binding, async () => await work());
}

/** The binding as an explicit statement: sent first in a transaction, it replaces the default. */
export const BIND_SQL =
  "SELECT /* scopegraph:bind */ set_config('role', $1, true), set_config('app.organization_id', $2, true)";

export function bindStatementArgs(organizationId: OrganizationId): [string, string] {
  return [APP_ROLE, organizationId];
}

/** The binding of a read-only transaction: the same, and nothing it runs may write. */
export const READ_ONLY_BIND_SQL =
  "SELECT /* scopegraph:bind */ set_config('role', $1, true), set_config('app.organization_id', $2, true), set_config('transaction_read_only', 'on', true)";

/**
 * The binding on Citus, which forwards to its workers neither `set_config()` nor anything outside
 * a transaction block: literal `SET LOCAL`s, sent after BEGIN (src/db/bound-pg-client.ts).
 * `citus.propagate_set_commands` first, so that the two after it reach every worker the
 * transaction touches. The organization id is the only value printed into SQL, and only as
 * what `isUuid` accepted (hex digits and dashes), quoted.
 */
export function citusBindStatements(organizationId: string): readonly string[] {
  // '' binds no organization (outside withOrganization): every policy then matches no row.
  if (organizationId !== '' && !isUuid(organizationId)) {
    throw new Error('The binding takes an organization id (a UUID)');
  }
  return [
    "SET LOCAL citus.propagate_set_commands = 'local'",
    `SET LOCAL app.organization_id = '${organizationId}'`,
    `SET LOCAL ROLE ${APP_ROLE}`,
  ];
}

function bindQuery(organizationId: string, readOnly: boolean): SqlQuery {
  return {
    sql: readOnly ? READ_ONLY_BIND_SQL : BIND_SQL,
    args: [APP_ROLE, organizationId],
    argTypes: [
      { scalarType: 'string', arity: 'scalar' },
      { scalarType: 'string', arity: 'scalar' },
    ],
  };
}

export class BoundAdapterFactory implements SqlDriverAdapterFactory {
  readonly provider: SqlDriverAdapterFactory['provider'];
  readonly adapterName: string;

  constructor(private readonly inner: SqlDriverAdapterFactory) {
    this.provider = inner.provider;
    this.adapterName = `${inner.adapterName}+tenant-binding`;
  }

  async connect(): Promise<SqlDriverAdapter> {
    return new BoundAdapter(await this.inner.connect());
  }
}

class BoundAdapter implements SqlDriverAdapter {
  readonly provider: SqlDriverAdapter['provider'];
  readonly adapterName: string;

  constructor(private readonly inner: SqlDriverAdapter) {
    this.provider = inner.provider;
    this.adapterName = inner.adapterName;
  }

  async startTransaction(isolationLevel?: IsolationLevel): Promise<Transaction> {
    const organizationId = bound.getStore()?.organizationId ?? '';
    const readOnly = bound.getStore()?.readOnly ?? false;
    const open: Opening = { organizationId, readOnly, boundAtBegin: false };
    const tx = await opening.run(open, () => this.inner.startTransaction(isolationLevel));
    const transaction = new BoundTransaction(tx, organizationId, readOnly, open.boundAtBegin);
    bound.getStore()?.onTransaction?.(transaction.savepoints);
    return transaction;
  }

  /** A statement outside any transaction still gets one, with the binding. */
  queryRaw(query: SqlQuery): Promise<SqlResultSet> {
    return this.inTransaction((tx) => tx.queryRaw(query));
  }

  executeRaw(query: SqlQuery): Promise<number> {
    return this.inTransaction((tx) => tx.executeRaw(query));
  }

  executeScript(): Promise<void> {
    return Promise.reject(new Error('Scripts cannot run through a tenant-bound connection'));
  }

  getConnectionInfo() {
    return this.inner.getConnectionInfo?.() ?? { supportsRelationJoins: true };
  }

  dispose(): Promise<void> {
    return this.inner.dispose();
  }

  private async inTransaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
    const tx = await this.startTransaction();
    let result: T;
    try {
      result = await work(tx);
    } catch (error) {
      await finish(tx, 'ROLLBACK');
      throw error;
    }
    await finish(tx, 'COMMIT');
    return result;
  }
}

/**
 * A transaction that binds itself before its first statement: with the organization captured
 * when it started, unless that first statement is the explicit bind statement.
 */
class BoundTransaction implements Transaction {
  readonly provider: Transaction['provider'];
  readonly adapterName: string;
  readonly options: Transaction['options'];
  private binding: Promise<unknown> | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly inner: Transaction,
    private readonly organizationId: string,
    private readonly readOnly: boolean,
    boundAtBegin: boolean,
  ) {
    this.provider = inner.provider;
    this.adapterName = inner.adapterName;
    this.options = inner.options;
    if (boundAtBegin) this.binding = Promise.resolve();
  }

  queryRaw(query: SqlQuery): Promise<SqlResultSet> {
    return this.inOrder(async () => {
      await this.bindFor(query);
      return this.inner.queryRaw(query);
    });
  }

  executeRaw(query: SqlQuery): Promise<number> {
    return this.inOrder(async () =>
      (await this.bindFor(query)) === 'skip' ? 1 : this.inner.executeRaw(query),
    );
  }

  /**
   * One statement at a time on the transaction's connection. Prisma loads relations in parallel;
   * pg 8 queues concurrent queries on one client itself (deprecated, removed in pg 9), so the
   * order is kept here instead.
   */
  private inOrder<T>(work: () => Promise<T>): Promise<T> {
    const result = this.queue.then(work);
    this.queue = result.catch(() => undefined);
    return result;
  }

  commit(): Promise<void> {
    return this.inner.commit();
  }

  rollback(): Promise<void> {
    return this.inner.rollback();
  }

  /**
   * Sent as statements of their own, in order with the others, on every adapter (PGlite's has no
   * savepoint methods). Names are the unit of work's (SavepointName), or Prisma's own.
   */
  createSavepoint(name: string): Promise<void> {
    return this.inOrder(async () => {
      this.statements++;
      await this.bound();
      await this.inner.executeRaw(statement(`SAVEPOINT ${savepointName(name)}`));
    });
  }

  rollbackToSavepoint(name: string): Promise<void> {
    return this.inOrder(async () => {
      await this.inner.executeRaw(statement(`ROLLBACK TO SAVEPOINT ${savepointName(name)}`));
    });
  }

  releaseSavepoint(name: string): Promise<void> {
    return this.inOrder(async () => {
      await this.inner.executeRaw(statement(`RELEASE SAVEPOINT ${savepointName(name)}`));
    });
  }

  readonly savepoints: Savepoints = Object.freeze({
    create: (name: SavepointName) => this.createSavepoint(name),
    rollbackTo: (name: SavepointName) => this.rollbackToSavepoint(name),
  });

  private statements = 0;

  /**
   * Binds the transaction before `query`, unless `query` is its first statement and the explicit
   * bind of a batch transaction: then that is the binding (it wins over one BEGIN carried), or,
   * when BEGIN already carried the very same binding, it need not be sent at all ('skip').
   */
  private async bindFor(query: SqlQuery): Promise<'send' | 'skip'> {
    if (this.statements++ === 0 && query.sql === BIND_SQL) {
      const same =
        this.organizationId !== '' &&
        query.args[0] === APP_ROLE &&
        query.args[1] === this.organizationId;
      if (this.binding && same) return 'skip';
      this.binding = Promise.resolve();
      return 'send';
    }
    await this.bound();
    return 'send';
  }

  private bound(): Promise<unknown> {
    this.binding ??= this.inner.queryRaw(bindQuery(this.organizationId, this.readOnly));
    return this.binding;
  }
}

function statement(sql: string): SqlQuery {
  return { sql, args: [], argTypes: [] };
}

/** An identifier as PostgreSQL reads it unquoted: ours (`scopegraph_sp_<n>`) or Prisma's. */
function savepointName(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`Not a savepoint name: ${name}`);
  return name;
}

/**
 * The binding of the transaction being opened in this async context, for a connection that can
 * send it together with BEGIN (src/db/bound-pg-client.ts, planBegin); null when no transaction of
 * the binding is being opened, or its binding was already carried. It can only carry the binding
 * this context already holds, never choose another. `carriedAtBegin()` tells the transaction that
 * its connection sent the binding, so it need not bind itself.
 */
export function transactionBeingOpened(): Readonly<{
  organizationId: string;
  readOnly: boolean;
  carriedAtBegin: () => void;
}> | null {
  const open = opening.getStore();
  if (!open || open.boundAtBegin) return null;
  return {
    organizationId: open.organizationId,
    readOnly: open.readOnly,
    carriedAtBegin: () => {
      open.boundAtBegin = true;
    },
  };
}

/**
 * Ends a transaction we started ourselves. Adapters differ: with `usePhantomQuery` the adapter
 * issues COMMIT/ROLLBACK itself (PGlite); otherwise the caller sends the statement and
 * commit()/rollback() only releases the connection (pg).
 */
async function finish(tx: Transaction, statement: 'COMMIT' | 'ROLLBACK'): Promise<void> {
  if (statement === 'COMMIT') {
    try {
      if (!tx.options.usePhantomQuery)
        await tx.executeRaw({ sql: 'COMMIT', args: [], argTypes: [] });
    } catch (error) {
      await tx.rollback();
      throw error;
    }
    await tx.commit();
    return;
  }
  try {
    if (!tx.options.usePhantomQuery)
      await tx.executeRaw({ sql: 'ROLLBACK', args: [], argTypes: [] });
  } finally {
    await tx.rollback();
  }
}
