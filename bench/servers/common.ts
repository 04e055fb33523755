// What every contender's server process shares: its settings from the environment, counting of
// the SQL it sends, a bench-only stats endpoint, and a life tied to the runner's.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import pg from 'pg';

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export type ServerEnv = Readonly<{
  databaseUrl: string;
  jwtSecret: string;
  poolSize: number;
  logLevel: string;
}>;

export function serverEnv(): ServerEnv {
  const { DATABASE_URL, JWT_SECRET, POOL_SIZE, LOG_LEVEL } = process.env;
  if (!DATABASE_URL || !JWT_SECRET) throw new Error('DATABASE_URL and JWT_SECRET are required');
  return Object.freeze({
    databaseUrl: DATABASE_URL,
    jwtSecret: JWT_SECRET,
    poolSize: Number.parseInt(POOL_SIZE ?? '10', 10),
    logLevel: LOG_LEVEL ?? 'info',
  });
}

/** What GET /__bench/stats answers; the runner takes differences around each measurement. */
export type ServerStats = {
  pid: number;
  /** HTTP requests to the API (not to /__bench), counted when they arrive. */
  requests: number;
  /** Requests whose response has not closed yet. */
  inFlight: number;
  /** Responses with a status >= 400. */
  errorResponses: number;
  /** 2xx responses whose body carries a GraphQL `errors` key. */
  graphqlErrors: number;
  /** Calls of pg's Client#query: each is one round trip to the server (one message, one Sync). */
  roundTrips: number;
  /** SQL statements in them: a simple-protocol query string may hold several. */
  statements: number;
  /**
   * Query plans Prisma compiled (countPrismaPlans): each is a miss of its plan cache. Null for
   * a server without Prisma.
   */
  plansCompiled: number | null;
  /** CPU time the process used so far (user + system), in microseconds. */
  cpuMicros: number;
  rss: number;
  heapUsed: number;
};

const stats: ServerStats = {
  pid: process.pid,
  requests: 0,
  inFlight: 0,
  errorResponses: 0,
  graphqlErrors: 0,
  roundTrips: 0,
  statements: 0,
  plansCompiled: null,
  cpuMicros: 0,
  rss: 0,
  heapUsed: 0,
};

/** SQL texts of the requests sent while tracing (the runner traces one request per scenario). */
let trace: string[] | null = null;

type QueryFn = (this: unknown, ...args: unknown[]) => unknown;

/**
 * Counts every statement sent through the `pg` module, whoever sends it (Prisma's adapter,
 * PostGraphile's adaptor, or a hand-written handler): all of them end in Client#query.
 * Must run before the first query; there is one copy of `pg` in node_modules.
 */
export function countPgQueries(): void {
  const proto = pg.Client.prototype as unknown as { query: QueryFn };
  const original = proto.query;
  proto.query = function countedQuery(this: unknown, ...args: unknown[]) {
    const [first, second] = args;
    const config = typeof first === 'object' && first !== null ? (first as QueryConfigLike) : null;
    const text = typeof first === 'string' ? first : config?.text;
    const values = Array.isArray(second) ? second : config?.values;
    // Statements sent in front of another in the same message (src/db/bound-pg-client.ts,
    // PrefixedQuery: the tenant binding, and BEGIN for a transaction that writes) are statements
    // of their own in one round trip.
    const prefixes = Array.isArray(config?.prefixes)
      ? (config.prefixes as { sql: string }[]).map((p) => p.sql)
      : [];
    stats.roundTrips++;
    stats.statements += statementCount(text, values, config?.name) + prefixes.length;
    if (trace && trace.length < 500) {
      trace.push(
        prefixes.length > 0
          ? `${[...prefixes, text].map(oneLine).join(' + ')} (one message)`
          : oneLine(text),
      );
    }
    return original.apply(this, args);
  };
}

/**
 * Counts the query plans Prisma's query compiler builds. Prisma caches a plan per query shape
 * (its plan cache): a request whose operations all hit it compiles nothing. Wraps the compiler
 * class of the very module the generated client loads (src/generated/prisma/internal/class.ts,
 * compilerWasm.getRuntime), so it counts every client in the process. Prisma 7.10.
 */
