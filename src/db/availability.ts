/**
 * Whether an error means "the database cannot be reached right now" (down, restarting,
 * connections killed, pool exhausted) rather than a bug. Such errors are answered with
 * SERVICE_UNAVAILABLE (HTTP 503) so clients can retry; the pool reconnects by itself.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let cause = error, depth = 0; cause && depth < 6; depth++) {
    const e = cause as {
      code?: unknown;
      kind?: unknown;
      message?: unknown;
      meta?: { driverAdapterError?: { cause?: { kind?: unknown; originalCode?: unknown } } };
      cause?: unknown;
    };
    if (typeof e.code === 'string' && PRISMA_CODES.has(e.code)) return true;
    if (typeof e.code === 'string' && SQLSTATES.has(e.code)) return true;
    if (e.code === 'P2028' && typeof e.message === 'string' && NO_CONNECTION.test(e.message))
      return true;
    if (typeof e.kind === 'string' && ADAPTER_KINDS.has(e.kind)) return true;
    const adapter = e.meta?.driverAdapterError?.cause;
    if (typeof adapter?.kind === 'string' && ADAPTER_KINDS.has(adapter.kind)) return true;
    if (typeof adapter?.originalCode === 'string' && SQLSTATES.has(adapter.originalCode))
      return true;
    if (typeof e.message === 'string' && MESSAGES.test(e.message)) return true;
    cause = e.cause;
  }
  return false;
}

// Prisma: can't reach server, timed out, server closed the connection, pool timeout.
const PRISMA_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024']);
// P2028 is Prisma's transaction error. This one means no connection came within maxWait (the pool
// is exhausted, or the server accepts connections and never answers: every scoped operation is a
// transaction, so this is how a hung server shows). Its other forms (a transaction used after it
// ended or expired) are bugs and stay INTERNAL_SERVER_ERROR.
const NO_CONNECTION = /Unable to start a transaction in the given time/;
// PostgreSQL: admin/crash shutdown, cannot connect now, connection exceptions, too many clients.
const SQLSTATES = new Set([
  '57P01',
  '57P02',
  '57P03',
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
  '53300',
]);
const ADAPTER_KINDS = new Set([
  'DatabaseNotReachable',
  'ConnectionClosed',
  'SocketTimeout',
  'TooManyConnections',
]);
// node-postgres and its pool, which give these no code. With connectionTimeoutMillis set, a
// connection attempt that times out is "Connection terminated due to connection timeout", and
// waiting that long for a free pooled client is "timeout exceeded when trying to connect".
const MESSAGES = new RegExp(
  [
    'Connection terminated',
    'terminating connection',
    'ECONNREFUSED',
    'ECONNRESET',
    'Client has encountered a connection error',
    'the database system is (starting up|shutting down)',
    'timeout exceeded when trying to connect',
  ].join('|'),
  'i',
);
