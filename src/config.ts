import path from 'node:path';
import { DEFAULT_HASHING } from './auth/passwords.ts';
import { parseTrustProxy } from './http/client-address.ts';

/** Everything the API reads from its environment, read once at start-up. */
export type Config = Readonly<{
  production: boolean;
  port: number;
  /** PostgreSQL server; unset for the embedded PGlite database. */
  databaseUrl: string | undefined;
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
   * before it cuts them (src/shutdown.ts). Default 10000.
   */
  shutdownGraceMs: number;
}>;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const production = env.NODE_ENV === 'production';
  const jwksUrl = env.JWKS_URL;
  if (jwksUrl && (!env.JWT_ISSUER || !env.JWT_AUDIENCE)) {
    throw new Error('JWKS_URL needs JWT_ISSUER and JWT_AUDIENCE');
  }
  return Object.freeze({
    production,
    port: Number.parseInt(env.PORT ?? '4000', 10),
    databaseUrl: env.DATABASE_URL || undefined,
    dataDir: path.resolve(env.DATA_DIR ?? '.data'),
    jwtSecret: env.JWT_SECRET || undefined,
    adminJwtSecret: env.ADMIN_JWT_SECRET || undefined,
    jwks: jwksUrl
      ? { url: jwksUrl, issuer: env.JWT_ISSUER ?? '', audience: env.JWT_AUDIENCE ?? '' }
      : undefined,
    introspection: flag(env.GRAPHQL_INTROSPECTION, !production),
    seedDemo: flag(env.SEED_DEMO, !production),
    logLevel: env.LOG_LEVEL ?? (env.NODE_ENV === 'test' ? 'silent' : 'info'),
    redisUrl: env.REDIS_URL || undefined,
    electricUrl: env.ELECTRIC_URL || undefined,
    jobWorkers: flag(env.JOB_WORKERS, true),
    trustProxy: trustProxyOf(env.TRUST_PROXY),
    corsOrigins: originsOf(env.CORS_ORIGINS),
    host: env.HOST || (production ? undefined : '127.0.0.1'),
    passwordHashConcurrency: positiveInteger(
      env.PASSWORD_HASH_CONCURRENCY,
      DEFAULT_HASHING.concurrency,
    ),
    shutdownGraceMs: positiveInteger(env.SHUTDOWN_GRACE_MS, 10_000),
  });
}

function positiveInteger(value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) {
    throw new Error(`Expected a positive integer, got ${JSON.stringify(value)}`);
  }
  return parsed;
}

function trustProxyOf(value: string | undefined): string | undefined {
  if (!value?.trim()) return undefined;
  try {
    parseTrustProxy(value);
  } catch (error) {
    throw new Error(`TRUST_PROXY: ${(error as Error).message}`);
  }
  return value.trim();
}

/** Each entry as a URL's origin (scheme, host, port), so that it compares with `Origin` exactly. */
function originsOf(value: string | undefined): readonly string[] {
  const entries = (value ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  return Object.freeze(
    entries.map((entry) => {
      const url = URL.canParse(entry) ? new URL(entry) : null;
      const bare = url && url.pathname === '/' && !url.search && !url.hash && !url.username;
      if (!url || !bare || url.origin === 'null') {
        throw new Error(`CORS_ORIGINS: "${entry}" is not an origin (scheme://host[:port])`);
      }
      return url.origin;
    }),
  );
}

function flag(value: string | undefined, fallback: boolean): boolean {
  if (value === undefined || value === '') return fallback;
  return value === 'true' || value === '1';
}
