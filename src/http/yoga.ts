import { createYoga, type Plugin, useReadinessCheck } from 'graphql-yoga';
import { useAdminEndpoint } from '../admin/endpoint.ts';
import { createAccounts } from '../auth/accounts.ts';
import { memberScope, verifyCredential } from '../auth/authenticate.ts';
import {
  type CredentialPolicy,
  createCredentialGuard,
  DEFAULT_CREDENTIAL_POLICY,
} from '../auth/credential-guard.ts';
import { useOneCredentialOperation } from '../auth/credential-operations.ts';
import { createPasswordHasher, DEFAULT_HASHING, type HashingLimits } from '../auth/passwords.ts';
import { memoryWindowLogs, type WindowLogs } from '../auth/sliding-window.ts';
import type { TokenService } from '../auth/tokens.ts';
import { type Context, createContext } from '../context.ts';
import type { Database } from '../db/database.ts';
import { createSystemClient } from '../db/system.ts';
import { createEventBus, type EventBus } from '../events/bus.ts';
import { createStreamSlots, memberStreams, type StreamLimits } from '../events/streams.ts';
import { useComplexityOncePerDocument } from '../execution/complexity.ts';
import {
  type ExecutionCounts,
  executionCounts,
  useCompiledExecution,
} from '../execution/plugin.ts';
import type { GrantedScopes } from '../execution/run.ts';
import type { JobQueue } from '../jobs/queue.ts';
import { scopedJobs } from '../jobs/scoped.ts';
import { jobHandlers } from '../jobs/workers.ts';
import { type Logger, noteOrganization } from '../logging.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { Tracing } from '../observability/tracing.ts';
import { grantedScopes as builderScopes } from '../schema/builder.ts';
import { schema } from '../schema/index.ts';
import { createScopedClients } from '../tenancy/scoped-client.ts';
import { useAccessLog } from './access-log.ts';
import { clientAddress } from './client-address.ts';
import { corsFor, useSecurityHeaders } from './edge.ts';
import { EDGE_YOGA_OPTIONS, edgePlugins } from './edge-plugins.ts';
import { maskError } from './error-masking.ts';
import { createExportLinks, useExportDownload } from './export-download.ts';
import { REQUEST_LIMITS } from './limits.ts';
import { requestIdOf, useMemberRequestLog, useRequestIdHeader, yogaLogger } from './request-log.ts';
import { useSchemaSdl } from './schema-sdl.ts';
import { useShapeProxy } from './shape-proxy.ts';
import { useGraphQLSseStream } from './sse-stream.ts';
import {
  endUnitOfWork,
  trackUnitOfWork,
  useUnitOfWork,
  wantsUnitOfWork,
  withAtomicRootFields,
} from './unit-of-work.ts';

export type ApiOptions = Readonly<{
  database: Database;
  /** Where subscription events travel (src/events/bus.ts): in memory, or Redis across instances. */
  events?: EventBus;
  /** ElectricSQL's base URL for the shape proxy (src/http/shape-proxy.ts); unset turns it off. */
  electricUrl?: string | undefined;
  /** The job queue (src/jobs/queue.ts); without it no job is sent (comments notify no one). */
  jobs?: JobQueue;
  tokens: TokenService;
  logger: Logger;
  introspection: boolean;
  /** GraphiQL's starting tab; false turns GraphiQL off. */
  graphiql: Readonly<{ defaultQuery: string; headers?: string }> | false;
  /** Signs and checks platform-admin tokens (src/admin/); unset turns /admin/graphql off. */
  adminSecret?: string | undefined;
  /** Open subscription streams allowed per member and per organization, on each instance. */
  streamLimits?: StreamLimits;
  /** TRUST_PROXY (src/http/client-address.ts): who may name the client; unset, nobody. */
  trustProxy?: string | undefined;
  /** CORS_ORIGINS (src/http/edge.ts): the origins a browser may call from; none by default. */
  corsOrigins?: readonly string[];
  /**
   * Rate limits, lockout and the password-hashing cap (src/auth/credential-guard.ts,
   * src/auth/passwords.ts). Unset: the production defaults, with the limits in memory.
   */
  credentials?: CredentialOptions;
  /** GET /metrics (src/observability/load.ts: loadMetrics), behind METRICS_TOKEN; unset, none. */
  metrics?: Metrics | undefined;
  /** OpenTelemetry spans (src/observability/tracing.ts); unset, none. */
  tracing?: Tracing | undefined;
  /**
   * Query documents on their compiled plan (src/execution/plan.ts); true unless turned off
   * (the bench and the equivalence test run both paths side by side).
   */
  compiledExecution?: boolean;
}>;

