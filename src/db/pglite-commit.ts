import type {
  SqlDriverAdapter,
  SqlMigrationAwareDriverAdapterFactory,
  Transaction,
} from '@prisma/driver-adapter-utils';

/**
 * Workaround for pglite-prisma-adapter 0.7.2: a COMMIT that PGlite refuses passes for committed.
 * Its transaction ends inside PGlite's own `transaction()`, whose failure the adapter catches and
 * drops, so `commit()` resolves even when COMMIT failed (a deferred constraint or trigger, the
 * one way a COMMIT fails on a single embedded connection): Prisma, and the API, would answer
 * with rows that are not there. Checking the deferred constraints first, as a statement of the
 * transaction (`SET CONSTRAINTS ALL IMMEDIATE`), makes that refusal a statement error before
 * COMMIT; the transaction is then rolled back and the error is the commit's.
 * test/api/unit-of-work.test.ts ("a COMMIT that fails") fails without it. Drop it once the
 * adapter reports the failure itself.
 */
export function withCheckedCommit(
  factory: SqlMigrationAwareDriverAdapterFactory,
): SqlMigrationAwareDriverAdapterFactory {
  return Object.assign(Object.create(factory) as SqlMigrationAwareDriverAdapterFactory, {
    connect: async () => checkedAdapter(await factory.connect()),
  });
}

function checkedAdapter(adapter: SqlDriverAdapter): SqlDriverAdapter {
  return Object.assign(Object.create(adapter) as SqlDriverAdapter, {
    startTransaction: async (...args: Parameters<SqlDriverAdapter['startTransaction']>) =>
      checkedTransaction(await adapter.startTransaction(...args)),
  });
}

function checkedTransaction(tx: Transaction): Transaction {
  return Object.assign(Object.create(tx) as Transaction, {
    commit: async () => {
      try {
        await tx.executeRaw({ sql: 'SET CONSTRAINTS ALL IMMEDIATE', args: [], argTypes: [] });
      } catch (error) {
        // Already aborted by a failed statement: its COMMIT rolls back, as PostgreSQL's does.
        if (codeOf(error) === IN_FAILED_TRANSACTION) return tx.commit();
        await tx.rollback();
        throw error;
      }
      await tx.commit();
    },
  });
}

const IN_FAILED_TRANSACTION = '25P02';

/** The SQLSTATE of a driver adapter error (pglite-prisma-adapter: `cause.originalCode`). */
function codeOf(error: unknown): unknown {
  return (error as { cause?: { originalCode?: unknown } } | null)?.cause?.originalCode;
}
