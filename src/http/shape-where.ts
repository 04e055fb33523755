import {
  type A_Const,
  loadModule,
  type Node,
  parseSync,
  SqlError,
  type TypeName,
} from 'libpg-query';
import { BadUserInput } from '../errors.ts';

/**
 * The `where` of a shape request, read with PostgreSQL's own grammar (libpg-query: the server's
 * parser compiled to WebAssembly) and printed again from the tree.
 *
 * Electric runs the `where` it receives on the database as the table owner, where row-level
 * security does not apply: this filter and the organization in front of it are the only
 * boundary. So nothing of the client's text is forwarded. It is parsed as the WHERE of a
 * statement that has nothing else, every node of the tree must be of an allowed kind (columns of
 * the table's allow-list, constants, `$n` parameters, comparisons, AND/OR/NOT, IN, LIKE, ILIKE,
 * BETWEEN, IS [NOT] NULL / TRUE / FALSE / DISTINCT FROM, casts to a few plain types), and the
 * forwarded text is printed from that tree: identifiers quoted, literals escaped here. Whatever
 * quoting, comment or escape form the client used is gone by then.
 */

/** What the checked `where` became: SQL to forward, and the client's `$n` it refers to. */
export type CheckedWhere = Readonly<{ sql: string; params: ReadonlySet<number> }>;

export type WhereOptions = Readonly<{
  /** The columns the client may name (the table's allow-list). */
  columns: readonly string[];
  /** Added to every `$n` when printing: the parameters before it belong to the proxy. */
  paramOffset: number;
}>;

export const MAX_WHERE_LENGTH = 2_000;
export const MAX_WHERE_PARAMS = 100;
/** Far above any hand-written filter; keeps the checker's recursion small. */
const MAX_DEPTH = 64;

const COMPARISONS = new Set(['=', '<>', '<', '<=', '>', '>=']);
// Maps, not object literals: a name from the tree must never find `constructor` or `toString`.
const LIKES: ReadonlyMap<string, string> = new Map([
  ['~~', 'LIKE'],
  ['!~~', 'NOT LIKE'],
  ['~~*', 'ILIKE'],
  ['!~~*', 'NOT ILIKE'],
]);
const BOOLEAN_TESTS: ReadonlyMap<string, string> = new Map([
  ['IS_TRUE', 'IS TRUE'],
  ['IS_NOT_TRUE', 'IS NOT TRUE'],
  ['IS_FALSE', 'IS FALSE'],
  ['IS_NOT_FALSE', 'IS NOT FALSE'],
  ['IS_UNKNOWN', 'IS UNKNOWN'],
  ['IS_NOT_UNKNOWN', 'IS NOT UNKNOWN'],
]);
/**
 * Casts a filter may need (an enum column as text, a string as a timestamp), by the name the
 * grammar gives the type, printed in a spelling no search_path can redirect: SQL keywords where
 * there is one, otherwise a pg_catalog type (pg_catalog is searched first unless listed later).
 */
const CASTS: ReadonlyMap<string, string> = new Map([
  ['text', 'text'],
  ['int4', 'integer'],
  ['int8', 'bigint'],
  ['numeric', 'numeric'],
  ['bool', 'boolean'],
  ['uuid', 'uuid'],
  ['date', 'date'],
  ['timestamp', 'timestamp'],
  ['timestamptz', 'timestamp with time zone'],
]);
/** A statement framing the `where` may have these keys and no others (see `parseWhere`). */
const FRAME_KEYS = new Set(['fromClause', 'whereClause', 'limitOption', 'op']);
const FRAME_TABLE = 'shape_where_frame';

let loaded: Promise<void> | undefined;

/** Loads the parser's WebAssembly once per process; later calls return the same promise. */
export function loadWhereParser(): Promise<void> {
  loaded ??= loadModule();
  return loaded;
}

/** The checked, re-printed `where`; anything outside the allowed grammar is BAD_USER_INPUT. */
export async function checkWhere(where: string, options: WhereOptions): Promise<CheckedWhere> {
  if (where.length > MAX_WHERE_LENGTH) {
    throw new BadUserInput(`The where clause is longer than ${MAX_WHERE_LENGTH} characters`);
  }
  // The parser reads a C string: a NUL would end the text early, whatever followed it.
  if (where.includes('\0')) throw new BadUserInput('The where clause contains a NUL character');
  await loadWhereParser();
  const tree = parseWhere(where);
  const params = new Set<number>();
  const sql = new Printer(options, params).print(tree, 0);
  return { sql, params };
}

/**
 * `where` as the WHERE clause of `SELECT FROM t WHERE …`, which must come back as exactly that
 * one statement with nothing but its FROM and WHERE: a `where` that closes the clause and goes
 * on (`; …`, `ORDER BY`, `UNION`, `LIMIT`, `FOR UPDATE`, `GROUP BY`, `WINDOW`) is refused.
 */
