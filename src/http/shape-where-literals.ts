import type { A_Const, TypeName } from 'libpg-query';
import { BadUserInput } from '../errors.ts';

// How the leaves of a checked `where` are spelled when printed: constants, casts, column names.

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

export function constant(value: A_Const): string {
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

export function castType(type: TypeName): string {
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
export function quoteIdentifier(name: string): string {
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

export function refused(what: string): BadUserInput {
  return new BadUserInput(`The where clause may not use ${what}`);
}
