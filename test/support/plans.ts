import type {
  SqlDriverAdapter,
  SqlDriverAdapterFactory,
  SqlQuery,
  Transaction,
} from '@prisma/driver-adapter-utils';
import { loadModule, parseSync } from 'libpg-query';
import type { Database } from '../../src/db/database.ts';
import { acrossOrganizations, unsharded } from './plans-citus.ts';

/**
 * The query-plan guard. Every statement the API sends is recorded (one set of arguments per
 * distinct text); when the test API closes, each one that reads a tenant table (a table with
 * an organization_id column) is EXPLAINed with sequential scans priced out, and every scan of
 * a tenant table must go through an index whose leading column is organization_id, with
 * organization_id in its index condition. That is what keeps a tenant's query cost
 * independent of the other tenants' rows, and what lets a distributed database route the
 * statement to one shard.
 *
 * It explains as the connection's own role, without the RLS binding: the policy adds
 * `organization_id = <the binding>` to every scan, so under it any index on organization_id
 * would pass and the guard could not fail. It is the statement's own filter (the scoped
 * client's) that must reach the index.
 */

/** Statement texts (exact) that may read a tenant table otherwise, and why. */
export const ALLOWED_PLANS: Readonly<Record<string, string>> = {};

export type PlanFailure = Readonly<{ sql: string; table: string; node: string; reason: string }>;

type Verdict = readonly PlanFailure[];

/** Verdicts by statement text, shared by the test APIs of one module instance (same schema). */
const verdicts = new Map<string, Promise<Verdict>>();

export type PlanCollector = Readonly<{
  /** The adapter factory that records what is sent through it. */
  recording: (factory: Database['adapter']) => Database['adapter'];
  /** Explains what was recorded; the error to throw, or null when every plan passes. */
  check: (factory: Database['adapter']) => Promise<Error | null>;
}>;

export function collectPlans(): PlanCollector {
  const statements = new Map<string, SqlQuery>();
  const record = <T extends SqlDriverAdapter | Transaction>(target: T): T =>
    new Proxy(target, {
      get(object, property, receiver) {
        const value = Reflect.get(object, property, receiver);
        if (property === 'queryRaw' || property === 'executeRaw') {
          // Only what succeeded: a statement a test makes fail on purpose has no plan to check.
          return async (query: SqlQuery) => {
            const result = await (value as (q: SqlQuery) => Promise<unknown>).call(object, query);
            if (!statements.has(query.sql)) statements.set(query.sql, query);
            return result;
          };
        }
        if (property === 'startTransaction') {
          return async (...args: unknown[]) =>
            record(await (value as (...a: unknown[]) => Promise<Transaction>).apply(object, args));
        }
        return typeof value === 'function' ? value.bind(object) : value;
      },
    });
  const recording = (factory: Database['adapter']): Database['adapter'] => {
    const wrapped: SqlDriverAdapterFactory = {
      provider: factory.provider,
      adapterName: factory.adapterName,
      connect: async () => record(await factory.connect()),
    };
    return Object.assign(Object.create(factory) as Database['adapter'], wrapped);
  };
  const check = async (factory: Database['adapter']): Promise<Error | null> => {
    if (statements.size > 0) {
      const failures = await explainAll(await factory.connect(), [...statements.values()]);
      if (failures.length > 0) return new Error(describe(failures));
    }
    return null;
  };
  return { recording, check };
}

export async function explainAll(
  adapter: SqlDriverAdapter,
  queries: readonly SqlQuery[],
): Promise<PlanFailure[]> {
  await loadParser();
  const catalog = await readCatalog(adapter);
  const failures: PlanFailure[] = [];
  for (const query of queries) {
    if (query.sql in ALLOWED_PLANS || !readsTable(query.sql, catalog.tenantTables)) continue;
    if (catalog.citus && acrossOrganizations(query.sql) !== null) continue;
    let verdict = verdicts.get(query.sql);
    if (!verdict) {
      verdict = explain(adapter, query, catalog.citus).then(
        (plan) => judge(query.sql, plan, catalog),
        (error: Error) => [{ sql: query.sql, table: '?', node: '', reason: error.message }],
      );
      verdicts.set(query.sql, verdict);
    }
    failures.push(...(await verdict));
  }
  return failures;
}

