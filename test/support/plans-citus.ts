// The query-plan guard on Citus (test/support/plans.ts): what is allowed to go to every shard,
// and how a shard's names map back to the tables and indexes of the catalog.
import type { Catalog } from './plans.ts';

/**
 * On Citus: statements that read across organizations by design, so every shard answers them,
 * and why. Matched on the statement's opening (Prisma writes the rest: page, cursor).
 */
export const ACROSS_ORGANIZATIONS_ON_CITUS: readonly Readonly<{ opening: RegExp; why: string }>[] =
  [
    {
      opening:
        /^SELECT "public"\."organizations"\."id", .* FROM "public"\."organizations" LEFT JOIN \(SELECT "public"\."users"\."organization_id", COUNT\(\*\)/s,
      why:
        "the platform admin's list of every organization with its member and post counts " +
        '(src/admin/schema): on PostgreSQL a count per organization (a lateral join), on Citus, ' +
        'where relations are not joined, one aggregate per table',
    },
  ];

/**
 * The table (or index) a Citus shard belongs to: `posts_102008` is a shard of `posts`. As it
 * is everywhere else. A long index name Citus shortens to its first characters and a hash of
 * the whole (`notifications_organization_id_recipient_id_crea_beaa71c1_102134`): the one index
 * of the catalog that begins so.
 */
export function unsharded(
  name: string | undefined,
  catalog: Catalog,
  index = false,
): string | undefined {
  if (!catalog.citus || name === undefined) return name;
  const base = name.replace(/_\d+$/, '');
  if (!index) return catalog.tenantTables.has(base) ? base : name;
  if (catalog.leadingColumn.has(base)) return base;
  const prefix = /^(.+)_[0-9a-f]{8}$/.exec(base)?.[1];
  const matches = prefix
    ? [...catalog.leadingColumn.keys()].filter((k) => k.startsWith(prefix))
    : [];
  return matches.length === 1 ? matches[0] : name;
}
