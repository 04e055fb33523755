import { get_dmmf } from '@prisma/prisma-schema-wasm';
// Row-level security for the tenant tables a migration creates, written by `db:migration` so that
// nobody copies the block by hand. "Creates table X" is read with PostgreSQL's own parser.
import { loadModule, parseSync } from 'libpg-query';

/** The column every tenant table carries (TENANT_KEY mapped by @map). */
export const TENANT_COLUMN = 'organization_id';

export type CreatedTable = Readonly<{ table: string; tenantOwned: boolean }>;

/** An argument of a function call, as far as the migrations' calls go. */
export type CallArgument = {
  A_Const?: { sval?: { sval: string } };
  TypeCast?: { arg?: { A_ArrayExpr?: { elements?: CallArgument[] } } };
};

type Stmt = {
  CreatePolicyStmt?: { policy_name: string; table: { relname: string } };
  CreateStmt?: {
    relation: { relname: string };
    tableElts?: { ColumnDef?: { colname: string } }[];
  };
  CreateEnumStmt?: unknown;
  AlterTableStmt?: {
    cmds?: { AlterTableCmd?: { def?: { Constraint?: { contype?: string } } } }[];
  };
  SelectStmt?: {
    targetList?: {
      ResTarget?: {
        val?: { FuncCall?: { funcname: { String: { sval: string } }[]; args?: CallArgument[] } };
      };
    }[];
  };
};

/** A statement of a migration, where it starts and how long it is (PostgreSQL's parser). */
export type Located = { stmt: Stmt; stmt_location?: number; stmt_len?: number };

export async function parseMigration(sql: string): Promise<Located[]> {
  await loadModule();
  return (parseSync(sql) as { stmts?: Located[] }).stmts ?? [];
}

async function statements(sql: string): Promise<Stmt[]> {
  return (await parseMigration(sql)).map((s) => s.stmt);
}

/** The arguments of every `SELECT <name>(...)` in `sql`, as the parser read them. */
export async function callsOf(sql: string, name: string): Promise<CallArgument[][]> {
  return (await statements(sql)).flatMap(({ SelectStmt }) =>
    (SelectStmt?.targetList ?? []).flatMap((target) => {
      const call = target.ResTarget?.val?.FuncCall;
      return call?.funcname.at(-1)?.String.sval === name ? [call.args ?? []] : [];
    }),
  );
}

/** The tables a migration creates; tenant-owned when they carry organization_id. */
export async function createdTables(sql: string): Promise<CreatedTable[]> {
  return (await statements(sql)).flatMap(({ CreateStmt }) =>
    CreateStmt
      ? [
          {
            table: CreateStmt.relation.relname,
            tenantOwned: (CreateStmt.tableElts ?? []).some(
              (e) => e.ColumnDef?.colname === TENANT_COLUMN,
            ),
          },
        ]
      : [],
  );
}

/**
 * Tables given isolation: passed to `SELECT enable_tenant_isolation('<table>'...)`, or (the
 * hand-written blocks of the first migrations) given `CREATE POLICY tenant_isolation`.
 */
export async function isolatedTables(sql: string): Promise<Set<string>> {
  const tables = new Set<string>();
  for (const { CreatePolicyStmt } of await statements(sql)) {
    if (CreatePolicyStmt?.policy_name === 'tenant_isolation') {
      tables.add(CreatePolicyStmt.table.relname);
    }
  }
  for (const args of await callsOf(sql, 'enable_tenant_isolation')) {
    const table = args[0]?.A_Const?.sval?.sval;
    if (table) tables.add(table.replace(/^"(.*)"$/, '$1'));
  }
  return tables;
}

/**
 * Model name to table name, honouring @@map, from Prisma's own schema parser (the generated
 * client does not export table names, and a new model is not generated yet).
 */
export function tableNames(schema: string): Map<string, string> {
  const { datamodel } = JSON.parse(
    get_dmmf(JSON.stringify({ prismaSchema: [['schema.prisma', schema]] })),
  ) as { datamodel: { models: { name: string; dbName: string | null }[] } };
  return new Map(datamodel.models.map((m) => [m.name, m.dbName ?? m.name]));
}

/** The SQL to append to a migration: one helper call per tenant table it creates. */
export async function isolationBlock(
  sql: string,
  appendOnlyTables: ReadonlySet<string>,
): Promise<string> {
  const calls = (await createdTables(sql))
    .filter((t) => t.tenantOwned)
    .map((t) =>
      appendOnlyTables.has(t.table)
        ? `SELECT enable_tenant_isolation('"${t.table}"', append_only => true);`
        : `SELECT enable_tenant_isolation('"${t.table}"');`,
    );
  if (calls.length === 0) return '';
  return `\n-- Row-level security for the tenant tables above (written by db:migration).\n${calls.join('\n')}\n`;
}
