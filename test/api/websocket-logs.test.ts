import { describe, expect, it, vi } from 'vitest';
import { decodeGlobalId } from '../../src/schema/ids.ts';
import { field } from '../support/api.ts';
import {
  acme,
  connect,
  POST_CREATED,
  t,
  useWebSocketServer,
  warmUp,
  wsLog,
} from './websocket-setup.ts';

/**
 * WebSocket operations are logged like HTTP requests: one line as each ends (outcome, type,
 * name, errors, duration, its own request id, organization), and one per refused connection
 * with its close code. Shared setup: test/api/websocket-setup.ts.
 */
useWebSocketServer();

describe('logs', () => {
  it('one line per operation as it ends, with its request id and organization; one per refusal', async () => {
    const from = wsLog.lines.length;
    const ours = () => wsLog.lines.slice(from);
    const connection = connect(acme.owner.token);
    const query = connection.subscribe('query Me { viewer { name } }');
    expect(await query.ended).toBe('complete');
    const invalid = connection.subscribe('query Nope { nope }');
    expect(await invalid.ended).toBe('error');
    const sub = connection.subscribe(POST_CREATED);
    await warmUp(sub, acme);
    sub.close();
    const refused = connect('not-a-token');
    expect((await refused.closed).code).toBe(4403);
    await connection.dispose();
    await vi.waitFor(() =>
      expect(ours().filter((l) => l.msg === 'websocket operation')).toHaveLength(3),
    );
    const lines = ours().filter((l) => l.msg === 'websocket operation');
    const organization = await t.gql('{ organization { id } }', {}, acme.owner.token);
    const organizationId = decodeGlobalId(
      field<{ id: string }>(organization, 'organization').id,
    ).id;
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          operationType: 'query',
          operationName: 'Me',
          outcome: 'complete',
          errors: 0,
          organizationId,
        }),
        expect.objectContaining({ operationName: 'Nope', outcome: 'error', errors: 1 }),
        expect.objectContaining({
          operationType: 'subscription',
          outcome: 'complete',
          organizationId,
        }),
      ]),
    );
    for (const line of lines) {
      expect(line.requestId).toMatch(/^[0-9a-f-]{36}$/);
      expect(line.durationMs).toEqual(expect.any(Number));
    }
    expect(new Set(lines.map((l) => l.requestId)).size).toBe(3);
    expect(ours()).toContainEqual(
      expect.objectContaining({ msg: 'websocket refused', closeCode: 4403 }),
    );
  });
});
