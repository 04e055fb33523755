import { PrismaClient } from '../generated/prisma/client.ts';
import type { Database } from './database.ts';

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
  return new PrismaClient({ adapter: database.adapter });
}
