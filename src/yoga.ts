import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import { useDisableIntrospection } from '@graphql-yoga/plugin-disable-introspection';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import { PothosSchemaError, PothosValidationError } from '@pothos/core';
import { GraphQLError, locatedError } from 'graphql';
import { createYoga, type Plugin, useReadinessCheck } from 'graphql-yoga';
import { createAccounts } from './auth/accounts.ts';
import { authenticate } from './auth/authenticate.ts';
import type { TokenService } from './auth/tokens.ts';
import type { Context } from './context.ts';
import { isDatabaseUnavailable } from './db/availability.ts';
import type { Database } from './db/database.ts';
import { createSystemClient } from './db/system.ts';
import { type AppError, BadUserInput, Conflict, NotFound, ServiceUnavailable } from './errors.ts';
import {
  REQUEST_LIMITS,
  useDocumentTokenLimit,
  useMalformedRequestErrors,
  useRequestBodyLimit,
  useWellFormedVariables,
} from './limits.ts';
import { type Logger, requestIdOf, useRequestLog } from './logging.ts';
import { schema } from './schema/index.ts';
import { createScopedClients } from './tenancy/scoped-client.ts';

export type ApiOptions = Readonly<{
  database: Database;
  tokens: TokenService;
  logger: Logger;
  introspection: boolean;
  /** GraphiQL's starting tab; false turns GraphiQL off. */
  graphiql: Readonly<{ defaultQuery: string; headers?: string }> | false;
}>;

export type Api = Readonly<{
  yoga: ReturnType<typeof createYoga<Record<string, unknown>, Context>>;
  close: () => Promise<void>;
}>;

export const GRAPHQL_PATH = '/graphql';
const LIMITS = { batch: 10, aliases: 30 } as const;

/** The HTTP API over one database: Yoga, the schema, authentication, limits and logging. */
export function createApi(options: ApiOptions): Api {
  const { database, tokens, logger } = options;
  // Used here for two things only: sign-up/sign-in and the readiness check. Never in a context.
  const system = createSystemClient(database);
  const scoped = createScopedClients(database.adapter);
  const accounts = createAccounts(system, scoped, tokens);

  const yoga = createYoga<Record<string, unknown>, Context>({
    schema,
    graphqlEndpoint: GRAPHQL_PATH,
    landingPage: false,
    batching: { limit: LIMITS.batch },
    logging: {
      debug: (...args) => logger.debug(args),
      info: (...args) => logger.info(args),
      warn: (...args) => logger.warn(args),
      error: (...args) => logger.error(args),
    },
    healthCheckEndpoint: '/live',
    graphiql: options.graphiql
      ? {
          title: 'scopegraph',
          defaultQuery: options.graphiql.defaultQuery,
          ...(options.graphiql.headers ? { headers: options.graphiql.headers } : {}),
          shouldPersistHeaders: false,
        }
      : false,
    // Served inline by the app: no CDN, so it works offline and under a strict CSP.
    renderGraphiQL,
    maskedErrors: { maskError: (error, message) => maskError(error, message, logger) },
    context: async ({ request }): Promise<Context> => {
      const scope = await authenticate(request.headers.get('authorization'), tokens, scoped);
      return Object.freeze({
        requestId: requestIdOf(request),
        scope,
        db: scope ? scoped.scopedDb(scope) : null,
        accounts,
      });
    },
    plugins: [
      // Before anything reads the body or parses the document: see src/limits.ts.
      useRequestBodyLimit(REQUEST_LIMITS.bodyBytes),
      useMalformedRequestErrors(),
      useDocumentTokenLimit(REQUEST_LIMITS.documentTokens),
      useWellFormedVariables(),
      useCSRFPrevention({ requestHeaders: ['x-graphql-yoga-csrf', 'apollo-require-preflight'] }),
      maxAliasesPlugin({
        n: LIMITS.aliases,
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
      }),
      options.introspection ? {} : useDisableIntrospection(),
      useReadinessCheck({
        endpoint: '/health',
        // A failure is logged and answered with a bare 503: the error's text would show
        // source paths and the database's address.
        check: async () => {
          try {
            await system.organization.count({ take: 1 });
            return true;
          } catch (error) {
            logger.warn({ err: error }, 'health check failed');
            return false;
          }
        },
      }),
      useRequestLog(logger),
    ] as Plugin<Record<string, unknown>>[],
  });

  return Object.freeze({
    yoga,
    close: async () => {
      await scoped.disconnect();
      await system.$disconnect();
    },
  });
}

/**
 * Expected errors pass through; a few of Prisma's are translated (the row vanished between
 * check and write: NOT_FOUND; a unique key raced: CONFLICT; text PostgreSQL cannot store:
 * BAD_USER_INPUT); everything else is logged and replaced by Yoga's generic message, so no
 * SQL, stack or Prisma text reaches a client.
 */
function maskError(error: unknown, message: string, logger: Logger): Error {
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
    // A global id naming a type that does not exist (base64url("Nope:<uuid>")) reaches Pothos'
    // node lookup, which reports the type as not implemented.
    const root = String(located.path?.[0]);
    if (original instanceof PothosSchemaError && (root === 'node' || root === 'nodes')) {
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
