import { AsyncLocalStorage } from 'node:async_hooks';
import {
  type Context as OtelContext,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type {
  SqlDriverAdapter,
  SqlMigrationAwareDriverAdapterFactory,
  SqlQuery,
  Transaction,
} from '@prisma/driver-adapter-utils';
import { type ExecutionResult, getOperationAST } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Context } from '../context.ts';
import { requestIdOf } from '../http/request-log.ts';
import type { Tracing, TracingConfig } from './tracing.ts';

/** Span attributes of our own (the semantic conventions have no tenant). */
export const ATTRIBUTES = {
  organizationId: 'scopegraph.organization.id',
  requestId: 'scopegraph.request.id',
} as const;

/**
 * The SDK, loaded only when tracing is on (./tracing.ts). Spans are made explicitly, parent
 * passed by hand, so no context manager or module patching (no --import preload) is needed:
 * one SERVER span per HTTP request, with children for GraphQL parse, validate and execute (or
 * subscribe). The request id and, once authenticated, the organization id are attributes of
 * the request span and of the operation's span.
 */
export function createTracing(config: TracingConfig): Tracing {
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': config.serviceName }),
    spanProcessors: [
      new BatchSpanProcessor({
        exporter: new OTLPTraceExporter({ url: config.endpoint, headers: { ...config.headers } }),
      }),
    ],
  });
  const tracer = provider.getTracer('scopegraph');
  const requests = new WeakMap<Request, { span: Span; context: OtelContext }>();
  // The span a database query belongs under: the request's, or its operation's once it runs.
  const active = new AsyncLocalStorage<OtelContext>();
  const operations = new WeakMap<object, Span>();

  const child = (request: Request | undefined, name: string) => {
    const parent = request ? requests.get(request) : undefined;
    return tracer.startSpan(name, { kind: SpanKind.INTERNAL }, parent?.context ?? ROOT_CONTEXT);
  };
  const phase =
    (name: string) =>
    <T>({ context }: { context: { request?: Request } }, wrapped: () => T): T => {
      const span = child(context.request, name);
      try {
        return wrapped();
      } finally {
        span.end();
      }
    };
  const operation =
    (name: string) =>
    <T>({ context }: { context: object }, wrapped: () => T): T => {
      const ctx = context as Partial<Context> & { request?: Request };
      const span = child(ctx.request, name);
      operations.set(context, span);
      const organizationId = ctx.scope?.organizationId;
      if (organizationId) {
        span.setAttribute(ATTRIBUTES.organizationId, organizationId);
        if (ctx.request)
          requests.get(ctx.request)?.span.setAttribute(ATTRIBUTES.organizationId, organizationId);
      }
      if (ctx.request) span.setAttribute(ATTRIBUTES.requestId, requestIdOf(ctx.request));
      const end = () => span.end();
      try {
        const result = active.run(trace.setSpan(ROOT_CONTEXT, span), wrapped);
        if (isThenable(result)) return Promise.resolve(result).finally(end) as T;
        end();
        return result;
      } catch (error) {
        span.setStatus({ code: SpanStatusCode.ERROR });
        end();
        throw error;
      }
    };
  const describe = (args: {
    contextValue: object;
    document: Parameters<typeof getOperationAST>[0];
    operationName?: string | null | undefined;
  }) => {
    const span = operations.get(args.contextValue);
    const ast = getOperationAST(args.document, args.operationName);
    if (!span || !ast) return;
    const name = ast.name?.value;
    span.updateName(`${ast.operation}${name ? ` ${name}` : ''}`);
    span.setAttribute('graphql.operation.type', ast.operation);
    if (name) span.setAttribute('graphql.operation.name', name);
  };
  const failed = (contextValue: object, result: unknown) => {
    const errors = (result as ExecutionResult | undefined)?.errors;
    const span = operations.get(contextValue);
    if (!span || !errors?.length) return;
    span.setStatus({ code: SpanStatusCode.ERROR });
    const codes = [...new Set(errors.map((e) => String(e.extensions?.code ?? 'INTERNAL')))];
    span.setAttribute('graphql.error.codes', codes);
  };

  const plugin: Plugin = {
    instrumentation: {
      request: ({ request }, wrapped) => {
        const { pathname } = new URL(request.url, 'http://localhost');
        const span = tracer.startSpan(
          `${request.method} ${pathname}`,
          {
            kind: SpanKind.SERVER,
            attributes: {
              'http.request.method': request.method,
              'url.path': pathname,
              [ATTRIBUTES.requestId]: requestIdOf(request),
            },
          },
          ROOT_CONTEXT,
        );
        const context = trace.setSpan(ROOT_CONTEXT, span);
        requests.set(request, { span, context });
        return active.run(context, wrapped);
      },
      parse: phase('graphql.parse'),
      validate: phase('graphql.validate'),
      execute: operation('graphql.execute'),
      subscribe: operation('graphql.subscribe'),
    },
    onExecute({ args }) {
      describe(args);
      return { onExecuteDone: ({ result }) => failed(args.contextValue, result) };
    },
    onSubscribe({ args }) {
      describe(args);
    },
    onResponse({ request, response }) {
      const entry = requests.get(request);
      if (!entry) return;
      entry.span.setAttribute('http.response.status_code', response.status);
      if (response.status >= 500) entry.span.setStatus({ code: SpanStatusCode.ERROR });
      entry.span.end();
    },
  };
  /** A CLIENT span per statement sent while a request is handled (none outside requests). */
  const traceDatabase = <F extends SqlMigrationAwareDriverAdapterFactory>(factory: F): F => {
    const traced = <T extends SqlDriverAdapter | Transaction>(target: T): T =>
      new Proxy(target, {
        get(object, property, receiver) {
          const value = Reflect.get(object, property, receiver);
          if (property === 'queryRaw' || property === 'executeRaw') {
            return async (query: SqlQuery) => {
              const parent = active.getStore();
              if (!parent) return (value as (q: SqlQuery) => Promise<unknown>).call(object, query);
              const span = tracer.startSpan(
                'db.query',
                {
                  kind: SpanKind.CLIENT,
                  attributes: {
                    'db.system.name': 'postgresql',
                    // Parameterized: the values travel apart, in `args`, and are not recorded.
                    'db.query.text': query.sql.slice(0, 2_000),
                  },
                },
                parent,
              );
              try {
                return await (value as (q: SqlQuery) => Promise<unknown>).call(object, query);
              } catch (error) {
                span.setStatus({ code: SpanStatusCode.ERROR });
                throw error;
              } finally {
                span.end();
              }
            };
          }
          if (property === 'startTransaction') {
            return async (...args: unknown[]) =>
              traced(
                await (value as (...a: unknown[]) => Promise<Transaction>).apply(object, args),
              );
          }
          return typeof value === 'function' ? value.bind(object) : value;
        },
      });
    return new Proxy(factory, {
      get(object, property, receiver) {
        if (property === 'connect') return async () => traced(await object.connect());
        const value = Reflect.get(object, property, receiver);
        return typeof value === 'function' ? value.bind(object) : value;
      },
    });
  };

  return Object.freeze({
    plugin,
    traceDatabase,
    flush: () => provider.forceFlush(),
    // A collector that is down must neither crash nor hold up the exit: bounded, never rejects.
    shutdown: async () => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<string>((resolve) => {
        timer = setTimeout(() => resolve('timed out'), SHUTDOWN_TIMEOUT_MS).unref();
      });
      try {
        return await Promise.race([provider.shutdown().then(() => null), timeout]);
      } catch (error) {
        return error instanceof Error ? error.message : String(error);
      } finally {
        clearTimeout(timer);
      }
    },
  });
}

/** How long shutdown waits for the last spans to reach the collector. */
const SHUTDOWN_TIMEOUT_MS = 3_000;

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}