export type CredentialOptions = Readonly<{
  policy?: CredentialPolicy;
  /** Where the limits are counted: pass `redisWindowLogs` to share them between instances. */
  limits?: WindowLogs;
  hashing?: HashingLimits;
  /** The guard's clock (ms), for tests of the lockout's backoff. */
  now?: () => number;
}>;

export type Api = Readonly<{
  yoga: ReturnType<typeof createYoga<Record<string, unknown>, Context>>;
  /** Works the job queue in this process (an instance may leave that to others). */
  startJobWorkers: () => Promise<void>;
  /** Password hashes started so far (tests check that refused requests hashed nothing). */
  passwordHashes: () => number;
  /** Operations per execution path (src/execution/plugin.ts). */
  executions: Readonly<ExecutionCounts>;
  /** Shutdown: completes every open subscription stream, refuses new ones; returns the count. */
  endStreams: () => number;
  close: () => Promise<void>;
}>;

export const GRAPHQL_PATH = '/graphql';

/**
 * The rendered page passes its options on to its WebSocket client (Yoga's GraphiQL options do
 * not declare `connectionParams`): the starting tab's Authorization, as the server asks for it.
 */
function graphiqlConnectionParams(headers: string | undefined) {
  if (!headers) return {};
  const authorization = (JSON.parse(headers) as Record<string, unknown>).Authorization;
  return typeof authorization === 'string' ? { connectionParams: { authorization } } : {};
}
const LIMITS = { batch: 10 } as const;

const grantedScopes = builderScopes as GrantedScopes;

