import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import pino from 'pino';
import { z } from 'zod';
import { DEFAULT_HASHING } from './auth/passwords.ts';
import { parseTrustProxy } from './http/client-address.ts';
import type { LogFormat } from './logging.ts';
import { parseOtlpHeaders, type TracingConfig, tracesEndpoint } from './observability/tracing.ts';

/** Everything the API reads from its environment, read once at start-up. */
export type Config = Readonly<{
  production: boolean;
  port: number;
  /** PostgreSQL server; unset for the embedded PGlite database. */
  databaseUrl: string | undefined;
  /** Prisma's statements prepared once per connection on a server (src/db/database.ts). */
  preparedStatements: boolean;
  /** The server is a Citus coordinator; unset: asked of the server (src/db/bound-pg-client.ts). */
  citus: boolean | undefined;
  /** Where the embedded database and the generated development secret live. */
  dataDir: string;
  /** HS256 secret for tokens this API issues; generated under dataDir in development. */
  jwtSecret: string | undefined;
  /**
   * HS256 secret for platform-admin tokens (/admin/graphql). Unset: the JWT secret. Set it in
   * production, so that whoever can mint members' tokens cannot also mint admins'.
   */
  adminJwtSecret: string | undefined;
  /** Tokens from an external identity provider (all three set, or none). */
  jwks: Readonly<{ url: string; issuer: string; audience: string }> | undefined;
  introspection: boolean;
  /** Seed the two demo organizations into an empty database (development default). */
  seedDemo: boolean;
  logLevel: string;
  /** LOG_FORMAT: unset, pretty on a terminal outside production and JSON otherwise. */
  logFormat: LogFormat | undefined;
  /** Redis for subscription events across instances; unset keeps them in this process. */
  redisUrl: string | undefined;
  /** ElectricSQL, behind GET /v1/shape; unset turns the shape proxy off. */
  electricUrl: string | undefined;
  /** Work the job queue in this process (default); false leaves it to other instances. */
  jobWorkers: boolean;
  /**
   * The proxies allowed to name the client through X-Forwarded-For (TRUST_PROXY: a hop count,
   * or addresses and CIDR ranges, comma-separated; src/http/client-address.ts). Unset: none, and the
   * socket's peer is the client.
   */
  trustProxy: string | undefined;
  /** Origins a browser may call the API from (CORS_ORIGINS, comma-separated); none by default. */
  corsOrigins: readonly string[];
  /**
   * The interface to listen on (HOST). Development: 127.0.0.1 only, since GraphiQL is served
   * with a demo owner's token. Production: unset, every interface.
   */
  host: string | undefined;
  /**
   * Password hashes (scrypt, 128 MiB, one libuv thread each) run at once; more wait in a short
   * queue. Kept below the thread pool's size (UV_THREADPOOL_SIZE, 4) so token checks never wait.
   * Default: 2, or 1 on a machine with 2 cores or fewer (src/auth/passwords.ts).
   */
  passwordHashConcurrency: number;
  /**
   * SHUTDOWN_GRACE_MS: how long a SIGTERM/SIGINT waits for in-flight requests and running jobs
   * before it cuts them (src/http/shutdown.ts). Default 10000.
   */
  shutdownGraceMs: number;
  /** METRICS_TOKEN: the bearer GET /metrics asks for (src/observability/metrics.ts); unset, off. */
  metricsToken: string | undefined;
  /**
   * OpenTelemetry tracing (src/observability/tracing.ts): on when an OTLP endpoint is set
   * (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, or OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces).
   */
  tracing: TracingConfig | undefined;
}>;

/** An environment that does not validate; the message names every bad variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * The process's own configuration, read once at start-up: `.env` in the working directory (when
 * there is one) under the real environment, which wins; then validated. An invalid one is
 * reported on stderr and the process exits with 1 before doing anything else.
 * Given an environment (tests), it only validates that one and throws ConfigError.
 */
