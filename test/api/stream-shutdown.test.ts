import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestApi, type Org, signUpOrg, type TestApi } from '../support/api.ts';
import { subscribe } from '../support/sse.ts';

/** Shutdown (src/http/shutdown.ts) ends open streams with `complete` and refuses new ones. */

let t: TestApi;
let org: Org;
let server: Server;
let url: string;

beforeAll(async () => {
  t = await createTestApi();
  org = await signUpOrg(t, 'acme');
  server = createServer(t.api.yoga);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await t.close();
});

it('endStreams completes every open stream, then refuses new ones', async () => {
  const open = await subscribe(url, 'subscription { postCreated { id } }', {}, org.member.token);
  const unread = await subscribe(url, 'subscription { postDeleted { id } }', {}, org.owner.token);
  expect([open.status, unread.status]).toEqual([200, 200]);
  expect(t.api.endStreams()).toBe(2);
  expect(await open.ended, open.frames().join('\n')).toBe('complete');
  expect(await unread.ended, unread.frames().join('\n')).toBe('complete');

  const late = await subscribe(url, 'subscription { postCreated { id } }', {}, org.member.token);
  try {
    const refused = await late.next();
    expect(refused?.errors?.map((error) => error.extensions?.code)).toEqual([
      'SERVICE_UNAVAILABLE',
    ]);
  } finally {
    late.close();
  }
});
