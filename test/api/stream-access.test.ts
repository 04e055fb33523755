import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSystemClient, type SystemClient } from '../../src/db/system.ts';
import { subscribe } from '../support/sse.ts';
import {
  acme,
  addMember,
  createPost,
  expectEndedWith,
  gql,
  orgIdOf,
  POST_DELETED,
  raw,
  settle,
  t,
  url,
  useStreamServer,
} from './stream-access-setup.ts';

/**
 * Access is checked with every event, not only by control events: a member deleted behind the
 * API's back (no mutation, so no control event) gets the error instead of the next event, while
 * a colleague's stream delivers it. The other stories of stream access are in
 * test/api/stream-access-*.test.ts and test/api/stream-limits.test.ts (shared setup:
 * test/api/stream-access-setup.ts).
 */
useStreamServer('acme');

let system: SystemClient;

beforeAll(() => {
  system = createSystemClient(t.database);
});

afterAll(async () => {
  await system?.$disconnect();
});

describe('a stream ends when its access does', () => {
  it('without a control event, the next event is refused: access is checked with every event', async () => {
    const leaving = await addMember(acme);
    const removed = await subscribe(`${url}/graphql`, POST_DELETED, {}, leaving.token);
    const colleague = await subscribe(`${url}/graphql`, POST_DELETED, {}, acme.member.token);
    try {
      await settle();
      const first = await createPost(acme, 'deleted while still a member');
      await gql(
        'mutation($id: ID!) { deletePost(id: $id) { deletedId } }',
        { id: first },
        acme.owner.token,
      );
      expect((await removed.next())?.data).toEqual({ postDeleted: { id: first } });
      expect((await colleague.next())?.data).toEqual({ postDeleted: { id: first } });
      // Gone behind the API's back: no mutation, so no control event.
      await system.user.delete({
        where: {
          organizationId_id: { organizationId: await orgIdOf(acme), id: raw(leaving.userId) },
        },
      });
      const second = await createPost(acme, 'deleted after the removal');
      await gql(
        'mutation($id: ID!) { deletePost(id: $id) { deletedId } }',
        { id: second },
        acme.owner.token,
      );
      expect((await colleague.next())?.data).toEqual({ postDeleted: { id: second } });
      await expectEndedWith(removed, 'UNAUTHENTICATED');
    } finally {
      removed.close();
      colleague.close();
    }
  });
});
