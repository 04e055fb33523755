import type { Node } from 'libpg-query';
import { BadUserInput } from '../errors.ts';
import { type CheckedWhere, printWhere, type WhereOptions } from './shape-where-printer.ts';

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

export const MAX_WHERE_LENGTH = 2_000;
/** A statement framing the `where` may have these keys and no others (see `parseWhere`). */
const FRAME_KEYS = new Set(['fromClause', 'whereClause', 'limitOption', 'op']);
const FRAME_TABLE = 'shape_where_frame';

type Parser = typeof import('libpg-query');

let loaded: Promise<Parser> | undefined;

/**
 * Loads the parser once per process; later calls return the same promise. Imported here, not
 * at the top: importing the package sets up its WebAssembly module (16 MB of resident memory,
 * 136 MB reserved), which a server without a shape proxy never needs.
 */
export function loadWhereParser(): Promise<Parser> {
  loaded ??= import('libpg-query').then(async (parser) => {
    await parser.loadModule();
    return parser;
  });
  return loaded;
}

/** The checked, re-printed `where`; anything outside the allowed grammar is BAD_USER_INPUT. */
export async function checkWhere(where: string, options: WhereOptions): Promise<CheckedWhere> {
  if (where.length > MAX_WHERE_LENGTH) {
    throw new BadUserInput(`The where clause is longer than ${MAX_WHERE_LENGTH} characters`);
  }
  // The parser reads a C string: a NUL would end the text early, whatever followed it.
  if (where.includes('\0')) throw new BadUserInput('The where clause contains a NUL character');
  return printWhere(parseWhere(await loadWhereParser(), where), options);
}

/**
 * `where` as the WHERE clause of `SELECT FROM t WHERE …`, which must come back as exactly that
 * one statement with nothing but its FROM and WHERE: a `where` that closes the clause and goes
 * on (`; …`, `ORDER BY`, `UNION`, `LIMIT`, `FOR UPDATE`, `GROUP BY`, `WINDOW`) is refused.
 */
function parseWhere(parser: Parser, where: string): Node {
  let result: ReturnType<Parser['parseSync']>;
  try {
    result = parser.parseSync(`SELECT FROM ${FRAME_TABLE} WHERE ${where}`);
  } catch (error) {
    if (error instanceof parser.SqlError) {
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
