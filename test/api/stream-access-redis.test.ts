import { describe, expect, it } from 'vitest';
import { createEventBus, type EventBus } from '../../src/events/bus.ts';
import { createTestApi } from '../support/api.ts';
import { REDIS_URL, redisAnswers } from '../support/redis.ts';
import { subscribe } from '../support/sse.ts';
import {
  addMember,
  createPost,
  expectEndedWith,
  globex,
  gql,
  listen,
  POST_CREATED,
  settle,
  stop,
  t,
  titleOf,
  useStreamServer,
  warmUp,
} from './stream-access-setup.ts';

/**
 * Control events reach every instance through Redis: a removal made on one instance ends the
 * member's stream on another at once, while a colleague's stream there keeps receiving. Skipped
 * when Redis does not answer. Shared setup: test/api/stream-access-setup.ts.
 */
useStreamServer('globex');

const redisUp = await redisAnswers();

describe.skipIf(!redisUp)(`control events across instances on Redis (${REDIS_URL})`, () => {
  it("a removal through instance A ends the member's stream on instance B at once", async () => {
    const errors: string[] = [];
    const busA = createEventBus({ redisUrl: REDIS_URL, onError: (e) => errors.push(String(e)) });
    const busB = createEventBus({ redisUrl: REDIS_URL, onError: (e) => errors.push(String(e)) });
    const on = (events: EventBus) =>
      createTestApi({ database: t.database, introspection: false, api: { events } });
    const apiA = await on(busA);
    const apiB = await on(busB);
    const a = await listen(apiA.api);
    const b = await listen(apiB.api);
    const leaving = await addMember(globex);
    const removed = await subscribe(`${b.url}/graphql`, POST_CREATED, {}, leaving.token);
    const colleague = await subscribe(`${b.url}/graphql`, POST_CREATED, {}, globex.member.token);
    try {
      await warmUp(removed, globex, a.url);
      await warmUp(colleague, globex, a.url);
      while (await removed.next(300)) {}
      const removal = await gql(
        'mutation($id: ID!) { removeMember(userId: $id) { deletedId } }',
        { id: leaving.userId },
        globex.owner.token,
        a.url,
      );
      expect(removal.errors).toBeUndefined();
      await expectEndedWith(removed, 'UNAUTHENTICATED');
      await createPost(globex, 'through A after the removal', a.url);
      expect(titleOf(await colleague.next(5_000)), JSON.stringify(errors)).toBe(
        'through A after the removal',
      );
    } finally {
      removed.close();
      colleague.close();
      await stop(a.server);
      await stop(b.server);
      await settle();
      await apiA.close();
      await apiB.close();
      await busA.close();
      await busB.close();
    }
  });
});
