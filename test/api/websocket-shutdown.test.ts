import { describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { shutdown } from '../../src/http/shutdown.ts';
import { createLogger } from '../../src/logging.ts';
import {
  acme,
  connect,
  POST_CREATED,
  server,
  t,
  useWebSocketServer,
  warmUp,
  websockets,
} from './websocket-setup.ts';

/**
 * A graceful shutdown completes the open WebSocket streams and closes their sockets with 1001
 * (going away), leaving none open. Shared setup: test/api/websocket-setup.ts.
 */
useWebSocketServer();

describe('shutdown', () => {
  it('completes WebSocket streams and closes the sockets with 1001', async () => {
    const connection = connect(acme.owner.token);
    const sub = connection.subscribe(POST_CREATED);
    await warmUp(sub, acme);
    const app = {
      ...t.api,
      logger: createLogger('silent'),
      stopJobWorkers: async () => {},
      close: async () => {},
    } as unknown as App;
    const code = await shutdown(server, app, { signal: 'SIGTERM', graceMs: 5_000, websockets });
    expect(code).toBe(0);
    expect(await sub.ended).toBe('complete');
    expect((await connection.closed).code).toBe(1001);
    expect(websockets.count()).toBe(0);
  });
});
