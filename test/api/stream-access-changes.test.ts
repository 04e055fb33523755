import { describe, expect, it } from 'vitest';
import { field } from '../support/api.ts';
import { subscribe } from '../support/sse.ts';
import {
  acme,
  addMember,
  admin,
  createPost,
  expectEndedWith,
  globex,
  gql,
  initech,
  orgIdOf,
  POST_CREATED,
  POST_DELETED,
  titleOf,
  umbrella,
  url,
  useStreamServer,
  warmUp,
} from './stream-access-setup.ts';

/**
 * Access changes made through the API end the streams they concern at once, by control event (no
 * data event needed), with the code a new request with the same token gets: a member's removal,
 * demotion or password change, the organization's suspension or deletion request. A colleague's
 * stream, or another organization's, keeps receiving. Shared setup:
 * test/api/stream-access-setup.ts.
 */
useStreamServer('acme', 'globex', 'initech', 'umbrella');

describe('a stream ends when its access does', () => {
  it("a removed member's stream ends at once with UNAUTHENTICATED; a colleague's keeps going", async () => {
    const leaving = await addMember(acme);
    const removed = await subscribe(`${url}/graphql`, POST_CREATED, {}, leaving.token);
    const colleague = await subscribe(`${url}/graphql`, POST_CREATED, {}, acme.member.token);
    try {
      await warmUp(removed, acme);
      while (await colleague.next(300)) {}
      const removal = await gql(
        'mutation($id: ID!) { removeMember(userId: $id) { deletedId } }',
        { id: leaving.userId },
        acme.owner.token,
      );
      expect(removal.errors).toBeUndefined();
      // No post in between: the control event ended it.
      await expectEndedWith(removed, 'UNAUTHENTICATED');
      await createPost(acme, 'after the removal');
      expect(titleOf(await colleague.next())).toBe('after the removal');
      expect(await removed.next(500)).toBeNull();
      // What a new request with the same token gets.
      expect(
        (await gql('{ viewer { id } }', {}, leaving.token)).errors?.[0]?.extensions?.code,
      ).toBe('UNAUTHENTICATED');
    } finally {
      removed.close();
      colleague.close();
    }
  });

  it("suspension ends the organization's streams with ORGANIZATION_SUSPENDED, no one else's", async () => {
    const initechId = await orgIdOf(initech);
    const suspendedMember = await subscribe(
      `${url}/graphql`,
      POST_CREATED,
      {},
      initech.member.token,
    );
    const suspendedOwner = await subscribe(`${url}/graphql`, POST_DELETED, {}, initech.owner.token);
    const other = await subscribe(`${url}/graphql`, POST_CREATED, {}, acme.admin.token);
    try {
      await warmUp(suspendedMember, initech);
      await warmUp(other, acme);
      const suspended = await admin(
        'mutation($id: ID!) { suspendOrganization(id: $id, reason: "Unpaid") { suspendedAt } }',
        { id: initechId },
      );
      expect(suspended.errors).toBeUndefined();
      await expectEndedWith(suspendedMember, 'ORGANIZATION_SUSPENDED');
      await expectEndedWith(suspendedOwner, 'ORGANIZATION_SUSPENDED');
      await createPost(acme, 'acme goes on');
      expect(titleOf(await other.next())).toBe('acme goes on');
      // A new stream is refused the same way, until the organization is resumed.
      const refused = await subscribe(`${url}/graphql`, POST_CREATED, {}, initech.member.token);
      expect(await refused.next()).toFailWith('ORGANIZATION_SUSPENDED');
      refused.close();
      await admin('mutation($id: ID!) { resumeOrganization(id: $id) { id } }', { id: initechId });
      const resumed = await subscribe(`${url}/graphql`, POST_CREATED, {}, initech.member.token);
      try {
        await warmUp(resumed, initech);
      } finally {
        resumed.close();
      }
    } finally {
      suspendedMember.close();
      suspendedOwner.close();
      other.close();
    }
  });

  it('a deletion request ends the organization’s streams with UNAUTHENTICATED', async () => {
    const doomed = await subscribe(`${url}/graphql`, POST_CREATED, {}, umbrella.member.token);
    const other = await subscribe(`${url}/graphql`, POST_CREATED, {}, globex.admin.token);
    try {
      await warmUp(doomed, umbrella);
      await warmUp(other, globex);
      const deleted = await admin('mutation($id: ID!) { deleteOrganization(id: $id) { jobId } }', {
        id: await orgIdOf(umbrella),
      });
      expect(deleted.errors).toBeUndefined();
      await expectEndedWith(doomed, 'UNAUTHENTICATED');
      await createPost(globex, 'globex goes on');
      expect(titleOf(await other.next())).toBe('globex goes on');
    } finally {
      doomed.close();
      other.close();
    }
  });

  it("a demotion ends the member's stream at once (its tokens are invalidated); a promotion does not", async () => {
    const demoted = await addMember(acme, 'ADMIN');
    const promoted = await addMember(acme, 'MEMBER');
    const sub = await subscribe(`${url}/graphql`, POST_CREATED, {}, demoted.token);
    const kept = await subscribe(`${url}/graphql`, POST_CREATED, {}, promoted.token);
    try {
      await warmUp(sub, acme);
      while (await kept.next(300)) {}
      const roleChange = (userId: string, role: string) =>
        gql(
          'mutation($input: ChangeMemberRoleInput!) { changeMemberRole(input: $input) { role } }',
          { input: { userId, role } },
          acme.owner.token,
        );
      expect(
        field<{ role: string }>(await roleChange(demoted.userId, 'MEMBER'), 'changeMemberRole')
          .role,
      ).toBe('MEMBER');
      expect(
        field<{ role: string }>(await roleChange(promoted.userId, 'ADMIN'), 'changeMemberRole')
          .role,
      ).toBe('ADMIN');
      // No post in between: the control event ended it.
      await expectEndedWith(sub, 'UNAUTHENTICATED');
      await createPost(acme, 'after the role changes');
      expect(titleOf(await kept.next())).toBe('after the role changes');
      expect(
        (await gql('{ viewer { role } }', {}, demoted.token)).errors?.[0]?.extensions?.code,
      ).toBe('UNAUTHENTICATED');
    } finally {
      sub.close();
      kept.close();
    }
  });

  it("a password change ends the member's open streams at once; the new token streams", async () => {
    const changing = await addMember(globex);
    const sub = await subscribe(`${url}/graphql`, POST_CREATED, {}, changing.token);
    const colleague = await subscribe(`${url}/graphql`, POST_CREATED, {}, globex.member.token);
    try {
      await warmUp(sub, globex);
      while (await colleague.next(300)) {}
      const changed = await gql(
        'mutation($input: ChangePasswordInput!) { changePassword(input: $input) { token } }',
        { input: { currentPassword: 'correct-horse-9', newPassword: 'battery-staple-10' } },
        changing.token,
      );
      const fresh = field<{ token: string }>(changed, 'changePassword').token;
      await expectEndedWith(sub, 'UNAUTHENTICATED');
      await createPost(globex, 'after the password change');
      expect(titleOf(await colleague.next())).toBe('after the password change');
      const again = await subscribe(`${url}/graphql`, POST_CREATED, {}, fresh);
      try {
        await warmUp(again, globex);
      } finally {
        again.close();
      }
    } finally {
      sub.close();
      colleague.close();
    }
  });
});
