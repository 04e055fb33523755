import { describe, expect, it } from 'vitest';
import { subscribe } from '../support/sse.ts';
import {
  createPost,
  expectEndedWith,
  globex,
  POST_CREATED,
  titleOf,
  tokenFor,
  url,
  useStreamServer,
  warmUp,
} from './stream-access-setup.ts';

/**
 * A stream lives no longer than its token: when the token expires the stream ends with
 * UNAUTHENTICATED, with no event needed, while one opened with a lasting token goes on. Shared
 * setup: test/api/stream-access-setup.ts.
 */
useStreamServer('globex');

describe('a stream ends when its access does', () => {
  it('a stream ends with UNAUTHENTICATED when its token expires, with no event needed', async () => {
    const shortLived = await tokenFor(globex, globex.member, 4);
    const expiring = await subscribe(`${url}/graphql`, POST_CREATED, {}, shortLived);
    const lasting = await subscribe(`${url}/graphql`, POST_CREATED, {}, globex.member.token);
    try {
      expect(expiring.status).toBe(200);
      await warmUp(expiring, globex);
      while (await lasting.next(300)) {}
      await expectEndedWith(expiring, 'UNAUTHENTICATED');
      await createPost(globex, 'after the expiry');
      expect(titleOf(await lasting.next())).toBe('after the expiry');
    } finally {
      expiring.close();
      lasting.close();
    }
  });
});