export function loadConfig(env?: NodeJS.ProcessEnv): Config {
  if (env) return parseConfig(env);
  loadEnvFile();
  try {
    return parseConfig(process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
}

/** Node's own .env parser; a variable already in the environment keeps its value. */
export function loadEnvFile(file = path.resolve('.env')): boolean {
  if (!existsSync(file)) return false;
  process.loadEnvFile(file);
  return true;
}

function parseConfig(env: NodeJS.ProcessEnv): Config {
  const parsed = environment.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`Invalid configuration (environment or .env):\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  const production = e.NODE_ENV === 'production';
  return Object.freeze({
    production,
    port: e.PORT ?? 4000,
    databaseUrl: e.DATABASE_URL,
    preparedStatements: e.DATABASE_PREPARED_STATEMENTS ?? true,
    citus: e.DATABASE_CITUS,
    dataDir: path.resolve(e.DATA_DIR ?? '.data'),
    jwtSecret: e.JWT_SECRET,
    adminJwtSecret: e.ADMIN_JWT_SECRET,
    jwks: e.JWKS_URL
      ? { url: e.JWKS_URL, issuer: e.JWT_ISSUER ?? '', audience: e.JWT_AUDIENCE ?? '' }
      : undefined,
    introspection: e.GRAPHQL_INTROSPECTION ?? !production,
    seedDemo: e.SEED_DEMO ?? !production,
    logLevel: e.LOG_LEVEL ?? (e.NODE_ENV === 'test' ? 'silent' : 'info'),
    logFormat: e.LOG_FORMAT,
    redisUrl: e.REDIS_URL,
    electricUrl: e.ELECTRIC_URL,
    jobWorkers: e.JOB_WORKERS ?? true,
    trustProxy: e.TRUST_PROXY,
    corsOrigins: e.CORS_ORIGINS ?? Object.freeze([]),
    host: e.HOST ?? (production ? undefined : '127.0.0.1'),
    passwordHashConcurrency: e.PASSWORD_HASH_CONCURRENCY ?? DEFAULT_HASHING.concurrency,
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS ?? 10_000,
    metricsToken: e.METRICS_TOKEN,
    tracing: tracingOf(e),
  });
}

function tracingOf(e: z.infer<typeof variables>): TracingConfig | undefined {
  const endpoint = tracesEndpoint(e);
  if (!endpoint) return undefined;
  const headers = e.OTEL_EXPORTER_OTLP_TRACES_HEADERS ?? e.OTEL_EXPORTER_OTLP_HEADERS;
  return Object.freeze({
    endpoint,
    serviceName: e.OTEL_SERVICE_NAME ?? 'scopegraph',
    ...(headers ? { headers } : {}),
  });
}

/**
 * One variable: unset and empty (`NAME=` in .env) both mean the default. `parse` throws with
 * the value's problem; the message adds the variable's name (the issue path) and `expected`.
 */
function variable<T>(expected: string, parse: (value: string) => T) {
  return z.preprocess(
    (value) => (typeof value === 'string' && value.trim() === '' ? undefined : value),
    z
      .string()
      .transform((value, ctx) => {
        try {
          return parse(value);
        } catch (error) {
          ctx.addIssue({
            code: 'custom',
            message: `${(error as Error).message}; expected ${expected}`,
          });
          return z.NEVER;
        }
      })
      .optional(),
  );
}

const text = (value: string) => value.trim();

function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string) => {
    const parsed = Number(value.trim());
    if (!Number.isInteger(parsed)) throw new Error(`${JSON.stringify(value)} is not an integer`);
    if (parsed < min || parsed > max) throw new Error(`${parsed} is out of range`);
    return parsed;
  };
}

function oneOf<const T extends string>(values: readonly T[]) {
  return (value: string): T => {
    const found = values.find((candidate) => candidate === value.trim());
    if (!found) throw new Error(`${JSON.stringify(value)} is not allowed`);
    return found;
  };
}

function boolean(value: string): boolean {
  const text = value.trim();
  if (text === 'true' || text === '1') return true;
  if (text === 'false' || text === '0') return false;
  throw new Error(`${JSON.stringify(value)} is not a boolean`);
}

/** The value is never echoed: a URL may carry a password. */
function url(...protocols: string[]) {
  return (value: string) => {
    const text = value.trim();
    if (!URL.canParse(text)) throw new Error('the value (not shown) is not a URL');
    const { protocol } = new URL(text);
    if (!protocols.includes(protocol)) throw new Error(`the scheme is ${JSON.stringify(protocol)}`);
    return text;
  };
}

/** Not trimmed, never echoed. */
function secret(value: string): string {
  if (value.length < 32) throw new Error(`the value (not shown) has ${value.length} characters`);
  return value;
}

function host(value: string): string {
  const text = value.trim();
  if (!isIP(text) && !/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(text)) {
    throw new Error(`${JSON.stringify(value)} is not a host`);
  }
  return text;
}

function trustProxy(value: string): string {
  parseTrustProxy(value);
  return value.trim();
}

/** Each entry as a URL's origin (scheme, host, port), so that it compares with `Origin` exactly. */
function origins(value: string): readonly string[] {
  const entries = value
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  return Object.freeze(
    entries.map((entry) => {
      const url = URL.canParse(entry) ? new URL(entry) : null;
      const bare = url && url.pathname === '/' && !url.search && !url.hash && !url.username;
      if (!url || !bare || url.origin === 'null') {
        throw new Error(`"${entry}" is not an origin`);
      }
      return url.origin;
    }),
  );
}

const variables = z.object({
  NODE_ENV: variable(
    'development, production or test',
    oneOf(['development', 'production', 'test']),
  ),
  PORT: variable('a port from 0 to 65535 (0: any free port)', integer(0, 65535)),
  HOST: variable('an IP address or a host name', host),
  DATABASE_URL: variable('a postgresql:// URL', url('postgresql:', 'postgres:')),
  DATABASE_PREPARED_STATEMENTS: variable('true or false', boolean),
  DATABASE_CITUS: variable('true or false', boolean),
  DATA_DIR: variable('a directory', text),
  JWT_SECRET: variable('at least 32 characters', secret),
  ADMIN_JWT_SECRET: variable('at least 32 characters', secret),
  JWKS_URL: variable('an https:// URL', url('https:', 'http:')),
  JWT_ISSUER: variable('the identity provider’s issuer (iss)', text),
  JWT_AUDIENCE: variable('this API’s audience (aud)', text),
  GRAPHQL_INTROSPECTION: variable('true or false', boolean),
  SEED_DEMO: variable('true or false', boolean),
  JOB_WORKERS: variable('true or false', boolean),
  LOG_LEVEL: variable(
    `one of ${[...Object.keys(pino.levels.values), 'silent'].join(', ')}`,
    oneOf([...Object.keys(pino.levels.values), 'silent']),
  ),
  LOG_FORMAT: variable('pretty or json', oneOf<LogFormat>(['pretty', 'json'])),
  REDIS_URL: variable('a redis:// or rediss:// URL', url('redis:', 'rediss:')),
  ELECTRIC_URL: variable('an http:// or https:// URL', url('http:', 'https:')),
  TRUST_PROXY: variable(
    'a hop count, or addresses, CIDR ranges and loopback/linklocal/uniquelocal, comma-separated',
    trustProxy,
  ),
  CORS_ORIGINS: variable('origins (scheme://host[:port]), comma-separated', origins),
  PASSWORD_HASH_CONCURRENCY: variable('a positive integer', integer(1)),
  SHUTDOWN_GRACE_MS: variable('a positive integer (milliseconds)', integer(1)),
  METRICS_TOKEN: variable('at least 32 characters', secret),
  OTEL_EXPORTER_OTLP_ENDPOINT: variable('an http:// or https:// URL', url('http:', 'https:')),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: variable(
    'an http:// or https:// URL (…/v1/traces)',
    url('http:', 'https:'),
  ),
  OTEL_EXPORTER_OTLP_HEADERS: variable('key=value pairs, comma-separated', parseOtlpHeaders),
  OTEL_EXPORTER_OTLP_TRACES_HEADERS: variable('key=value pairs, comma-separated', parseOtlpHeaders),
  OTEL_SERVICE_NAME: variable('a service name', text),
  OTEL_SDK_DISABLED: variable('true or false', boolean),
  OTEL_TRACES_EXPORTER: variable('otlp or none', oneOf(['otlp', 'none'])),
});

/** Every variable the configuration reads (the README's table and .env.example list these). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(variables.shape);

// An identity provider is configured whole or not at all.
const environment = variables.superRefine((env, ctx) => {
  const set = (['JWKS_URL', 'JWT_ISSUER', 'JWT_AUDIENCE'] as const).filter((name) => env[name]);
  if (set.length > 0 && set.length < 3) {
    ctx.addIssue({
      code: 'custom',
      path: ['JWKS_URL'],
      message: `only ${set.join(' and ')} set; expected JWKS_URL, JWT_ISSUER and JWT_AUDIENCE together`,
    });
  }
});