export type Catalog = Readonly<{
  tenantTables: ReadonlySet<string>;
  /** A Citus coordinator: plans are distributed, and each must go to one shard. */
  citus: boolean;
  /** Index name → its leading column (absent for an expression). */
  leadingColumn: ReadonlyMap<string, string>;
}>;

let catalogCache: Promise<Catalog> | null = null;

function readCatalog(adapter: SqlDriverAdapter): Promise<Catalog> {
  catalogCache ??= (async () => {
    const tables = await adapter.queryRaw({
      sql: `SELECT c.relname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
            WHERE a.attname = 'organization_id' AND NOT a.attisdropped AND c.relkind IN ('r', 'p')`,
      args: [],
      argTypes: [],
    });
    const indexes = await adapter.queryRaw({
      sql: `SELECT i.relname, a.attname FROM pg_index x
            JOIN pg_class i ON i.oid = x.indexrelid
            JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[0]`,
      args: [],
      argTypes: [],
    });
    const citus = await adapter.queryRaw({
      sql: "SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus')",
      args: [],
      argTypes: [],
    });
    return {
      citus: citus.rows[0]?.[0] === true,
      tenantTables: new Set(tables.rows.map((row) => String(row[0]))),
      leadingColumn: new Map(indexes.rows.map((row) => [String(row[0]), String(row[1])])),
    };
  })();
  return catalogCache;
}

let parserLoaded: Promise<void> | null = null;

/** Whether the statement names one of `tables` anywhere (FROM, JOIN, subquery, INSERT target). */
function readsTable(sql: string, tables: ReadonlySet<string>): boolean {
  const names: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) for (const item of node) walk(item);
    else if (node && typeof node === 'object') {
      // A RangeVar: wrapped in FROM lists, bare as the target of INSERT, UPDATE and DELETE.
      const { relname } = node as { relname?: unknown };
      if (typeof relname === 'string') names.push(relname);
      for (const value of Object.values(node)) walk(value);
    }
  };
  try {
    walk(parseSync(sql));
  } catch {
    return true; // let EXPLAIN say what it is
  }
  return names.some((name) => tables.has(name));
}

async function loadParser(): Promise<void> {
  parserLoaded ??= loadModule();
  await parserLoaded;
}

type PlanNode = Readonly<{
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Index Cond'?: string;
  Plans?: readonly PlanNode[];
  /** Citus' Custom Scan: the tasks it sends to the shards, with each shard's own plan. */
  'Custom Plan Provider'?: string;
  'Distributed Query'?: Readonly<{
    Job?: Readonly<{
      'Task Count'?: number;
      Tasks?: readonly Readonly<{ 'Remote Plan'?: readonly (readonly { Plan: PlanNode }[])[] }>[];
    }>;
    Subplans?: readonly Readonly<{ PlannedStmt?: readonly { Plan: PlanNode }[] }>[];
  }>;
}>;

/**
 * EXPLAIN in a transaction of its own that prices sequential scans out (tiny test tables): on
 * Citus on the workers too, which plan each shard's part.
 */
async function explain(
  adapter: SqlDriverAdapter,
  query: SqlQuery,
  citus: boolean,
): Promise<PlanNode> {
  const tx = await adapter.startTransaction();
  try {
    if (citus) {
      const sql = "SET LOCAL citus.propagate_set_commands = 'local'";
      await tx.executeRaw({ sql, args: [], argTypes: [] });
    }
    await tx.executeRaw({ sql: 'SET LOCAL enable_seqscan = off', args: [], argTypes: [] });
    const result = await tx.queryRaw({ ...query, sql: `EXPLAIN (FORMAT JSON) ${query.sql}` });
    const cell = result.rows[0]?.[0];
    const json = (typeof cell === 'string' ? JSON.parse(cell) : cell) as [{ Plan: PlanNode }];
    return json[0].Plan;
  } finally {
    if (!tx.options.usePhantomQuery) {
      await tx.executeRaw({ sql: 'ROLLBACK', args: [], argTypes: [] });
    }
    await tx.rollback();
  }
}

