import type { SqlDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import { relationLoading } from '../db/relation-loading.ts';
import { type Prisma, PrismaClient } from '../generated/prisma/client.ts';
import {
  BIND_SQL,
  BoundAdapterFactory,
  bindStatementArgs,
  type SavepointName,
  type Savepoints,
  withOrganization,
} from './binding.ts';
import { TenantViolation } from './errors.ts';
import type { OrganizationId } from './ids.ts';
import type { Scope } from './scope.ts';
import { scopeOperation } from './scope-args.ts';

export type ScopedDb = ReturnType<typeof scopeClient>;

/** A scoped client inside a transaction: the models, without `$transaction` and the like. */
export type ScopedTx = Parameters<Parameters<ScopedDb['$transaction']>[0]>[0];

/**
 * A unit of work: one interactive transaction, bound to one organization, for a whole GraphQL
 * operation; `end` finishes it. Until then it holds a connection, so `end` must always be called.
 *
 * - `read` (a query operation): nothing in it can write. On a server its statements carry the
 *   binding themselves, each in its own message, with no BEGIN or COMMIT.
 * - `write` (a mutation operation): BEGIN and the binding travel with its first statement
 *   (src/db/bound-pg-client.ts, planBegin). `atomic` runs a part of it (a root field) behind a
 *   savepoint, so that a part that fails leaves nothing behind and the others stand.
 *
 * What must only happen once the rows are there for everyone (an event, a job) is registered
 * with `afterCommit`: it runs after COMMIT, before `end` resolves, in order; never after a
 * rollback, nor when the atomic part that registered it failed.
 */
export type UnitOfWork = Readonly<{
  db: ScopedTx;
  atomic: <T>(work: () => Promise<T>) => Promise<T>;
  afterCommit: (task: () => unknown) => void;
  end: (outcome: 'commit' | 'rollback') => Promise<void>;
}>;

export type ScopedClients = Readonly<{
  /** A client that can only read and write `scope`'s organization. Cheap: one per request. */
  scopedDb: (scope: Scope) => ScopedDb;
  /** Opens a read-only unit of work bound to `scope`'s organization. */
  read: (scope: Scope) => Promise<UnitOfWork>;
  /** Opens a unit of work that writes, bound to `scope`'s organization. */
  write: (scope: Scope) => Promise<UnitOfWork>;
  disconnect: () => Promise<void>;
}>;

const TRANSACTION_OPTIONS = { maxWait: 10_000, timeout: 15_000 } as const;

/**
 * The tenant data layer over one database. All scoped clients share one Prisma client whose
 * driver adapter applies the row-level-security binding, so every statement runs as the
 * application role with the organization set transaction-locally (src/tenancy/binding.ts).
 */
export function createScopedClients(adapter: SqlDriverAdapterFactory): ScopedClients {
  const base = new PrismaClient({
    adapter: new BoundAdapterFactory(adapter),
    // Every scoped operation is a transaction, so Prisma's default 2 s wait for one is also how
    // long a request may queue for a pooled connection. Under a burst that is too short: wait
    // longer, and past it answer SERVICE_UNAVAILABLE (P2028, src/db/availability.ts).
    transactionOptions: TRANSACTION_OPTIONS,
  });
  const loading = relationLoading<unknown>(adapter) ?? ((_operation, args) => args);
  return Object.freeze({
    scopedDb: (scope: Scope) => scopeClient(base, scope, loading),
    // No savepoints: a read-only unit of work writes nothing to undo.
    read: (scope: Scope) => begin(() => scopeClient(base, scope, loading, { readOnly: true })),
    write: (scope: Scope) => begin((mode) => scopeClient(base, scope, loading, mode)),
    disconnect: () => base.$disconnect(),
  });
}

/** Thrown inside the interactive transaction to roll it back; never seen outside. */
const ROLLBACK = Symbol('scopegraph:rollback');

/**
 * An interactive transaction held open until `end`: Prisma runs its callback, which hands out
 * the transaction's client and waits. If the transaction cannot start, `begin` rejects.
 */
function begin(
  client: (mode: { onTransaction: (savepoints: Savepoints) => void }) => ScopedDb,
): Promise<UnitOfWork> {
  let savepoints: Savepoints | null = null;
  const db = client({ onTransaction: (opened) => (savepoints = opened) });
  const tasks: (() => unknown)[] = [];
  let parts = 0;
  const atomic = async <T>(work: () => Promise<T>): Promise<T> => {
    if (!savepoints) return work(); // a read-only unit of work writes nothing to undo
    const name: SavepointName = `scopegraph_sp_${parts++}`;
    const registered = tasks.length;
    await savepoints.create(name);
    try {
      return await work();
    } catch (error) {
      tasks.length = registered;
      await savepoints.rollbackTo(name);
      throw error;
    }
  };
  const afterCommit = (task: () => unknown) => {
    tasks.push(task);
  };
  return new Promise((resolve, reject) => {
    let finish: (outcome: 'commit' | 'rollback') => void = () => {};
    const outcome = new Promise<'commit' | 'rollback'>((settle) => {
      finish = settle;
    });
    let ended: Promise<void> | null = null;
    const end = (result: 'commit' | 'rollback') => {
      finish(result);
      ended ??= done.then(async (committed) => {
        if (!committed) return;
        // Each task handles its own failure; one that throws anyway does not stop the rest.
        for (const task of tasks.splice(0))
          await Promise.resolve()
            .then(task)
            .catch(() => {});
      });
      return ended;
    };
    let started = false;
    const done = db
      .$transaction(async (tx) => {
        started = true;
        resolve(Object.freeze({ db: tx, atomic, afterCommit, end }));
        if ((await outcome) === 'rollback') throw ROLLBACK;
      }, TRANSACTION_OPTIONS)
      .then(
        () => true,
        (error: unknown) => {
          if (error === ROLLBACK) return false;
          if (!started) reject(error);
          throw error;
        },
      );
    // A failure to start is reported by `begin`; one at the end by `end`.
    done.catch(() => {});
  });
}

function refuseRawSql(): never {
  throw new TenantViolation(
    'Raw SQL cannot run through a tenant scope: use the model API, or the system client (src/db/system.ts) where crossing tenants is intended',
  );
}

function bind(base: PrismaClient, organizationId: OrganizationId) {
  return base.$executeRawUnsafe(BIND_SQL, ...bindStatementArgs(organizationId));
}

type InternalParams = { __internalParams?: { transaction?: unknown } };

type ClientMode = Readonly<{
  readOnly?: boolean;
  /** For a unit of work: told of its transaction's savepoints once it has started. */
  onTransaction?: (savepoints: Savepoints) => void;
}>;

type Loading = NonNullable<ReturnType<typeof relationLoading<unknown>>>;

/** What Prisma hands a query extension's `$allOperations`. */
type OperationParams = Readonly<{ query: (args: unknown) => Prisma.PrismaPromise<unknown> }>;

function scopeClient(base: PrismaClient, scope: Scope, loading: Loading, mode: ClientMode = {}) {
  const { organizationId } = scope;
  const readOnly = mode.readOnly ?? false;
  const run = (params: OperationParams, scopedArgs: unknown): Promise<unknown> => {
    const { query } = params;
    // Inside $transaction the binding already ran when the transaction began.
    if ((params as InternalParams).__internalParams?.transaction) return query(scopedArgs);
    // Otherwise one transaction per operation, opened by the explicit bind statement:
    // every statement of the operation (nested loads included) runs bound and sees one
    // snapshot, and Prisma never merges it with another scope's operation.
    // BEGIN carries the binding when the connection can (src/tenancy/binding.ts).
    return withOrganization(organizationId, () =>
      base.$transaction([bind(base, organizationId), query(scopedArgs)]),
    ).then(([, result]) => result);
  };
  const scoped = base.$extends({
    name: 'scopegraph:tenant-scope',
    query: {
      $allModels: {
        $allOperations(params) {
          const { operation } = params;
          const scopedArgs = loading(
            operation,
            scopeOperation(params.model, operation, params.args, organizationId),
          );
          if (scopedArgs instanceof Promise) {
            return scopedArgs.then((args) => run(params, args));
          }
          return run(params, scopedArgs);
        },
      },
      $queryRaw: refuseRawSql,
      $executeRaw: refuseRawSql,
      $queryRawUnsafe: refuseRawSql,
      $executeRawUnsafe: refuseRawSql,
    },
  });
  const interactive = scoped.$transaction.bind(scoped) as (
    fn: unknown,
    options?: unknown,
  ) => Promise<unknown>;
  const batch = base.$transaction.bind(base) as (
    queries: unknown[],
    options?: unknown,
  ) => Promise<unknown[]>;
  return scoped.$extends({
    name: 'scopegraph:tenant-transactions',
    client: {
      /** Interactive and batch transactions, atomic and bound to the scope's organization. */
      $transaction: ((work: unknown, options?: unknown) =>
        Array.isArray(work)
          ? withOrganization(organizationId, () =>
              batch([bind(base, organizationId), ...work], options),
            ).then(([, ...results]) => results)
          : withOrganization(organizationId, () => interactive(work, options), {
              readOnly,
              ...(mode.onTransaction ? { onTransaction: mode.onTransaction } : {}),
            })) as typeof scoped.$transaction,
      $queryRaw: refuseRawSql,
      $executeRaw: refuseRawSql,
      $queryRawUnsafe: refuseRawSql,
      $executeRawUnsafe: refuseRawSql,
    },
  });
}