export async function countPrismaPlans(): Promise<void> {
  // A specifier in a variable: the module ships no type declarations.
  const specifier = '@prisma/client/runtime/query_compiler_fast_bg.postgresql.mjs';
  const runtime = (await import(specifier)) as {
    QueryCompiler: { prototype: Record<string, QueryFn> };
  };
  stats.plansCompiled = 0;
  const proto = runtime.QueryCompiler.prototype;
  for (const method of ['compile', 'compileBatch'] as const) {
    const original = proto[method];
    if (typeof original !== 'function') throw new Error(`QueryCompiler#${method} is gone`);
    proto[method] = function countedCompile(this: unknown, ...args: unknown[]) {
      stats.plansCompiled = (stats.plansCompiled ?? 0) + 1;
      return original.apply(this, args);
    };
  }
}

type QueryConfigLike = { text?: unknown; values?: unknown; name?: unknown; prefixes?: unknown };

/** Only a parameterless, unnamed query goes out as a simple Query message that may hold several. */
function statementCount(text: unknown, values: unknown, name: unknown): number {
  if (typeof text !== 'string') return 1;
  if ((Array.isArray(values) && values.length > 0) || name) return 1;
  return Math.max(1, text.split(';').filter((part) => part.trim() !== '').length);
}

function oneLine(text: unknown): string {
  return typeof text === 'string' ? text.replace(/\s+/g, ' ').trim() : String(text);
}

const ERRORS_KEY = Buffer.from('"errors"');

/** Counts error statuses and GraphQL error bodies without parsing them (cheap for every server). */
function watchResponse(res: ServerResponse): void {
  let sawErrors = false;
  const inspect = (chunk: unknown) => {
    if (sawErrors || chunk == null || typeof chunk === 'function') return;
    if (typeof chunk === 'string') sawErrors = chunk.includes('"errors"');
    else if (chunk instanceof Uint8Array) sawErrors = Buffer.from(chunk).includes(ERRORS_KEY);
  };
  const write = res.write.bind(res) as (...args: unknown[]) => boolean;
  const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
  res.write = ((...args: unknown[]) => {
    inspect(args[0]);
    return write(...args);
  }) as typeof res.write;
  res.end = ((...args: unknown[]) => {
    inspect(args[0]);
    return end(...args);
  }) as typeof res.end;
  res.once('finish', () => {
    if (res.statusCode >= 400) stats.errorResponses++;
    else if (sawErrors) stats.graphqlErrors++;
  });
}

function benchRoute(req: IncomingMessage, res: ServerResponse): void {
  const json = (value: unknown) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(value));
  };
  if (req.url === '/__bench/stats') {
    const memory = process.memoryUsage();
    const cpu = process.cpuUsage();
    json({
      ...stats,
      cpuMicros: cpu.user + cpu.system,
      rss: memory.rss,
      heapUsed: memory.heapUsed,
    });
  } else if (req.url === '/__bench/trace/start' && req.method === 'POST') {
    trace = [];
    json({ ok: true });
  } else if (req.url === '/__bench/trace/stop' && req.method === 'POST') {
    const sql = trace ?? [];
    trace = null;
    json({ sql });
  } else {
    res.writeHead(404).end();
  }
}

/**
 * Listens on 127.0.0.1 (a free port), tells the runner the port over IPC, and stops on SIGTERM,
 * SIGINT, or when the runner goes away (the IPC channel closes even if it was SIGKILLed), so no
 * server outlives a run.
 */
export function serve(name: string, handler: Handler, close: () => Promise<void>): void {
  const server = createServer((req, res) => {
    if (req.url?.startsWith('/__bench/')) {
      benchRoute(req, res);
      return;
    }
    stats.requests++;
    stats.inFlight++;
    res.once('close', () => stats.inFlight--);
    watchResponse(res);
    handler(req, res);
  });
  // autocannon keeps its connections open between requests; so do real clients.
  server.keepAliveTimeout = 60_000;
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(1), 5_000).unref();
    server.close();
    server.closeAllConnections();
    try {
      await close();
    } finally {
      process.exit(0);
    }
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  process.on('disconnect', () => void stop());
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    if (process.send) process.send({ type: 'ready', name, port, pid: process.pid });
    else console.log(JSON.stringify({ type: 'ready', name, port, pid: process.pid }));
  });
}

/** Start-up failures go to the runner as a message as well as to the log. */
export function reportStartupFailure(error: unknown): void {
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  console.error(message);
  // Exit once the message is out (an open pool would otherwise keep the process alive).
  if (process.send) process.send({ type: 'failed', message }, () => process.exit(1));
  else process.exit(1);
}
