import { createHash, timingSafeEqual } from 'node:crypto';
import { type DocumentNode, type ExecutionResult, getOperationAST } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { JobQueue } from '../jobs/queue.ts';
import {
  MAX_OPERATION_NAMES,
  METRICS_PATH,
  type MetricsOptions,
  type MetricsSources,
} from './metrics.ts';

/**
 * Prometheus metrics for one API, in a registry of its own, served at GET /metrics to a caller
 * with the METRICS_TOKEN bearer. Labels are bounded: operation name (capped, see
 * MAX_OPERATION_NAMES) and type, error code, queue name, pool state. Never an organization,
 * member or request id: those go to logs and traces.
 */
export function createMetricsPlugin(
  options: MetricsOptions & { token: string },
  sources: MetricsSources,
): Plugin {
  const token = options.token;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const names = operationNames(options.maxOperationNames ?? MAX_OPERATION_NAMES);

  const labelNames = ['operation_name', 'operation_type'] as const;
  const requests = new Counter({
    name: 'graphql_operations_total',
    help: 'GraphQL operations executed (subscriptions counted once, when they start)',
    labelNames,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'graphql_operation_duration_seconds',
    help: 'Time to execute a GraphQL operation (for a subscription: to its first event source)',
    labelNames,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const errors = new Counter({
    name: 'graphql_errors_total',
    help: 'Errors in GraphQL answers, by stable code (extensions.code, src/errors.ts)',
    labelNames: ['code'],
    registers: [registry],
  });
  new Gauge({
    name: 'graphql_subscription_streams_open',
    help: 'Subscription streams open on this instance',
    registers: [registry],
    collect() {
      this.set(sources.openStreams());
    },
  });
  const pool = sources.database.pool;
  if (pool) {
    new Gauge({
      name: 'db_pool_connections',
      help: 'The API connection pool: total, idle, and callers waiting for a connection',
      labelNames: ['state'],
      registers: [registry],
      collect() {
        const use = pool();
        this.set({ state: 'total' }, use.total);
        this.set({ state: 'idle' }, use.idle);
        this.set({ state: 'waiting' }, use.waiting);
      },
    });
  }
  const jobs = sources.jobs;
  if (jobs) {
    // One query per queue at scrape time, shared by both metrics below.
    let stats: ReturnType<JobQueue['stats']> | undefined;
    const current = () => {
      stats ??= jobs.stats().finally(() => {
        stats = undefined;
      });
      return stats;
    };
    new Gauge({
      name: 'job_queue_jobs',
      help: 'Jobs stored in each queue, by state (failed: still retained)',
      labelNames: ['queue', 'state'],
      registers: [registry],
      async collect() {
        for (const q of await current()) {
          this.set({ queue: q.queue, state: 'queued' }, q.queued);
          this.set({ queue: q.queue, state: 'active' }, q.active);
          this.set({ queue: q.queue, state: 'failed' }, q.failed);
        }
      },
    });
    new Counter({
      name: 'job_failed_attempts_total',
      help: "Job attempts that failed in this process's workers (retries included)",
      labelNames: ['queue'],
      registers: [registry],
      async collect() {
        this.reset();
        for (const q of await current()) this.inc({ queue: q.queue }, q.failedAttempts);
      },
    });
  }

  const started = new WeakMap<object, number>();
  const countErrors = (result: unknown) => {
    for (const one of Array.isArray(result) ? result : [result]) {
      const list = (one as ExecutionResult | undefined)?.errors;
      if (!list) continue;
      for (const error of list) errors.inc({ code: errorCode(error.extensions?.code) });
    }
  };

  return {
    onRequest({ request, url, endResponse, fetchAPI }) {
      if (url.pathname !== METRICS_PATH) return;
      if (request.method !== 'GET') {
        endResponse(new fetchAPI.Response(null, { status: 405, headers: { allow: 'GET' } }));
        return;
      }
      if (!bearerMatches(request.headers.get('authorization'), token)) {
        endResponse(
          new fetchAPI.Response(null, {
            status: 401,
            headers: { 'www-authenticate': 'Bearer realm="metrics"' },
          }),
        );
        return;
      }
      return registry.metrics().then((text) => {
        endResponse(
          new fetchAPI.Response(text, { headers: { 'content-type': registry.contentType } }),
        );
      });
    },
    onExecute({ args }) {
      const labels = operationLabels(args.document, args.operationName, names);
      requests.inc(labels);
      const since = performance.now();
      return {
        onExecuteDone() {
          duration.observe(labels, (performance.now() - since) / 1000);
        },
      };
    },
    onSubscribe({ args }) {
      const labels = operationLabels(args.document, args.operationName, names);
      requests.inc(labels);
      started.set(args.contextValue, performance.now());
      return {
        onSubscribeResult() {
          const since = started.get(args.contextValue);
          if (since !== undefined) duration.observe(labels, (performance.now() - since) / 1000);
        },
      };
    },
    // Every answer, parse and validation failures included, after error masking.
    onResultProcess({ result }) {
      if (result && typeof result === 'object' && Symbol.asyncIterator in result) return;
      countErrors(result);
    },
  };
}

type Labels = { operation_name: string; operation_type: string };

function operationLabels(
  document: DocumentNode,
  operationName: string | null | undefined,
  names: (name: string) => string,
): Labels {
  const operation = getOperationAST(document, operationName);
  if (!operation) return { operation_name: 'unknown', operation_type: 'unknown' };
  const name = operation.name?.value;
  return {
    operation_name: name ? names(name) : 'anonymous',
    operation_type: operation.operation,
  };
}

/** The first `max` distinct names are kept; later ones collapse to `other`. */
export function operationNames(max: number): (name: string) => string {
  const seen = new Set<string>();
  return (name) => {
    if (seen.has(name)) return name;
    if (seen.size >= max) return 'other';
    seen.add(name);
    return name;
  };
}

/** Our codes are SCREAMING_SNAKE_CASE (src/errors.ts, Yoga's); anything else is not a label. */
function errorCode(code: unknown): string {
  if (code === undefined) return 'INTERNAL_SERVER_ERROR';
  return typeof code === 'string' && /^[A-Z][A-Z0-9_]{0,63}$/.test(code) ? code : 'OTHER';
}

/** Constant-time: compares digests, so neither the length nor a prefix leaks through timing. */
function bearerMatches(header: string | null, token: string): boolean {
  const match = header?.match(/^Bearer\s+(\S+)\s*$/i);
  if (!match?.[1]) return false;
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(match[1]), digest(token));
}
