import type { Node } from 'libpg-query';
import { BadUserInput } from '../errors.ts';
import { castType, constant, quoteIdentifier, refused } from './shape-where-literals.ts';

// Checking and printing are one walk: a node is printed only once its kind is allowed, so
// nothing the walk does not know can reach the forwarded text.

/** What the checked `where` became: SQL to forward, and the client's `$n` it refers to. */
export type CheckedWhere = Readonly<{ sql: string; params: ReadonlySet<number> }>;

export type WhereOptions = Readonly<{
  /** The columns the client may name (the table's allow-list). */
  columns: readonly string[];
  /** Added to every `$n` when printing: the parameters before it belong to the proxy. */
  paramOffset: number;
}>;

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

/** The tree of a framed `where` (`parseWhere`), checked and printed again. */
export function printWhere(tree: Node, options: WhereOptions): CheckedWhere {
  const params = new Set<number>();
  const sql = new Printer(options, params).print(tree, 0);
  return { sql, params };
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
