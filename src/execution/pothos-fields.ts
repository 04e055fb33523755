import type { GraphQLField, GraphQLObjectType } from 'graphql';

/**
 * What the compiled plan (./plan.ts) reads of how Pothos built a field: from the extensions
 * Pothos core and its plugins put on the schema (`pothosOptions`, `pothosExposedField`,
 * `pothosPrismaSelect`, `pothosPrismaRelationField`), whether the field's resolver only reads a
 * property of its parent, and which auth scopes its wrappers would have checked.
 */

/**
 * The scopes a property read skips: the type's own (Pothos runs them on each of its fields)
 * and the field's. Null (the field keeps its resolver) unless each is a static set of plain
 * scopes the run can check once per request.
 */
export function skippedScopes(
  parent: GraphQLObjectType,
  def: GraphQLField<unknown, unknown>,
): string[][] | null {
  const sets: string[][] = [];
  for (const scopes of [optionsOf(parent).authScopes, optionsOf(def).authScopes]) {
    if (scopes === undefined) continue;
    const names = plainScopes(scopes);
    if (!names) return null;
    sets.push(names);
  }
  return sets;
}

type PothosOptions = {
  authScopes?: unknown;
  grantScopes?: unknown;
  runScopesOnType?: unknown;
  unauthorizedResolver?: unknown;
  onNull?: unknown;
};

function optionsOf(thing: {
  extensions?: Readonly<Record<string, unknown>> | null;
}): PothosOptions {
  return (thing.extensions?.pothosOptions ?? {}) as PothosOptions;
}

/** `{ member: true, admin: true }`: any of them. Functions, `$any`/`$all`/`$granted`: null. */
function plainScopes(scopes: unknown): string[] | null {
  if (typeof scopes !== 'object' || scopes === null) return null;
  const entries = Object.entries(scopes);
  if (entries.length === 0) return null;
  if (entries.some(([name, value]) => name.startsWith('$') || value !== true)) return null;
  return entries.map(([name]) => name).sort();
}

/**
 * How Pothos reads `def` off its parent, if that is all its resolver does: an exposed field
 * (core sets `pothosExposedField`), or a Prisma relation without arguments, `onNull` or a
 * resolver of its own. Anything with grants or its own unauthorized answer keeps its resolver.
 */
export function propertyRead(
  def: GraphQLField<unknown, unknown>,
  parent: GraphQLObjectType,
): { name: string; mustBeLoaded: boolean } | null {
  const extensions = (def.extensions ?? {}) as Record<string, unknown>;
  const options = optionsOf(def);
  const typeOptions = optionsOf(parent);
  if (options.grantScopes !== undefined || options.unauthorizedResolver !== undefined) return null;
  if (typeOptions.grantScopes !== undefined || typeOptions.runScopesOnType) return null;
  if (def.args.length > 0) return null;
  const exposed = extensions.pothosExposedField;
  // Select mode: the row has the column only if this plan asked for it.
  const selects = !!extensions.pothosPrismaSelect;
  if (typeof exposed === 'string') return { name: exposed, mustBeLoaded: selects };
  const relation = extensions.pothosPrismaRelationField as { name?: unknown } | undefined;
  if (relation && typeof relation.name === 'string' && options.onNull === undefined) {
    return { name: relation.name, mustBeLoaded: true };
  }
  return null;
}
