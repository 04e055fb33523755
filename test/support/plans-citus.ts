// The query-plan guard on Citus (test/support/plans.ts): what is allowed to go to every shard,
// and how a shard's names map back to the tables and indexes of the catalog.
import { parseSync } from 'libpg-query';
import type { Catalog } from './plans.ts';

type Node = Readonly<Record<string, unknown>>;

const child = (node: unknown, key: string): Node | undefined =>
  node && typeof node === 'object' ? ((node as Node)[key] as Node | undefined) : undefined;

/** The last name of a column reference (`"public"."users"."organization_id"` → organization_id). */
const columnName = (node: unknown): string | undefined => {
  const fields = child(child(node, 'ColumnRef'), 'fields') as unknown as unknown[] | undefined;
  return (child(fields?.at(-1), 'String')?.sval as string | undefined) ?? undefined;
};

/**
 * The organizations list with per-organization aggregates: FROM organizations, LEFT JOINed only
 * to subqueries that GROUP BY organization_id (how Prisma counts relations without joins).
 */
function listsOrganizationsWithCounts(select: Node): boolean {
  const from = select.fromClause as unknown[] | undefined;
  if (from?.length !== 1) return false;
  const subqueries: Node[] = [];
  let left: unknown = from[0];
  for (let join = child(left, 'JoinExpr'); join; join = child(left, 'JoinExpr')) {
    const sub = child(child(child(join.rarg, 'RangeSubselect'), 'subquery'), 'SelectStmt');
    if (!sub) return false;
    subqueries.push(sub);
    left = join.larg;
  }
  const groups = (sub: Node) => (sub.groupClause as unknown[] | undefined) ?? [];
  return (
    child(left, 'RangeVar')?.relname === 'organizations' &&
    subqueries.length > 0 &&
    subqueries.every(
      (sub) => groups(sub).length === 1 && columnName(groups(sub)[0]) === 'organization_id',
    )
  );
}

/**
 * On Citus: statements that read across organizations by design, so every shard answers them,
 * and why; recognised in what PostgreSQL's parser makes of them (Prisma writes the page and
 * cursor around them).
 */
export const ACROSS_ORGANIZATIONS_ON_CITUS: readonly Readonly<{
  matches: (select: Node) => boolean;
  why: string;
}>[] = [
  {
    matches: listsOrganizationsWithCounts,
    why:
      "the platform admin's list of every organization with its member and post counts " +
      '(src/admin/schema): on PostgreSQL a count per organization (a lateral join), on Citus, ' +
      'where relations are not joined, one aggregate per table',
  },
];

/** Why `sql` may go to every shard on Citus, or null. The parser must be loaded. */
export function acrossOrganizations(sql: string): string | null {
  const { stmts = [] } = parseSync(sql) as { stmts?: { stmt: Node }[] };
  const select = stmts.length === 1 ? child(stmts[0]?.stmt, 'SelectStmt') : undefined;
  if (!select) return null;
  return ACROSS_ORGANIZATIONS_ON_CITUS.find((allowed) => allowed.matches(select))?.why ?? null;
}

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