function parseWhere(where: string): Node {
  let result: ReturnType<typeof parseSync>;
  try {
    result = parseSync(`SELECT FROM ${FRAME_TABLE} WHERE ${where}`);
  } catch (error) {
    if (error instanceof SqlError) {
      throw new BadUserInput(`The where clause is not valid SQL: ${error.message}`);
    }
    // Deep nesting can exhaust the JavaScript stack while the tree is decoded.
    if (error instanceof RangeError)
      throw new BadUserInput('The where clause is nested too deeply');
    throw error;
  }
  const statements = result.stmts ?? [];
  const statement = statements[0]?.stmt;
  const select = statement && 'SelectStmt' in statement ? statement.SelectStmt : undefined;
  const from = select?.fromClause?.[0];
  const framed =
    statements.length === 1 &&
    select !== undefined &&
    Object.keys(select).every((key) => FRAME_KEYS.has(key)) &&
    select.op === 'SETOP_NONE' &&
    select.limitOption === 'LIMIT_OPTION_DEFAULT' &&
    select.fromClause?.length === 1 &&
    from !== undefined &&
    'RangeVar' in from &&
    from.RangeVar.relname === FRAME_TABLE &&
    from.RangeVar.schemaname === undefined &&
    from.RangeVar.alias === undefined;
  if (!framed || !select.whereClause) {
    throw new BadUserInput('The where clause must be one expression and nothing else');
  }
  return select.whereClause;
}

class Printer {
  constructor(
    private readonly options: WhereOptions,
    private readonly params: Set<number>,
  ) {}

  print(node: Node, depth: number): string {
    if (depth > MAX_DEPTH) throw new BadUserInput('The where clause is nested too deeply');
    const next = depth + 1;
    if ('ColumnRef' in node) return this.column(node.ColumnRef.fields ?? []);
    if ('A_Const' in node) return constant(node.A_Const);
    if ('ParamRef' in node) return this.param(node.ParamRef.number ?? 0);
    if ('TypeCast' in node) {
      const { arg, typeName } = node.TypeCast;
      if (!arg || !typeName) throw refused('this cast');
      return `${this.operand(arg, next, true)}::${castType(typeName)}`;
    }
    if ('BoolExpr' in node) {
      const { boolop, args = [] } = node.BoolExpr;
      const [first] = args;
      if (boolop === 'NOT_EXPR' && args.length === 1 && first) {
        return `NOT ${this.operand(first, next)}`;
      }
      if ((boolop === 'AND_EXPR' || boolop === 'OR_EXPR') && args.length >= 2) {
        const joiner = boolop === 'AND_EXPR' ? ' AND ' : ' OR ';
        return args.map((arg) => this.operand(arg, next)).join(joiner);
      }
      throw refused('this boolean expression');
    }
    if ('NullTest' in node) {
      const { arg, nulltesttype, argisrow } = node.NullTest;
      if (!arg || argisrow) throw refused('this IS NULL test');
      const test = nulltesttype === 'IS_NOT_NULL' ? 'IS NOT NULL' : 'IS NULL';
      return `${this.operand(arg, next)} ${test}`;
    }
    if ('BooleanTest' in node) {
      const { arg, booltesttype } = node.BooleanTest;
      const test = booltesttype ? BOOLEAN_TESTS.get(booltesttype) : undefined;
      if (!arg || !test) throw refused('this boolean test');
      return `${this.operand(arg, next)} ${test}`;
    }
    if ('A_Expr' in node) return this.expression(node, next);
    throw refused(describe(node));
  }

  private expression(node: Extract<Node, { A_Expr: unknown }>, depth: number): string {
    const { kind, name = [], lexpr, rexpr } = node.A_Expr;
    // A qualified operator (`OPERATOR(pg_catalog.=)`) has more than one name part.
    const [only, ...rest] = name;
    const operator = only && 'String' in only && rest.length === 0 ? only.String.sval : undefined;
    if (!lexpr || !rexpr || operator === undefined) throw refused('this operator');
    const left = this.operand(lexpr, depth);
    switch (kind) {
      case 'AEXPR_OP':
        if (!COMPARISONS.has(operator)) throw refused(`the operator ${operator}`);
        return `${left} ${operator} ${this.operand(rexpr, depth)}`;
      case 'AEXPR_DISTINCT':
        return `${left} IS DISTINCT FROM ${this.operand(rexpr, depth)}`;
      case 'AEXPR_NOT_DISTINCT':
        return `${left} IS NOT DISTINCT FROM ${this.operand(rexpr, depth)}`;
      case 'AEXPR_LIKE':
      case 'AEXPR_ILIKE': {
        const like = LIKES.get(operator);
        if (!like) throw refused(`the operator ${operator}`);
        return `${left} ${like} ${this.operand(rexpr, depth)}`;
      }
      case 'AEXPR_IN': {
        // The grammar writes `IN` as `=` and `NOT IN` as `<>`; nothing else is an IN list.
        const keyword = operator === '=' ? 'IN' : operator === '<>' ? 'NOT IN' : undefined;
        const items = this.list(rexpr, depth);
        if (!keyword || items.length === 0) throw refused('this IN list');
        return `${left} ${keyword} (${items.join(', ')})`;
      }
      case 'AEXPR_BETWEEN':
      case 'AEXPR_NOT_BETWEEN': {
        const [low, high, ...more] = this.list(rexpr, depth);
        if (low === undefined || high === undefined || more.length > 0) throw refused('BETWEEN');
        const keyword = kind === 'AEXPR_BETWEEN' ? 'BETWEEN' : 'NOT BETWEEN';
        return `${left} ${keyword} ${low} AND ${high}`;
      }
      default:
        // ANY/ALL (arrays), SIMILAR TO (regular expressions), NULLIF, BETWEEN SYMMETRIC.
        throw refused(kind ? kind.replace('AEXPR_', '').replaceAll('_', ' ') : 'this operator');
    }
  }

