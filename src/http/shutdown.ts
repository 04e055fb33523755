import type { Server } from 'node:http';
import type { App } from '../app.ts';
import type { WebSockets } from './websocket.ts';

/**
 * SIGTERM/SIGINT: stop accepting connections, complete every subscription stream, let in-flight
 * requests, WebSocket operations and running jobs finish (each bounded by `graceMs`; WebSockets
 * then close with 1001), then close Redis and the database. Requests still running after the grace period are cut; anything that hangs past it
 * by more than a few seconds ends the process with exit code 1.
 */
export async function shutdown(
  server: Server,
  app: App,
  options: Readonly<{ signal: string; graceMs: number; websockets?: WebSockets }>,
): Promise<number> {
  const { logger } = app;
  const { graceMs } = options;
  logger.info({ signal: options.signal, graceMs }, 'shutting down');
  const forced = setTimeout(() => {
    logger.error('shutdown: still running after the grace period, exiting');
    process.exit(1);
  }, graceMs + 5_000);
  forced.unref();

  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  logger.info('shutdown: no longer accepting connections');
  const streams = app.endStreams();
  logger.info({ streams }, 'shutdown: subscription streams completed');

  const [requests] = await Promise.all([
    // Upgraded sockets count as connections until they close: `closed` waits for them too.
    drain(server, closed, graceMs),
    options.websockets?.close(graceMs),
    app.stopJobWorkers(graceMs).then(() => logger.info('shutdown: job workers stopped')),
  ]);
  if (requests === 'cut') {
    logger.warn({ graceMs }, 'shutdown: requests still running after the grace period were cut');
  } else {
    logger.info('shutdown: in-flight requests finished');
  }
  await app.close();
  clearTimeout(forced);
  return 0;
}

/** Waits for every connection to end; keep-alive ones are closed as soon as they are idle. */
async function drain(server: Server, closed: Promise<void>, graceMs: number) {
  server.closeIdleConnections();
  // A connection that finishes its last response later is idle then, not closed by Node.
  const idle = setInterval(() => server.closeIdleConnections(), 100);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'cut'>((resolve) => {
    timer = setTimeout(() => resolve('cut'), graceMs);
  });
  const outcome = await Promise.race([closed.then(() => 'finished' as const), late]);
  clearInterval(idle);
  clearTimeout(timer);
  if (outcome === 'cut') {
    server.closeAllConnections();
    await closed;
  }
  return outcome;
}
