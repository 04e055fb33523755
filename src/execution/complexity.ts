import { complexityFromQuery } from '@pothos/plugin-complexity';
import {
  type DefinitionNode,
  type DocumentNode,
  Kind,
  type OperationDefinitionNode,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { COMPLEXITY_LIMIT, measuredWithinLimit } from '../schema/complexity.ts';

/** Measurements kept per document: the variables of the last few requests that sent it. */
const PER_DOCUMENT = 16;

type Measure = Readonly<{ complexity: number; depth: number; breadth: number }>;

/**
 * An operation's complexity (src/schema/complexity.ts) measured once per document and
 * variables instead of once per request: Pothos' own measure of the document
 * (`complexityFromQuery`, the walk its plugin runs per request), kept on the document object
 * Yoga's parse cache hands to every request that sends the same text. Within the limit, the
 * request is marked measured and Pothos skips its walk; over it, or when the measure throws (a
 * malformed cursor, an id that does not decode), Pothos measures the request itself and refuses
 * it with the error it always gave. A document with more than one operation is left to Pothos.
 */
export function useComplexityOncePerDocument(counts: { complexityMeasured: number }): Plugin {
  // Per document, once: its one operation and its measures by variables (null: several).
  const documents = new WeakMap<
    DocumentNode,
    { operation: OperationDefinitionNode; byVariables: Map<string, Measure> } | null
  >();
  const entryOf = (document: DocumentNode) => {
    let entry = documents.get(document);
    if (entry === undefined) {
      const operations = document.definitions.filter(
        (d: DefinitionNode): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION,
      );
      entry =
        operations.length === 1 && operations[0]
          ? { operation: operations[0], byVariables: new Map() }
          : null;
      documents.set(document, entry);
    }
    return entry;
  };
  return {
    onExecute({ args }) {
      const entry = entryOf(args.document);
      if (!entry || typeof args.contextValue !== 'object' || !args.contextValue) return;
      const { byVariables } = entry;
      const key = keyOf(entry.operation, args.variableValues);
      if (key === null) return;
      let measure = byVariables.get(key);
      if (!measure) {
        try {
          measure = complexityFromQuery(args.document, {
            schema: args.schema,
            variables: (args.variableValues ?? {}) as Record<string, unknown>,
            ctx: args.contextValue as object,
          });
        } catch {
          return;
        }
        counts.complexityMeasured++;
        if (byVariables.size >= PER_DOCUMENT) {
          byVariables.delete(byVariables.keys().next().value as string);
        }
        byVariables.set(key, measure);
      }
      if (
        measure.complexity <= COMPLEXITY_LIMIT.complexity &&
        measure.depth <= COMPLEXITY_LIMIT.depth &&
        measure.breadth <= COMPLEXITY_LIMIT.breadth
      ) {
        measuredWithinLimit(args.contextValue);
      }
    },
  };
}

/**
 * The measure's key: the values of the variables the operation declares (others cannot change
 * it), or null when they do not serialize (a cycle, or nesting deeper than the stack).
 */
function keyOf(
  operation: OperationDefinitionNode,
  variables: Readonly<Record<string, unknown>> | null | undefined,
): string | null {
  const names = (operation.variableDefinitions ?? []).map((d) => d.variable.name.value);
  try {
    // Absent and null differ: an absent variable takes its default.
    return JSON.stringify(
      names.map((name) => (variables && name in variables ? [variables[name]] : [])),
    );
  } catch {
    return null;
  }
}