  private list(node: Node, depth: number): string[] {
    if (!('List' in node)) throw refused(describe(node));
    return (node.List.items ?? []).map((item) => this.operand(item, depth));
  }

  /** A sub-expression, in parentheses unless it is one token (a column, constant or `$n`). */
  private operand(node: Node, depth: number, castArgument = false): string {
    const text = this.print(node, depth);
    const atomic =
      'ColumnRef' in node ||
      'ParamRef' in node ||
      // `-1::text` reads as `-(1::text)`: a negative number before a cast needs its parentheses.
      ('A_Const' in node && !(castArgument && text.startsWith('-')));
    return atomic ? text : `(${text})`;
  }

  private column(fields: Node[]): string {
    const [field, ...rest] = fields;
    // More than one part is a qualified name (`public.users.email`); A_Star is `*`.
    if (!field || rest.length > 0 || !('String' in field)) {
      throw refused('a qualified column name or *');
    }
    const name = field.String.sval ?? '';
    if (!this.options.columns.includes(name)) {
      throw new BadUserInput(`The where clause may not use the column ${JSON.stringify(name)}`);
    }
    return quoteIdentifier(name);
  }

  private param(number: number): string {
    if (!Number.isInteger(number) || number < 1 || number > MAX_WHERE_PARAMS) {
      throw new BadUserInput(`Parameters are $1 to $${MAX_WHERE_PARAMS}`);
    }
    this.params.add(number);
    return `$${number + this.options.paramOffset}`;
  }
}

function constant(value: A_Const): string {
  // The tree leaves out zero and false: `{ ival: {} }` is 0, `{ boolval: {} }` is false.
  if (value.isnull) return 'NULL';
  if (value.sval) return quoteLiteral(value.sval.sval ?? '');
  if (value.ival) return String(value.ival.ival ?? 0);
  if (value.boolval) return value.boolval.boolval ? 'TRUE' : 'FALSE';
  if (value.fval) {
    // Too long for an integer, or with a fraction or exponent; hexadecimal ones are refused.
    const text = value.fval.fval ?? '';
    if (!/^-?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(text)) throw refused(`the number ${text}`);
    return text;
  }
  throw refused('bit-string constants');
}

function castType(type: TypeName): string {
  const names = (type.names ?? []).map((part) =>
    'String' in part ? (part.String.sval ?? '') : '',
  );
  // The grammar itself writes built-in types such as `int` as `pg_catalog.int4`.
  const name =
    names.length === 1 ? names[0] : names.length === 2 && names[0] === 'pg_catalog' ? names[1] : '';
  const plain =
    (type.typemod ?? -1) === -1 &&
    !type.typmods &&
    !type.arrayBounds &&
    !type.setof &&
    !type.pct_type;
  const spelled = name && plain ? CASTS.get(name) : undefined;
  if (!spelled) {
    throw new BadUserInput(
      `The where clause may cast only to ${[...CASTS.values()].join(', ')}; not to ${names.join('.')}`,
    );
  }
  return spelled;
}

/** Always quoted, so no column name is read as a keyword or folded to lower case. */
function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * A string literal that reads the same whatever `standard_conforming_strings` says: plain
 * `'…'` without backslashes, otherwise an escape string `E'…'` with them doubled.
 */
export function quoteLiteral(value: string): string {
  const quoted = value.replaceAll("'", "''");
  return value.includes('\\') ? `E'${quoted.replaceAll('\\', '\\\\')}'` : `'${quoted}'`;
}

const NODE_NAMES: ReadonlyMap<string, string> = new Map([
  ['SubLink', 'subqueries'],
  ['FuncCall', 'function calls'],
  ['A_ArrayExpr', 'arrays'],
  ['RowExpr', 'row expressions'],
  ['CollateClause', 'COLLATE'],
  ['A_Indirection', 'subscripts and field selection'],
  ['CaseExpr', 'CASE'],
  ['CoalesceExpr', 'COALESCE'],
  ['MinMaxExpr', 'GREATEST and LEAST'],
  ['SQLValueFunction', 'session values (current_user, current_timestamp, …)'],
]);

function describe(node: Node): string {
  const kind = Object.keys(node)[0] ?? 'this expression';
  return NODE_NAMES.get(kind) ?? kind;
}

function refused(what: string): BadUserInput {
  return new BadUserInput(`The where clause may not use ${what}`);
}
