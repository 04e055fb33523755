import { describe, expect, it } from 'vitest';
import type { GraphQLResponse } from '../support/api.ts';
import type { WsOperation } from '../support/ws.ts';
import {
  acme,
  addMember,
  connect,
  createPost,
  globex,
  POST_CREATED,
  t,
  titleOf,
  useWebSocketServer,
  warmUp,
} from './websocket-setup.ts';

/**
 * Subscriptions over WebSocket get what a stream over SSE gets: only the organization's events,
 * the per-member stream cap (a closed stream gives its slot back), and the access check that
 * ends a removed member's stream while a colleague's goes on. Shared setup:
 * test/api/websocket-setup.ts.
 */
useWebSocketServer();

describe('subscriptions', () => {
  it('deliver the organization’s events and never another organization’s', async () => {
    const acmeSub = connect(acme.member.token).subscribe(POST_CREATED);
    const globexSub = connect(globex.member.token).subscribe(POST_CREATED);
    await warmUp(acmeSub, acme);
    await warmUp(globexSub, globex);
    await createPost(acme, 'acme only');
    expect(titleOf(await acmeSub.next())).toBe('acme only');
    await createPost(globex, 'globex only');
    // Globex's next event is its own post: acme's never reached it.
    expect(titleOf(await globexSub.next())).toBe('globex only');
    acmeSub.close();
    globexSub.close();
  });

  it('are capped per member (TOO_MANY_STREAMS); a colleague is not held back', async () => {
    const member = await addMember(globex);
    const connection = connect(member.token);
    const open = Array.from({ length: 5 }, () => connection.subscribe(POST_CREATED));
    await warmUp(open[0] as WsOperation, globex);
    const sixth = connection.subscribe(POST_CREATED);
    expect(await sixth.next()).toFailWith('TOO_MANY_STREAMS');
    expect(await sixth.ended).toBe('complete');
    const colleague = connect(globex.admin.token).subscribe(POST_CREATED);
    await warmUp(colleague, globex);
    // A closed stream gives its slot back (once the server has heard the `complete`).
    open[1]?.close();
    let served = false;
    for (let attempt = 0; attempt < 20 && !served; attempt++) {
      const again = connection.subscribe(POST_CREATED);
      // A refused stream answers at once; an accepted one hears a post (events queue up behind
      // the other streams' reads, so it may take a few).
      let first: GraphQLResponse | null = null;
      for (let post = 0; post < 5 && !first; post++) {
        await createPost(globex, `slot ${attempt}.${post}`);
        first = await again.next(2_000);
      }
      served = Boolean(first?.data?.postCreated);
      again.close();
    }
    expect(served).toBe(true);
    for (const sub of [...open, colleague]) sub.close();
  });

  it('end when the member is removed mid-stream, with UNAUTHENTICATED; a colleague goes on', async () => {
    const leaving = await addMember(acme);
    const removed = connect(leaving.token).subscribe(POST_CREATED);
    const colleague = connect(acme.admin.token).subscribe(POST_CREATED);
    await warmUp(removed, acme);
    while (await colleague.next(300)) {}
    const removal = await t.gql(
      'mutation($id: ID!) { removeMember(userId: $id) { deletedId } }',
      { id: leaving.userId },
      acme.owner.token,
    );
    expect(removal.errors).toBeUndefined();
    const last = await removed.next();
    expect(last).toFailWith('UNAUTHENTICATED');
    expect(await removed.ended).toBe('complete');
    await createPost(acme, 'after the removal');
    expect(titleOf(await colleague.next())).toBe('after the removal');
    expect(await removed.next(300)).toBeNull();
    colleague.close();
  });
});
