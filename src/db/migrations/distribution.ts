// Sharding by tenant on Citus, written into the migrations that create tenant tables (by
// `db:migration`, like the isolation block): `SELECT distribute_tenant_tables(...)`, defined in
// prisma/migrations/20261206213708_distributable_foreign_keys, a no-op without Citus. Read and
// placed with PostgreSQL's own parser.
import { readFile } from 'node:fs/promises';
import type { SqlDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import { models } from '../../tenancy/models.ts';
import { callsOf, createdTables, type Located, parseMigration, tableNames } from './isolation.ts';

/** Tables passed to `distribute_tenant_tables(ARRAY[...]::regclass[])` in `sql`. */
export async function distributedTables(sql: string): Promise<Set<string>> {
  const tables = new Set<string>();
  for (const args of await callsOf(sql, 'distribute_tenant_tables')) {
    for (const element of args[0]?.TypeCast?.arg?.A_ArrayExpr?.elements ?? []) {
      const table = element.A_Const?.sval?.sval;
      if (table) tables.add(table.replace(/^"(.*)"$/, '$1'));
    }
  }
  return tables;
}

const isForeignKey = (stmt: Located['stmt']) =>
  (stmt.AlterTableStmt?.cmds ?? []).some(
    (cmd) => cmd.AlterTableCmd?.def?.Constraint?.contype === 'CONSTR_FOREIGN',
  );

/**
 * `sql` (a migration Prisma wrote) with `extra` (the isolation block) and the distribution of
 * the tenant tables it creates inserted before its first foreign key: Citus accepts a foreign
 * key between distributed tables, not from a plain table to a distributed one. A migration that
 * creates an enum calls it too (with no table), for the enum's cast (see the function). Nothing
 * is inserted when the migration creates neither.
 */
export async function withDistribution(sql: string, extra: string): Promise<string> {
  const parsed = await parseMigration(sql);
  const tenantTables = (await createdTables(sql)).filter((t) => t.tenantOwned).map((t) => t.table);
  const enums = parsed.some(({ stmt }) => stmt.CreateEnumStmt !== undefined);
  const call =
    tenantTables.length > 0 || enums
      ? '\n-- Sharding by organization on Citus, before the foreign keys (written by db:migration; ' +
        'nothing without Citus).\n' +
        `SELECT distribute_tenant_tables(ARRAY[${tenantTables.map((t) => `'"${t}"'`).join(', ')}]::regclass[]);\n`
      : '';
  const block = extra + call;
  const first = parsed.findIndex(({ stmt }) => isForeignKey(stmt));
  if (first <= 0 || block === '') return `${sql}${block}`;
  const previous = parsed[first - 1] as Located;
  // Right after the previous statement's semicolon.
  const at = (previous.stmt_location ?? 0) + (previous.stmt_len ?? 0) + 1;
  return `${sql.slice(0, at)}\n${block}${sql.slice(at)}`;
}

/** The table of every tenant model of the registry (src/tenancy/models.ts), @@map honoured. */
export async function tenantTables(schemaPath = 'prisma/schema.prisma'): Promise<string[]> {
  const names = tableNames(await readFile(schemaPath, 'utf8'));
  return [...models.values()]
    .filter((model) => model.global === null)
    .map((model) => names.get(model.name) ?? model.name);
}

/**
 * `npm run db:distribute`: a database that got Citus after its migrations ran (they distributed
 * nothing then) is sharded now, every tenant model of the registry (src/tenancy/models.ts) by
 * organization_id. Idempotent; `distributed` is false without Citus.
 */
export async function distributeTenantTables(
  factory: SqlDriverAdapterFactory,
  schemaPath = 'prisma/schema.prisma',
): Promise<{ distributed: boolean }> {
  const tables = await tenantTables(schemaPath);
  const adapter = await factory.connect();
  try {
    const citus = await adapter.queryRaw({
      sql: "SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus')",
      args: [],
      argTypes: [],
    });
    if (citus.rows[0]?.[0] !== true) return { distributed: false };
    // Table names of our own schema, passed as a text[] parameter, never printed into SQL.
    await adapter.queryRaw({
      sql: 'SELECT distribute_tenant_tables($1::text[]::regclass[])::text',
      args: [tables.map((table) => `"${table}"`)],
      argTypes: [{ scalarType: 'string', arity: 'list' }],
    });
    return { distributed: true };
  } finally {
    await adapter.dispose();
  }
}
