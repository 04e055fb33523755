import {
  type DocumentNode,
  type GraphQLField,
  type GraphQLSchema,
  parse,
  type ValidationContext,
  type ValidationRule,
  validate,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { TooManyCredentialOperations } from '../errors.ts';

/**
 * The extension that marks a field as a credential operation (one that hashes a password:
 * signIn, signUp, createMember, changePassword). The limit below is derived from the schema's
 * marks, never from a list of names.
 */
export const CREDENTIAL_OPERATION = { credentialOperation: true } as const;

function isCredentialOperation(field: GraphQLField<unknown, unknown> | null | undefined): boolean {
  return field?.extensions?.credentialOperation === true;
}

/** Counts, with graphql-js's own type information, every marked field a document selects. */
function countingRule(report: (count: number, context: ValidationContext) => void): ValidationRule {
  return (context) => {
    let count = 0;
    return {
      Field() {
        if (isCredentialOperation(context.getFieldDef())) count++;
      },
      Document: { leave: () => report(count, context) },
    };
  };
}

/** At most one credential operation per document, however many aliases or fragments. */
export const oneCredentialOperation: ValidationRule = countingRule((count, context) => {
  if (count > 1) context.reportError(new TooManyCredentialOperations(count));
});

function countIn(schema: GraphQLSchema, document: DocumentNode): number {
  let total = 0;
  validate(schema, document, [
    countingRule((count) => {
      total = count;
    }),
  ]);
  return total;
}

/**
 * At most one credential operation per HTTP request. Within a document, a validation rule
 * refuses a second one (aliases, fragments) before anything runs. A batch's operations are
 * separate documents, run concurrently, each with the same Request: the whole batch is refused
 * when they hold more than one together, before any of them runs, so no password is hashed.
 * Documents that do not parse are left to the ordinary parse error.
 */
export function useOneCredentialOperation(schema: GraphQLSchema, maxTokens: number): Plugin {
  return {
    onRequestParse: () => ({
      onRequestParseDone({ requestParserResult }) {
        if (!Array.isArray(requestParserResult) || requestParserResult.length < 2) return;
        let total = 0;
        for (const params of requestParserResult) {
          const query = (params as { query?: unknown } | null)?.query;
          if (typeof query !== 'string') continue;
          try {
            total += countIn(schema, parse(query, { maxTokens }));
          } catch {
            // Not a document: this operation fails on its own, hashing nothing.
          }
        }
        if (total > 1) throw new TooManyCredentialOperations(total);
      },
    }),
    onValidate({ addValidationRule }) {
      addValidationRule(oneCredentialOperation);
    },
  };
}
