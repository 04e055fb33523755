import { type GraphQLSchema, isAbstractType } from 'graphql';

/**
 * Every interface and union of the schema with the object types that implement or belong to it,
 * sorted: the `possibleTypes` map Apollo Client's InMemoryCache and urql's graphcache need to
 * match fragments on `Node` and the like without introspection. `npm run schema:print` writes it
 * to possible-types.json beside schema.graphql; test/api/schema.test.ts fails on drift.
 */
export function possibleTypes(schema: GraphQLSchema): Record<string, string[]> {
  const map: Record<string, string[]> = {};
  const abstract = Object.values(schema.getTypeMap())
    .filter(isAbstractType)
    .filter((type) => !type.name.startsWith('__'))
    .sort((a, b) => a.name.localeCompare(b.name));
  for (const type of abstract) {
    map[type.name] = schema
      .getPossibleTypes(type)
      .map((member) => member.name)
      .sort();
  }
  return map;
}

/** possible-types.json's text. */
export const possibleTypesJson = (schema: GraphQLSchema) =>
  `${JSON.stringify(possibleTypes(schema), null, 2)}\n`;
