import { createClient as createSseClient } from 'graphql-sse';
import { describe, expect, it } from 'vitest';
import { SSE_STREAM_PATH } from '../../src/http/sse-stream.ts';
import {
  acme,
  createPost,
  globex,
  POST_CREATED,
  url,
  useWebSocketServer,
} from './websocket-setup.ts';

/**
 * graphql-sse's single connection mode on /graphql/stream, on the same server as GraphQL over
 * WebSocket: it streams as the token's member, only the organization's events, and refuses a
 * reservation without a token. Shared setup: test/api/websocket-setup.ts.
 */
useWebSocketServer();

describe('graphql-sse', () => {
  it('single connection mode streams on /graphql/stream, as the token’s member', async () => {
    const origin = new URL(url).origin;
    const client = createSseClient({
      url: `${origin}${SSE_STREAM_PATH}`,
      singleConnection: true,
      headers: { authorization: `Bearer ${acme.member.token}` },
      retryAttempts: 0,
    });
    try {
      const viewer = await client.iterate({ query: '{ viewer { name } }' }).next();
      expect(viewer.value?.data).toEqual({ viewer: { name: 'Mia Member' } });
      const events = client.iterate<{ postCreated: { title: string } }>({ query: POST_CREATED });
      const heard: string[] = [];
      const reading = (async () => {
        for await (const event of events) {
          heard.push(event.data?.postCreated.title ?? '');
          if (heard.includes('over graphql-sse')) return;
        }
      })();
      for (let attempt = 0; attempt < 15 && heard.length === 0; attempt++) {
        await createPost(acme, `warm-up ${attempt}`);
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      await createPost(globex, 'globex, never heard');
      await createPost(acme, 'over graphql-sse');
      await reading;
      expect(heard).toContain('over graphql-sse');
      expect(heard).not.toContain('globex, never heard');
    } finally {
      client.dispose();
    }
    // Without a token the path refuses at once (no CSRF check runs there: a cross-site request
    // has no bearer token); the same request with one is served.
    const reserve = (headers: Record<string, string>) =>
      fetch(`${origin}${SSE_STREAM_PATH}`, { method: 'PUT', headers });
    expect((await reserve({})).status).toBe(401);
    expect((await reserve({ authorization: `Bearer ${acme.member.token}` })).status).toBe(201);
  });
});
