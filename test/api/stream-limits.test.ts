import { describe, expect, it, vi } from 'vitest';
import { createTestApi } from '../support/api.ts';
import { type Subscription, subscribe } from '../support/sse.ts';
import {
  acme,
  addMember,
  createPost,
  expectEndedWith,
  globex,
  initech,
  listen,
  POST_CREATED,
  stop,
  t,
  titleOf,
  tokenFor,
  url,
  useStreamServer,
  warmUp,
} from './stream-access-setup.ts';

/**
 * Streams are capped per member and per organization (TOO_MANY_STREAMS, HTTP 429), while a
 * colleague or another organization is not held back, and a slot comes back when its stream
 * ends: closed by the client, ended on its own (token expiry), or never streamed. Shared setup:
 * test/api/stream-access-setup.ts.
 */
useStreamServer('acme', 'globex', 'initech');

describe('streams are capped', () => {
  it('at 5 per member (TOO_MANY_STREAMS, HTTP 429); a closed stream gives its slot back', async () => {
    const member = await addMember(globex);
    const open: Subscription[] = [];
    try {
      for (let i = 0; i < 5; i++) {
        open.push(await subscribe(`${url}/graphql`, POST_CREATED, {}, member.token));
      }
      expect(open.map((sub) => sub.status)).toEqual([200, 200, 200, 200, 200]);
      const sixth = await subscribe(`${url}/graphql`, POST_CREATED, {}, member.token);
      expect(sixth.status).toBe(429);
      expect(await sixth.next()).toFailWith('TOO_MANY_STREAMS');
      sixth.close();
      // Positive control: a colleague in the same organization is not held back.
      const colleague = await subscribe(`${url}/graphql`, POST_CREATED, {}, globex.owner.token);
      expect(colleague.status).toBe(200);
      colleague.close();
      // The client goes away: its slot is free again.
      open.shift()?.close();
      await vi.waitFor(
        async () => {
          const again = await subscribe(`${url}/graphql`, POST_CREATED, {}, member.token);
          if (again.status !== 200) {
            again.close();
            throw new Error(`still ${again.status}`);
          }
          open.push(again);
        },
        { timeout: 10_000, interval: 200 },
      );
      // The slots work: every one of the five hears the next post.
      await warmUp(open[4] as Subscription, globex);
      for (const sub of open.slice(0, 4)) while (await sub.next(300)) {}
      await createPost(globex, 'to all five');
      for (const sub of open) expect(titleOf(await sub.next())).toBe('to all five');
    } finally {
      for (const sub of open) sub.close();
    }
  });

  it('streams that ended on their own (token expiry) give their slots back', async () => {
    const member = await addMember(initech);
    const expiring: Subscription[] = [];
    const open: Subscription[] = [];
    try {
      const shortLived = await tokenFor(initech, member, 4);
      for (let i = 0; i < 5; i++) {
        expiring.push(await subscribe(`${url}/graphql`, POST_CREATED, {}, shortLived));
      }
      expect(expiring.map((sub) => sub.status)).toEqual([200, 200, 200, 200, 200]);
      const full = await subscribe(`${url}/graphql`, POST_CREATED, {}, member.token);
      expect(full.status).toBe(429);
      full.close();
      for (const sub of expiring) await expectEndedWith(sub, 'UNAUTHENTICATED');
      for (let i = 0; i < 5; i++) {
        open.push(await subscribe(`${url}/graphql`, POST_CREATED, {}, member.token));
      }
      expect(open.map((sub) => sub.status)).toEqual([200, 200, 200, 200, 200]);
    } finally {
      for (const sub of [...expiring, ...open]) sub.close();
    }
  });

  it('per organization (here 2), and another organization is not held back', {
    timeout: 40_000,
  }, async () => {
    const small = await createTestApi({
      database: t.database,
      introspection: false,
      api: { streamLimits: { perMember: 5, perOrganization: 2 } },
    });
    const http = await listen(small.api);
    const subs: Subscription[] = [];
    try {
      const at = `${http.url}/graphql`;
      subs.push(await subscribe(at, POST_CREATED, {}, acme.owner.token));
      subs.push(await subscribe(at, POST_CREATED, {}, acme.admin.token));
      const third = await subscribe(at, POST_CREATED, {}, acme.member.token);
      subs.push(third);
      expect(subs.map((sub) => sub.status)).toEqual([200, 200, 429]);
      expect(await third.next()).toFailWith('TOO_MANY_STREAMS');
      const other = await subscribe(at, POST_CREATED, {}, globex.member.token);
      subs.push(other);
      expect(other.status).toBe(200);
      // A subscription that is never streamed (no `Accept: text/event-stream`: 406) holds no
      // slot for good: once acme's two streams are closed and two such requests were made, a
      // stream opens again.
      // The closed streams give their slots back when the server sees the connections end: until
      // then the request is TOO_MANY_STREAMS (429), so each is asked until it gets its 406.
      for (const sub of subs.splice(0)) sub.close();
      for (let i = 0; i < 2; i++) {
        await vi.waitFor(
          async () => {
            const unstreamed = await fetch(at, {
              method: 'POST',
              headers: {
                'content-type': 'application/json',
                accept: 'application/json',
                authorization: `Bearer ${acme.member.token}`,
              },
              body: JSON.stringify({ query: POST_CREATED }),
            });
            expect(unstreamed.status).toBe(406);
          },
          { timeout: 10_000, interval: 100 },
        );
      }
      await vi.waitFor(
        async () => {
          const again = await subscribe(at, POST_CREATED, {}, acme.member.token);
          subs.push(again);
          expect(again.status).toBe(200);
        },
        { timeout: 20_000, interval: 500 },
      );
    } finally {
      for (const sub of subs) sub.close();
      await stop(http.server);
      await small.close();
    }
  });
});