/** The HTTP API over one database: Yoga, the schema, authentication, limits and logging. */
export function createApi(options: ApiOptions): Api {
  const { tokens, logger } = options;
  const database = options.tracing // a span per statement (src/observability/tracing.ts)
    ? { ...options.database, adapter: options.tracing.traceDatabase(options.database.adapter) }
    : options.database;
  // Used here for two things only: sign-up/sign-in and the readiness check. Never in a context.
  const system = createSystemClient(database);
  const scoped = createScopedClients(database.adapter);
  const hasher = createPasswordHasher(options.credentials?.hashing ?? DEFAULT_HASHING);
  const guard = createCredentialGuard(
    options.credentials?.limits ?? memoryWindowLogs(),
    options.credentials?.policy ?? DEFAULT_CREDENTIAL_POLICY,
    options.credentials?.now,
  );
  const accounts = createAccounts(system, scoped, tokens, guard, hasher);
  const eventBus = options.events ?? createEventBus();
  const streamSlots = createStreamSlots(options.streamLimits);
  const clientOf = clientAddress(options.trustProxy);
  const executions = executionCounts();
  const context = createContext({
    tokens,
    accounts,
    scopedDb: scoped.scopedDb,
    events: eventBus,
    jobs: (organization, jobOptions) =>
      options.jobs ? scopedJobs(options.jobs, organization, logger, jobOptions) : null,
    streams: (credential, events) =>
      memberStreams({ credential, scoped, events, slots: streamSlots }),
    unitOfWork: {
      wants: wantsUnitOfWork,
      open: (kind, organization) =>
        kind === 'write' ? scoped.write(organization) : scoped.read(organization),
      track: trackUnitOfWork,
      end: endUnitOfWork,
    },
    exportLinks: createExportLinks(tokens),
  });

  const yoga = createYoga<Record<string, unknown>, Context>({
    // Each mutation root field one part of its operation's unit of work.
    schema: withAtomicRootFields(schema),
    graphqlEndpoint: GRAPHQL_PATH,
    ...EDGE_YOGA_OPTIONS,
    landingPage: false,
    cors: corsFor(options.corsOrigins ?? []),
    batching: { limit: LIMITS.batch },
    logging: yogaLogger(logger),
    healthCheckEndpoint: '/live',
    graphiql: options.graphiql
      ? {
          title: 'scopegraph',
          defaultQuery: options.graphiql.defaultQuery,
          ...(options.graphiql.headers ? { headers: options.graphiql.headers } : {}),
          shouldPersistHeaders: false,
          // Subscriptions over the WebSocket (src/http/websocket.ts), authenticated by the
          // starting tab's token in connectionParams: GraphiQL sends the Headers tab over HTTP
          // only, never on a WebSocket.
          subscriptionsProtocol: 'WS' as const,
          ...graphiqlConnectionParams(options.graphiql.headers),
        }
      : false,
    // Served inline by the app: no CDN, so it works offline and under a strict CSP. Imported on
    // the first page asked for: the module holds GraphiQL's whole bundle as strings, ~70 MB of
    // resident memory that a server without GraphiQL (production) never needs.
    renderGraphiQL: async (graphiql) =>
      (await import('@graphql-yoga/render-graphiql')).renderGraphiQL(graphiql),
    maskedErrors: { maskError: (error, message) => maskError(error, message, logger) },
    context: async ({ request, ...server }) => {
      const ctx = await context({
        request,
        requestId: requestIdOf(request),
        client: clientOf(request, server),
      });
      noteOrganization(ctx.scope?.organizationId);
      return ctx;
    },
    plugins: [
      ...(options.tracing ? [options.tracing.plugin] : []),
      // GET /metrics for a scraper with the METRICS_TOKEN bearer: src/observability/metrics.ts.
      ...(options.metrics
        ? [options.metrics({ database, jobs: options.jobs, openStreams: streamSlots.count })]
        : []),
      // Times every request and sees every answer, refusals included: src/http/access-log.ts.
      useAccessLog(logger),
      // Its own route and Yoga, /admin/graphql, behind the admin token: src/admin/endpoint.ts.
      useAdminEndpoint({
        secret: options.adminSecret,
        system,
        jobs: options.jobs,
        events: eventBus,
        logger,
        introspection: options.introspection,
        clientOf,
      }),
      // Its own route, GET /v1/shape, answered before the GraphQL machinery sees it.
      useShapeProxy({
        electricUrl: options.electricUrl,
        authenticate: async (authorization) => {
          const credential = await verifyCredential(authorization, tokens);
          if (!credential) return null;
          const scope = await memberScope(credential, scoped.scopedDb(credential.organization));
          noteOrganization(scope.organizationId);
          return scope;
        },
        logger,
      }),
      useExportDownload(tokens, scoped), // GET /exports/<id>?token=…
      useSchemaSdl(schema, options.introspection), // GET /graphql/schema.graphql (development)
      // graphql-sse, single connection mode too, on /graphql/stream: src/http/sse-stream.ts.
      ...useGraphQLSseStream(),
      // Refusals before anything runs, the same in every Yoga: src/http/edge-plugins.ts.
      ...edgePlugins({
        introspection: options.introspection,
        documentChecks: [useOneCredentialOperation(schema, REQUEST_LIMITS.documentTokens)],
      }),
      // Every answer, from every route above and below, on its way out.
      useSecurityHeaders(),
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
      useMemberRequestLog(logger),
      useRequestIdHeader(),
      useUnitOfWork(logger),
      useComplexityOncePerDocument(executions),
      ...(options.compiledExecution === false
        ? []
        : [useCompiledExecution({ grantedScopes, logger, counts: executions })]),
    ] as Plugin<Record<string, unknown>>[],
  });

  return Object.freeze({
    yoga,
    startJobWorkers: async () => {
      const queue = options.jobs;
      if (!queue) throw new Error('No job queue to work: pass `jobs` to createApi');
      await queue.work(jobHandlers({ queue, system, scoped, logger }));
    },
    passwordHashes: hasher.started,
    executions,
    endStreams: streamSlots.endAll,
    close: async () => {
      if (!options.events) await eventBus.close();
      await scoped.disconnect();
      await system.$disconnect();
    },
  });
}
