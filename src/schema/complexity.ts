import { decodeBase64, decodeCursorChunk } from '@pothos/core';
import {
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLSchema,
  getNamedType,
  getNullableType,
  isListType,
  isObjectType,
} from 'graphql';
import { BadUserInput } from '../errors.ts';
import { isUuid } from '../tenancy/ids.ts';
import { PAGE_SIZE } from './pagination.ts';

/**
 * What a query costs is what it makes the server return. A field whose result is a list costs
 * its sub-selection times the number of items its arguments ask for, read from the arguments
 * themselves, found by type and name in the schema rather than field by field:
 * - a list argument (`nodes(ids:)`): one item per element;
 * - a size argument (`first`/`last` on connections, `pageSize`): its value, or its default.
 * A list with neither is sized by the field above it (a connection's `edges`, a page's
 * `nodes`) and counts once; `unsizedLists` finds any list that is sized by nothing, and a test
 * keeps that list empty. The plugin computes this for the whole operation before the first root
 * resolver runs, so the list cap and the cursor check (checkCursor) refuse before any lookup.
 */
export const LIST_LIMITS = {
  /** Items in any list argument; more is refused before anything is looked up. */
  listArgumentItems: 100,
  /** Connection sizes: Pothos' default and maximum `first`/`last`. */
  connection: PAGE_SIZE,
} as const;

/** What one operation may cost; past any of these it is refused as QUERY_TOO_COMPLEX. */
export const COMPLEXITY_LIMIT = { complexity: 20_000, depth: 12, breadth: 200 } as const;

const measured = new WeakSet<object>();

/**
 * The limit Pothos checks a request against when its first root field runs: none if its
 * document and variables were already measured within COMPLEXITY_LIMIT
 * (src/execution/complexity.ts), the limit otherwise, so that Pothos measures and refuses.
 */
export function complexityLimitFor(ctx: object): Partial<typeof COMPLEXITY_LIMIT> {
  return measured.has(ctx) ? {} : COMPLEXITY_LIMIT;
}

/** Says that `ctx`'s operation was measured within COMPLEXITY_LIMIT. */
export function measuredWithinLimit(ctx: object): void {
  measured.add(ctx);
}

/** Int arguments that say how many items a field returns. */
const SIZE_ARGUMENTS = new Set(['first', 'last', 'pageSize']);

const isSizeArgument = (arg: GraphQLArgument) =>
  SIZE_ARGUMENTS.has(arg.name) && getNamedType(arg.type).name === 'Int';

const isListArgument = (arg: GraphQLArgument) => isListType(getNullableType(arg.type));

const isCursorArgument = <C>(arg: GraphQLArgument, field: GraphQLField<unknown, C>) =>
  (arg.name === 'after' || arg.name === 'before') &&
  getNamedType(arg.type).name === 'String' &&
  field.args.some((other) => other.name === 'first');

/**
 * A connection cursor is Pothos' encoding of the row's key, and every key here is
 * (organizationId, id): two UUIDs. Pothos decodes whatever tags a cursor carries, `O:` (JSON)
 * among them, and hands the values to Prisma as they are: a forged object there is a Prisma
 * filter (`{"not": …}`) or a masked 500. Decoded with Pothos' own decoder, anything but UUID
 * strings is BAD_USER_INPUT; a cursor Pothos cannot decode is left to its own (coded) error.
 */
function checkCursor(cursor: string, argument: string): void {
  let values: unknown;
  try {
    const decoded = decodeBase64(cursor);
    if (!decoded.startsWith('GPC:')) return;
    values = decodeCursorChunk(decoded.slice('GPC:'.length));
  } catch {
    return;
  }
  const parts = Array.isArray(values) ? values : [values];
  if (!parts.every((part) => typeof part === 'string' && isUuid(part))) {
    throw new BadUserInput('Invalid cursor', argument);
  }
}

/** The number of items `field` asks for with `args`, or null when its arguments do not say. */
function requestedItems<C>(
  args: Record<string, unknown>,
  field: GraphQLField<unknown, C>,
): number | null {
  let items: number | null = null;
  for (const arg of field.args) {
    const value = args[arg.name];
    if (isListArgument(arg)) {
      const length = Array.isArray(value) ? value.length : 0;
      // Refused here, when the root field's complexity is checked: before its resolver runs.
      if (length > LIST_LIMITS.listArgumentItems) {
        throw new BadUserInput(
          `\`${arg.name}\` holds at most ${LIST_LIMITS.listArgumentItems} items (got ${length})`,
          arg.name,
        );
      }
      items = Math.max(items ?? 0, length);
    } else if (isCursorArgument(arg, field) && typeof value === 'string') {
      checkCursor(value, arg.name);
    } else if (isSizeArgument(arg)) {
      const fallback = typeof arg.defaultValue === 'number' ? arg.defaultValue : null;
      const asked = typeof value === 'number' ? value : fallback;
      if (asked !== null) items = Math.max(items ?? 0, asked);
    }
  }
  return items;
}

/** The complexity plugin's `fieldComplexity`: 1 per field, times the items a list returns. */
export function fieldComplexity<C>(
  args: Record<string, unknown>,
  _ctx: C,
  field: GraphQLField<unknown, C>,
): { field: number; multiplier: number } {
  const items = requestedItems(args, field);
  if (field.args.some((arg) => arg.name === 'first')) {
    // A connection without `first`/`last` gets Pothos' default page; either is capped at the max.
    const { default: fallback, max } = LIST_LIMITS.connection;
    return { field: 1, multiplier: Math.min(Math.max(items ?? fallback, 0), max) };
  }
  if (items !== null) return { field: 1, multiplier: Math.max(items, 0) };
  // Sized by the field above it (see unsizedLists).
  return { field: 1, multiplier: 1 };
}

/**
 * Every list field of the schema whose length nothing bounds: no list or size argument of its
 * own, and some field leading to its type without one either. Each of these would be counted
 * once however long it is.
 */
export function unsizedLists(schema: GraphQLSchema): string[] {
  const objectTypes = Object.values(schema.getTypeMap()).filter(
    (type) => isObjectType(type) && !type.name.startsWith('__'),
  );
  const sizes = (field: GraphQLField<unknown, unknown>) =>
    field.args.some((arg) => isListArgument(arg) || isSizeArgument(arg));
  // A type is sized when every field that returns it, anywhere, carries a size.
  const sizedTypes = new Set<string>();
  for (const type of objectTypes) {
    const leading = objectTypes.flatMap((parent) =>
      isObjectType(parent)
        ? Object.values(parent.getFields()).filter((f) => getNamedType(f.type) === type)
        : [],
    );
    if (leading.length > 0 && leading.every(sizes)) sizedTypes.add(type.name);
  }
  const unsized: string[] = [];
  for (const type of objectTypes) {
    if (!isObjectType(type)) continue;
    for (const field of Object.values(type.getFields())) {
      if (!isListType(getNullableType(field.type)) || sizes(field)) continue;
      if (!sizedTypes.has(type.name)) unsized.push(`${type.name}.${field.name}`);
    }
  }
  return unsized;
}
