import {
  type DocumentNode,
  type GraphQLField,
  type GraphQLObjectType,
  type GraphQLSchema,
  parse,
  type ValidationContext,
  type ValidationRule,
  validate,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { CredentialOperationNotAlone, TooManyCredentialOperations } from '../errors.ts';
import { rootFieldNames } from '../schema/root-fields.ts';

/**
 * The extension that marks a field as a credential operation (one that hashes a password:
 * signIn, signUp, createMember, changePassword). The limit below is derived from the schema's
 * marks, never from a list of names.
 */
export const CREDENTIAL_OPERATION = { credentialOperation: true } as const;

/**
 * The extension that marks a credential operation whose payload is resolved as the member whose
 * token it issues (src/context.ts, continueAsMember): signIn, signUp, changePassword.
 */
export const ISSUES_TOKEN = { ...CREDENTIAL_OPERATION, issuesToken: true } as const;

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

/**
 * A field that issues a token is alone at its operation's root (`__typename` aside), fragments
 * spread and inlined: what runs after it in the operation is its own payload, resolved as the
 * member it signs in. Conservative: a field under `@skip`/`@include` counts, whatever the
 * variables say.
 */
export const tokenIssuerAlone: ValidationRule = (context) => {
  return {
    OperationDefinition(operation) {
      const root: GraphQLObjectType | null | undefined = context
        .getSchema()
        .getRootType(operation.operation);
      if (!root) return;
      const names = rootFieldNames(context.getDocument(), operation).filter(
        (name) => name !== '__typename',
      );
      const fields = root.getFields();
      const issuer = names.find((name) => fields[name]?.extensions?.issuesToken === true);
      const others = names.filter((name) => name !== issuer);
      // A second credential operation is the counting rule's to refuse (one error, not two).
      if (
        issuer &&
        others.length > 0 &&
        !others.some((name) => isCredentialOperation(fields[name]))
      ) {
        context.reportError(new CredentialOperationNotAlone(issuer));
      }
    },
  };
};

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
      addValidationRule(tokenIssuerAlone);
    },
  };
}
