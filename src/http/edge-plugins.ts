import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { useDisableIntrospection } from '@graphql-yoga/plugin-disable-introspection';
import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { useCsrfPrevention, useHiddenSuggestions } from './edge.ts';
import {
  REQUEST_LIMITS,
  useDocumentTokenLimit,
  useMalformedRequestErrors,
  useRequestBodyLimit,
  useWellFormedVariables,
} from './limits.ts';

/**
 * Options every Yoga of the API passes to createYoga with edgePlugins. `maxRequestBodySize:
 * false` turns off Yoga's own body limit (25 MB by default, a TransformStream piped through on
 * every request): useRequestBodyLimit below is the one limit, with the same 413 and code
 * (REQUEST_ENTITY_TOO_LARGE), the limit in its message, and the connection closed.
 */
export const EDGE_YOGA_OPTIONS = { maxRequestBodySize: false } as const;

/** GraphQL limits of every Yoga, next to src/http/limits.ts's and the schema's cost limit. */
export const EDGE_LIMITS = { aliases: 30 } as const;

export type EdgeOptions = Readonly<{
  introspection: boolean;
  /**
   * The Yoga's own checks of the parsed document (the tenant Yoga's one credential operation),
   * run right after the token limit and before the variables are looked at.
   */
  documentChecks?: readonly Plugin[];
}>;

/**
 * What every Yoga of the API refuses before anything runs (the tenant Yoga, the admin Yoga and
 * the benchmark's unscoped contender spread this one list, so they cannot drift apart): bodies
 * and documents too large or malformed, bad variables, cross-site requests, too many aliases,
 * and, with introspection off, the schema and the suggestions that would spell it out.
 */
export function edgePlugins(options: EdgeOptions): Plugin<Record<string, unknown>>[] {
  return [
    // Before anything reads the body or parses the document: see src/http/limits.ts.
    useRequestBodyLimit(REQUEST_LIMITS.bodyBytes),
    useMalformedRequestErrors(),
    useDocumentTokenLimit(REQUEST_LIMITS.documentTokens),
    ...(options.documentChecks ?? []),
    useWellFormedVariables(),
    useCsrfPrevention(),
    useAliasLimit(EDGE_LIMITS.aliases),
    // With the schema hidden, "Did you mean …?" would still spell it out field by field.
    ...(options.introspection ? [] : [useDisableIntrospection(), useHiddenSuggestions()]),
  ] as Plugin<Record<string, unknown>>[];
}

function useAliasLimit(n: number) {
  return maxAliasesPlugin({
    n,
    exposeLimits: true,
    // Reported as a validation error (400) with the README's code, instead of thrown as a
    // "Syntax Error" without one.
    propagateOnRejection: false,
    onReject: [
      (context, error) =>
        context?.reportError(
          new GraphQLError(error.message.replace(/^Syntax Error: /, ''), {
            extensions: { code: 'QUERY_TOO_COMPLEX' },
          }),
        ),
    ],
  });
}
