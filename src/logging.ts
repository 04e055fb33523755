import { randomUUID } from 'node:crypto';
import { getOperationAST } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import pino, { type Logger } from 'pino';
import type { Context } from './context.ts';

export type { Logger };

export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'scopegraph' } });
}

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

/**
 * One structured line per GraphQL operation: request id, organization, user, operation name,
 * duration and whether it produced errors. Never variables or results: they hold tenant data.
 */
export function useRequestLog(logger: Logger): Plugin<Context> {
  return {
    onExecute({ args }) {
      const started = performance.now();
      const ctx = args.contextValue;
      return {
        onExecuteDone({ result }) {
          const errors = 'errors' in result ? (result.errors?.length ?? 0) : 0;
          logger.info(
            {
              requestId: ctx.requestId,
              organizationId: ctx.scope?.organizationId ?? null,
              userId: ctx.scope?.user?.id ?? null,
              operationName:
                getOperationAST(args.document, args.operationName)?.name?.value ?? null,
              durationMs: Math.round((performance.now() - started) * 10) / 10,
              errors,
            },
            'graphql operation',
          );
        },
      };
    },
    onResponse({ request, response }) {
      response.headers.set('x-request-id', requestIdOf(request));
    },
  };
}
