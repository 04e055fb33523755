import type { SqlDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import { PrismaClient } from '../generated/prisma/client.ts';
import { BIND_SQL, BoundAdapterFactory, bindStatementArgs, withOrganization } from './binding.ts';
import { TenantViolation } from './errors.ts';
import type { OrganizationId } from './ids.ts';
import type { Scope } from './scope.ts';
import { scopeOperation } from './scope-args.ts';

export type ScopedDb = ReturnType<typeof scopeClient>;

export type ScopedClients = Readonly<{
  /** A client that can only read and write `scope`'s organization. Cheap: one per request. */
  scopedDb: (scope: Scope) => ScopedDb;
  disconnect: () => Promise<void>;
}>;

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
    transactionOptions: { maxWait: 10_000, timeout: 15_000 },
  });
  return Object.freeze({
    scopedDb: (scope: Scope) => scopeClient(base, scope),
    disconnect: () => base.$disconnect(),
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

function scopeClient(base: PrismaClient, scope: Scope) {
  const { organizationId } = scope;
  const scoped = base.$extends({
    name: 'scopegraph:tenant-scope',
    query: {
      $allModels: {
        $allOperations(params) {
          const { model, operation, args, query } = params;
          const scopedArgs = scopeOperation(model, operation, args, organizationId);
          // Inside $transaction the binding already ran when the transaction began.
          if ((params as InternalParams).__internalParams?.transaction) return query(scopedArgs);
          // Otherwise one transaction per operation, opened by the explicit bind statement:
          // every statement of the operation (nested loads included) runs bound and sees one
          // snapshot, and Prisma never merges it with another scope's operation.
          return base
            .$transaction([bind(base, organizationId), query(scopedArgs)])
            .then(([, result]) => result);
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
          ? batch([bind(base, organizationId), ...work], options).then(([, ...results]) => results)
          : withOrganization(organizationId, () =>
              interactive(work, options),
            )) as typeof scoped.$transaction,
      $queryRaw: refuseRawSql,
      $executeRaw: refuseRawSql,
      $queryRawUnsafe: refuseRawSql,
      $executeRawUnsafe: refuseRawSql,
    },
  });
}
