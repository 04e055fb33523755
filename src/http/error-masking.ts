import { PothosSchemaError, PothosValidationError } from '@pothos/core';
import { GraphQLError, locatedError } from 'graphql';
import { isDatabaseUnavailable } from '../db/availability.ts';
import { type AppError, BadUserInput, Conflict, NotFound, ServiceUnavailable } from '../errors.ts';
import type { Logger } from '../logging.ts';

/**
 * Expected errors pass through; a few of Prisma's are translated (the row vanished between
 * check and write: NOT_FOUND; a unique key raced: CONFLICT; text PostgreSQL cannot store:
 * BAD_USER_INPUT); everything else is logged and replaced by Yoga's generic message, so no
 * SQL, stack or Prisma text reaches a client.
 */
export function maskError(error: unknown, message: string, logger: Logger): Error {
  const located = error instanceof GraphQLError ? error : null;
  const original = located?.originalError ?? error;
  const at = (replacement: AppError) => locatedError(replacement, located?.nodes, located?.path);
  // GraphQL's own errors (syntax, validation, limits) and AppErrors keep their message,
  // extensions and path.
  if (located && (!located.originalError || original instanceof GraphQLError)) {
    // A client's mistake that graphql-js or Pothos reports without a code gets the stable one.
    // Set on the same object, as Yoga does for its own codes: Yoga logs every error maskError
    // replaces, and these are not the server's errors.
    if (located.extensions.code === undefined && isUncodedInputError(located, original)) {
      located.extensions.code = 'BAD_USER_INPUT';
    }
    // A well-formed global id of a type that does not exist (base64url("Nope:<uuid>")), or of
    // one that is not a Node ("Notification:<uuid>"), reaches Pothos' node lookup, which names
    // the type in its answer ("… does not support loading by id"): both are "Invalid id", as a
    // malformed id is, so that the answer does not tell which type names exist.
    const root = String(located.path?.[0]);
    const lookup = root === 'node' ? located.path?.length === 1 : root === 'nodes';
    const pothos =
      original instanceof PothosSchemaError || original instanceof PothosValidationError;
    if (pothos && lookup && (located.path?.length ?? 0) <= 2) {
      return at(new BadUserInput('Invalid id', root === 'node' ? 'id' : 'ids'));
    }
    return located;
  }
  const code = (original as { code?: unknown } | null)?.code;
  if (code === 'P2025') return at(new NotFound());
  if (code === 'P2002') return at(new Conflict('Already exists'));
  // Only a client's text reaches PostgreSQL with a character it cannot store (NUL): inputs
  // with rules refuse it first (src/schema/validation.ts); this covers those without (signIn).
  if (UNSTORABLE_TEXT.has(sqlStateOf(original) ?? '')) {
    return at(new BadUserInput('Text contains a character that cannot be stored (NUL)'));
  }
  if (isDatabaseUnavailable(original)) {
    logger.warn({ err: original }, 'database unavailable');
    return at(new ServiceUnavailable());
  }
  logger.error({ err: original }, 'unexpected error');
  return new GraphQLError(message, { extensions: { code: 'INTERNAL_SERVER_ERROR' } });
}

/**
 * Pothos' input checks (a malformed cursor, `first: -1`), and errors about the request as a
 * whole (no path; the caller has ruled out a non-GraphQL cause): a variable of the wrong type,
 * an operation the schema does not have ("subscription"). The executor marks those 400; other
 * statuses are the HTTP layer's (CSRF: 403), which need no code.
 */
function isUncodedInputError(error: GraphQLError, original: unknown): boolean {
  if (original instanceof PothosValidationError) return true;
  const status = (error.extensions.http as { status?: unknown } | undefined)?.status;
  return !error.path && (status === undefined || status === 400);
}

/** 22021: invalid byte sequence (PostgreSQL's answer to NUL); 22P05: untranslatable character. */
const UNSTORABLE_TEXT = new Set(['22021', '22P05']);

function sqlStateOf(error: unknown): string | undefined {
  const meta = (error as { meta?: { driverAdapterError?: { cause?: { originalCode?: unknown } } } })
    ?.meta;
  const sqlState = meta?.driverAdapterError?.cause?.originalCode;
  return typeof sqlState === 'string' ? sqlState : undefined;
}
