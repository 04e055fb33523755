import { randomUUID } from 'node:crypto';
import { getOperationAST } from 'graphql';
import type { Plugin, YogaLogger } from 'graphql-yoga';
import type { Context } from '../context.ts';
import type { Logger } from '../logging.ts';

/**
 * The request's id and its log line, for every Yoga of the API (tenant and admin). Apart from the
 * logger (src/logging.ts), which the jobs use too: a logger module typed on the context made the
 * context import itself (context.ts → jobs/scoped.ts → jobs/queue.ts → logging.ts → context.ts).
 */

const requestIds = new WeakMap<Request, string>();

/**
 * The request's id, the same for every caller: a caller-supplied X-Request-Id when it looks
 * like one, otherwise a new one.
 */
export function requestIdOf(request: Request): string {
  let id = requestIds.get(request);
  if (!id) {
    const given = request.headers.get('x-request-id');
    id = given && /^[A-Za-z0-9._-]{1,128}$/.test(given) ? given : randomUUID();
    requestIds.set(request, id);
  }
  return id;
}

/** Yoga's own log output (its `logging` option), through the app's logger. */
export function yogaLogger(logger: Logger): YogaLogger {
  return {
    debug: (...args) => logger.debug(args),
    info: (...args) => logger.info(args),
    warn: (...args) => logger.warn(args),
    error: (...args) => logger.error(args),
  };
}

export type RequestLogOptions<C> = Readonly<{
  /** The line's message, e.g. 'graphql operation'. */
  message: string;
  /** Who asked, from the context: request id, organization and user, or admin. */
  who: (ctx: C) => Record<string, unknown>;
}>;

/**
 * One structured line per GraphQL operation: who asked, the operation's name, its duration and
 * whether it produced errors. Never variables or results: they hold tenant data.
 */
export function useRequestLog<C extends Record<string, unknown>>(
  logger: Logger,
  options: RequestLogOptions<C>,
): Plugin<C> {
  return {
    onExecute({ args }) {
      const started = performance.now();
      const ctx = args.contextValue;
      return {
        onExecuteDone({ result }) {
          logger.info(
            {
              ...options.who(ctx),
              operationName:
                getOperationAST(args.document, args.operationName)?.name?.value ?? null,
              durationMs: Math.round((performance.now() - started) * 10) / 10,
              errors: 'errors' in result ? (result.errors?.length ?? 0) : 0,
            },
            options.message,
          );
        },
      };
    },
  };
}

/** The tenant Yoga's line: the member's organization and user, null when anonymous. */
export function useMemberRequestLog(logger: Logger): Plugin<Context> {
  return useRequestLog<Context>(logger, {
    message: 'graphql operation',
    who: (ctx) => ({
      requestId: ctx.requestId,
      organizationId: ctx.scope?.organizationId ?? null,
      userId: ctx.scope?.user?.id ?? null,
    }),
  });
}

/** Every answer names its request id, so that a client can quote it (the tenant Yoga's). */
export function useRequestIdHeader(): Plugin {
  return {
    onResponse({ request, response }) {
      response.headers.set('x-request-id', requestIdOf(request));
    },
  };
}
