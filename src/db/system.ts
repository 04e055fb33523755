import { PrismaClient } from '../generated/prisma/client.ts';
import type { Database } from './database.ts';
import { relationLoading } from './relation-loading.ts';

/**
 * THE UNSCOPED CLIENT. It connects as the database owner and crosses tenants: every row of
 * every organization is reachable through it. It exists for the few jobs that must cross
 * tenants or act before a tenant exists: migrations, seeding, sign-up, platform
 * administration, and jobs that load their organization before building a Scope.
 *
 * Everything else uses a scoped client (src/tenancy/scoped-client.ts). The files allowed to
 * import this module are listed in test/tenancy/imports.test.ts; a code review that sees a
 * function here without a Scope parameter is looking at the intended exception.
 *
 * In production the role it connects as must own the tables or have BYPASSRLS, since row
 * level security is forced on every tenant table.
 */
export type SystemClient = PrismaClient;

export function createSystemClient(database: Database): SystemClient {
  const client = new PrismaClient({ adapter: database.adapter });
  const loading = relationLoading<unknown>(database.adapter);
  if (!loading) return client;
  // A query extension changes no method's type: the client is still a PrismaClient to its users.
  return client.$extends({
    name: 'scopegraph:relation-loading',
    query: {
      $allModels: {
        $allOperations({ operation, args, query }) {
          const sent = loading(operation, args);
          return sent instanceof Promise
            ? sent.then((a) => query(a as typeof args))
            : query(sent as typeof args);
        },
      },
    },
  }) as unknown as SystemClient;
}
