import type { Plugin } from 'graphql-yoga';
import { currentRequestFields, type Logger, withRequestFields } from '../logging.ts';
import { METRICS_PATH } from '../observability/metrics.ts';
import { requestIdOf } from './request-log.ts';

/**
 * Probes a load balancer sends every few seconds, and Prometheus's scrapes: logged at debug, not
 * info.
 */
const PROBES = new Set(['/health', '/live', METRICS_PATH]);

const started = new WeakMap<Request, number>();

/**
 * One line per HTTP request, whatever answered it: GraphQL, GraphiQL, /admin/graphql, the shape
 * proxy, an export download, or a refusal before any of them ran (CSRF, body size, a bad admin
 * token, an unknown route). Method, path (never the query string: an export link carries its
 * token there), status, duration to the response's head (for a stream: until it opens), request
 * id and, once authenticated, the organization.
 *
 * It also binds the request's fields to everything logged while the request is handled
 * (src/logging.ts), so that an `unexpected error` line names its request. Its place among the
 * plugins does not matter: the request instrumentation wraps every hook, and `onResponse` runs
 * for every answer, even one a route gave in `onRequest` (which skips the later `onRequest`s).
 */
export function useAccessLog(logger: Logger): Plugin {
  return {
    instrumentation: {
      request: ({ request }, handle) => {
        started.set(request, performance.now());
        return withRequestFields({ requestId: requestIdOf(request) }, handle);
      },
    },
    onResponse({ request, response }) {
      const since = started.get(request);
      const { pathname } = new URL(request.url, 'http://localhost');
      const status = response.status;
      const level = status >= 500 ? 'warn' : PROBES.has(pathname) ? 'debug' : 'info';
      logger[level](
        {
          method: request.method,
          path: pathname,
          status,
          durationMs:
            since === undefined ? null : Math.round((performance.now() - since) * 10) / 10,
          requestId: requestIdOf(request),
          organizationId: currentRequestFields()?.organizationId ?? null,
        },
        'http request',
      );
    },
  };
}