const INDEX_SCANS = new Set(['Index Scan', 'Index Only Scan', 'Bitmap Index Scan']);
const TENANT_COND = /\borganization_id\b/;
/** Nodes on a tenant table whose reading is done by the scans below them. */
const READS_THROUGH_CHILDREN = new Set([
  'ModifyTable',
  'Bitmap Heap Scan',
  'BitmapAnd',
  'BitmapOr',
]);

function judge(sql: string, root: PlanNode, catalog: Catalog): PlanFailure[] {
  const failures: PlanFailure[] = [];
  const fail = (table: string, node: PlanNode, reason: string) =>
    failures.push({ sql, table, node: summary(node), reason });
  const visit = (node: PlanNode, bitmapOf: string | null): void => {
    const type = node['Node Type'];
    if (catalog.citus && node['Custom Plan Provider']?.startsWith('Citus')) {
      visitDistributed(node);
      return;
    }
    const table = unsharded(node['Relation Name'], catalog) ?? bitmapOf;
    const tenant = table !== null && catalog.tenantTables.has(table);
    if (tenant && INDEX_SCANS.has(type)) {
      const index = unsharded(node['Index Name'], catalog, true) ?? '';
      const leading = catalog.leadingColumn.get(index);
      if (leading !== 'organization_id') {
        fail(table, node, `index ${index} leads with ${leading ?? 'an expression'}`);
      } else if (!TENANT_COND.test(node['Index Cond'] ?? '')) {
        fail(table, node, `index ${index} is scanned without organization_id in its condition`);
      }
    } else if (tenant && !READS_THROUGH_CHILDREN.has(type)) {
      fail(table, node, `${type} reads the table without an index on organization_id`);
    }
    const heap =
      type === 'Bitmap Heap Scan' ? (unsharded(node['Relation Name'], catalog) ?? null) : null;
    for (const child of node.Plans ?? []) visit(child, heap ?? (isBitmap(child) ? bitmapOf : null));
  };
  // On Citus: a statement of one organization goes to exactly one shard, and there it is held
  // to the same rule as on PostgreSQL.
  const visitDistributed = (node: PlanNode): void => {
    const query = node['Distributed Query'];
    for (const subplan of query?.Subplans ?? []) {
      for (const planned of subplan.PlannedStmt ?? []) visit(planned.Plan, null);
    }
    const tasks = query?.Job?.['Task Count'];
    if (tasks !== 1)
      fail(
        '(distributed)',
        node,
        `Citus sends it to ${tasks ?? 'an unknown number of'} shards, not one`,
      );
    for (const task of query?.Job?.Tasks ?? []) {
      for (const plans of task['Remote Plan'] ?? [])
        for (const { Plan } of plans) visit(Plan, null);
    }
  };
  visit(root, null);
  return failures;
}

function isBitmap(node: PlanNode): boolean {
  return ['BitmapAnd', 'BitmapOr', 'Bitmap Index Scan'].includes(node['Node Type']);
}

function summary(node: PlanNode): string {
  const { Plans: _children, ...own } = node;
  return JSON.stringify(own);
}

function describe(failures: readonly PlanFailure[]): string {
  const lines = failures.map(
    (f) => `- ${f.table}: ${f.reason}\n  statement: ${f.sql}\n  plan node: ${f.node}`,
  );
  return `Query plans that do not filter a tenant table through an index on organization_id (test/support/plans.ts; fix with an index or the query, or add to ALLOWED_PLANS with a reason):\n${lines.join('\n')}`;
}
