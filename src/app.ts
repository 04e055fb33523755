import path from 'node:path';
import { createAdminCredentials } from './admin/credential.ts';
import { ADMIN_PATH } from './admin/endpoint.ts';
import { DEFAULT_HASHING } from './auth/passwords.ts';
import { resolveJwtSecret } from './auth/secret.ts';
import { connectWindowLogs, memoryWindowLogs } from './auth/sliding-window.ts';
import { createTokenService } from './auth/tokens.ts';
import type { Config } from './config.ts';
import { openDatabase } from './db/database.ts';
import { type DemoLogin, logAdminToken, logDemoAccounts } from './db/demo-log.ts';
import { applyMigrations } from './db/migrations/commands.ts';
import { DEMO_PASSWORD, demoAccounts, seedDemo } from './db/seed.ts';
import { createSystemClient } from './db/system.ts';
import { createEventBus } from './events/bus.ts';
import { type Api, createApi, GRAPHQL_PATH } from './http/yoga.ts';
import { createJobQueue } from './jobs/queue.ts';
import { createLogger, type Logger, logFormat } from './logging.ts';
import { loadMetrics, startTracing } from './observability/load.ts';

export type App = Api &
  Readonly<{
    logger: Logger;
    /** Stops the job workers after their current job, waiting up to `timeoutMs`. */
    stopJobWorkers: (timeoutMs: number) => Promise<void>;
  }>;

/**
 * Boots the API: the database (embedded unless DATABASE_URL is set), pending migrations
 * (always on the embedded database; on a server outside production), the demo data in
 * development, tokens, and GraphiQL opened on an example query with a demo token.
 */
export async function startApp(config: Config): Promise<App> {
  // Phase timings (debug): where start-up time goes; see bench/startup.ts.
  let mark = performance.now();
  const lap = () => {
    const now = performance.now();
    const ms = Math.round(now - mark);
    mark = now;
    return ms;
  };
  const format = logFormat(
    { chosen: config.logFormat, production: config.production },
    Boolean(process.stdout.isTTY),
  );
  const logger = createLogger(config.logLevel, { format });
  // performance.now() counts from process start: this is Node plus module loading.
  logger.debug({ ms: Math.round(mark) }, 'startup: modules loaded');
  lap();
  const { secret, source } = resolveJwtSecret({
    secret: config.jwtSecret,
    production: config.production,
    dataDir: config.dataDir,
  });
  if (source === 'generated') {
    logger.warn(
      { file: path.join(config.dataDir, 'jwt-secret') },
      'No JWT_SECRET set: generated a development secret (set JWT_SECRET in production)',
    );
  }
  const tokens = createTokenService({ secret, jwks: config.jwks });

  const database = await openDatabase({
    url: config.databaseUrl,
    preparedStatements: config.preparedStatements,
    citus: config.citus,
    dataDir: path.join(config.dataDir, 'pglite'),
  });
  logger.info({ database: database.location, origin: database.origin }, 'database opened');
  logger.debug({ ms: lap() }, 'startup: database opened');
  if (database.kind === 'pglite' || !config.production) {
    const { applied } = await applyMigrations(database.adapter);
    if (applied.length > 0) logger.info({ applied }, 'migrations applied');
    logger.debug({ ms: lap() }, 'startup: migrations checked');
  }

  let graphiqlHeaders: string | undefined;
  let demo: DemoLogin[] | undefined;
  if (config.seedDemo) {
    const system = createSystemClient(database);
    try {
      if (await seedDemo(system)) logger.info('demo data seeded');
      const accounts = await demoAccounts(system);
      const withTokens = await Promise.all(
        accounts.map(async (a) => ({
          ...a,
          token: await tokens.issue(a),
        })),
      );
      const first = withTokens[0];
      if (first)
        graphiqlHeaders = JSON.stringify({ Authorization: `Bearer ${first.token}` }, null, 2);
      demo = withTokens.map(({ organizationSlug, email, role, token }) => ({
        organizationSlug,
        email,
        role,
        token,
      }));
    } finally {
      await system.$disconnect();
    }
    logger.debug({ ms: lap() }, 'startup: demo data seeded or checked');
  }

  const events = createEventBus({
    redisUrl: config.redisUrl,
    onError: (error) => logger.warn({ err: error }, 'subscription events: Redis error'),
  });
  logger.info({ events: events.kind }, 'subscription events');
  const jobs = await createJobQueue(database, { logger });
  // Credential rate limits and lockouts hold across instances when they share a Redis.
  const limits = config.redisUrl
    ? connectWindowLogs(config.redisUrl, (error) =>
        logger.warn({ err: error }, 'credential limits: Redis error'),
      )
    : memoryWindowLogs();
  // Loads the OpenTelemetry SDK only when an OTLP endpoint is configured.
  const tracing = config.tracing ? await startTracing(config.tracing) : undefined;
  if (config.tracing) {
    const { origin, pathname } = new URL(config.tracing.endpoint); // no credentials in the log
    logger.info({ endpoint: `${origin}${pathname}` }, 'tracing: OTLP export');
  }
  const api = createApi({
    database,
    events,
    metrics: config.metricsToken ? await loadMetrics({ token: config.metricsToken }) : undefined,
    tracing,
    jobs,
    electricUrl: config.electricUrl,
    tokens,
    adminSecret: config.adminJwtSecret ?? secret,
    logger,
    introspection: config.introspection,
    trustProxy: config.trustProxy,
    corsOrigins: config.corsOrigins,
    credentials: {
      limits,
      hashing: { ...DEFAULT_HASHING, concurrency: config.passwordHashConcurrency },
    },
    graphiql: config.production
      ? false
      : { defaultQuery: EXAMPLE_QUERY, ...(graphiqlHeaders ? { headers: graphiqlHeaders } : {}) },
  });
  logger.debug({ ms: lap() }, 'startup: API built');
  if (config.jobWorkers) await api.startJobWorkers();
  logger.info({ queue: jobs.kind, workers: config.jobWorkers }, 'job queue');
  if (demo) logDemoAccounts(logger, format, { password: DEMO_PASSWORD, accounts: demo });
  if (demo) {
    const token = await createAdminCredentials(config.adminJwtSecret ?? secret).issue(
      'ops@scopegraph.example',
    );
    logAdminToken(logger, format, { endpoint: ADMIN_PATH, token });
  }
  logger.debug({ ms: lap() }, 'startup: job workers and logs');
  return Object.freeze({
    ...api,
    logger,
    stopJobWorkers: (timeoutMs: number) => jobs.close(timeoutMs),
    // Each step logged, so that a shutdown that hangs shows where.
    close: async () => {
      await jobs.close();
      await api.close();
      await events.close();
      await limits.close();
      logger.info({ events: events.kind }, 'shutdown: subscription events and limits closed');
      await database.close();
      logger.info({ database: database.location }, 'shutdown: database closed');
      if (tracing) {
        const failure = await tracing.shutdown(); // sends the spans still buffered
        if (failure) logger.warn({ reason: failure }, 'shutdown: the last spans were not exported');
        else logger.info('shutdown: traces exported');
      }
    },
  });
}

export const EXAMPLE_QUERY = `# Welcome to scopegraph. Press the run button.
# The Headers tab below holds a demo token for Acme's owner.
# Other demo accounts and tokens are in the server log.
query Feed {
  viewer { name email role organization { name slug } }
  posts(first: 5) {
    totalCount
    edges {
      node {
        id
        title
        author { name }
        comments(first: 3) { edges { node { body author { name } } } }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
`;

export { GRAPHQL_PATH };
