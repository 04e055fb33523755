import { createServer } from 'node:http';
import { startApp } from './app.ts';
import { loadConfig } from './config.ts';
import { HTTP_SERVER_OPTIONS } from './http/limits.ts';

// A signal during start-up (migrations, seeding) waits for start-up to finish, then stops.
let stopRequested: string | null = null;
const early = (signal: string) => {
  stopRequested = signal;
};
process.once('SIGTERM', early);
process.once('SIGINT', early);

const config = loadConfig();
const app = await startApp(config);
// Header size and slow-client timeouts: see src/http/limits.ts.
const server = createServer(HTTP_SERVER_OPTIONS, app.yoga);
process.off('SIGTERM', early);
process.off('SIGINT', early);

// 127.0.0.1 in development (GraphiQL carries a demo owner's token), HOST to change it.
server.listen({ port: config.port, host: config.host }, () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  app.logger.info(
    { url: `http://localhost:${port}${app.yoga.graphqlEndpoint}` },
    'scopegraph is ready',
  );
});

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  app.logger.info({ signal }, 'shutting down');
  const forced = setTimeout(() => process.exit(1), 10_000).unref();
  server.close();
  server.closeIdleConnections();
  await app.close();
  clearTimeout(forced);
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
if (stopRequested) void shutdown(stopRequested);
