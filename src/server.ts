import { createServer } from 'node:http';
import { type App, startApp } from './app.ts';
import { loadConfig } from './config.ts';
import { DataDirLocked } from './db/data-dir-lock.ts';
import { HTTP_SERVER_OPTIONS } from './http/limits.ts';
import { shutdown } from './http/shutdown.ts';
import { attachWebSockets } from './http/websocket.ts';

// A signal during start-up (migrations, seeding) waits for start-up to finish, then stops; a
// start-up that hangs still ends, 30 s after the signal, with exit code 1.
let stopRequested: string | null = null;
const early = (signal: string) => {
  stopRequested = signal;
  setTimeout(() => process.exit(1), 30_000).unref();
};
process.once('SIGTERM', early);
process.once('SIGINT', early);

const config = loadConfig();
let app: App;
try {
  app = await startApp(config);
} catch (error) {
  // Another instance on this data directory: its message says which; a stack adds nothing.
  if (!(error instanceof DataDirLocked)) throw error;
  console.error(error.message);
  process.exit(1);
}
// Header size and slow-client timeouts: see src/http/limits.ts.
const server = createServer(HTTP_SERVER_OPTIONS, app.yoga);
// GraphQL over WebSocket on the same path: src/http/websocket.ts.
const websockets = attachWebSockets(server, app.yoga, app.logger);
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
async function stop(signal: string) {
  if (stopping) return;
  stopping = true;
  process.exit(
    await shutdown(server, app, { signal, graceMs: config.shutdownGraceMs, websockets }),
  );
}
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
if (stopRequested) void stop(stopRequested);
