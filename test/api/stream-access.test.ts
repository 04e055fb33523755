import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createAdminCredentials } from '../../src/admin/credential.ts';
import { ADMIN_PATH } from '../../src/admin/endpoint.ts';
import { AUDIENCE, ISSUER } from '../../src/auth/tokens.ts';
import { createSystemClient, type SystemClient } from '../../src/db/system.ts';
import { createEventBus, type EventBus } from '../../src/events/bus.ts';
import type { Api } from '../../src/http/yoga.ts';
import { decodeGlobalId } from '../../src/schema/ids.ts';
import {
  createTestApi,
  field,
  type GraphQLResponse,
  type Member,
  type Org,
  signUpOrg,
  TEST_SECRET,
  type TestApi,
} from '../support/api.ts';
import { REDIS_URL, redisAnswers } from '../support/redis.ts';
import { type SsePayload, type Subscription, subscribe } from '../support/sse.ts';

/**
 * An open stream has no more access than a new request with its token: it ends, with the code a
 * request would get, as soon as its member is removed, its organization suspended or marked for
 * deletion, or its token expires, and it never delivers an event after that. Control events end
 * it at once (no data event needed); without one, the next event is refused. Every stream that
 * ends sits next to one that keeps receiving (a colleague, another organization). Streams are
 * capped per member and per organization, and a slot comes back when its stream ends.
 */
const POST_CREATED = 'subscription { postCreated { id title } }';
const POST_DELETED = 'subscription { postDeleted { id } }';

let t: TestApi;
let server: Server;
let url: string;
let system: SystemClient;
let adminToken: string;
let acme: Org;
let globex: Org;
let initech: Org;
let umbrella: Org;

type Response = GraphQLResponse & { status: number };

async function listen(target: Api): Promise<{ server: Server; url: string }> {
  const http = createServer(target.yoga);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return { server: http, url: `http://127.0.0.1:${(http.address() as AddressInfo).port}` };
}

async function stop(http: Server): Promise<void> {
  http.closeAllConnections();
  await new Promise<void>((resolve) => http.close(() => resolve()));
}

async function post(
  base: string,
  path: string,
  query: string,
  variables: Record<string, unknown>,
  token: string,
): Promise<Response> {
  const response = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, ...((await response.json()) as GraphQLResponse) };
}

const gql = (query: string, variables: Record<string, unknown>, token: string, base = url) =>
  post(base, '/graphql', query, variables, token);
const admin = (query: string, variables: Record<string, unknown>) =>
  post(url, ADMIN_PATH, query, variables, adminToken);

const raw = (globalId: string) => decodeGlobalId(globalId).id;
const orgIdOf = async (org: Org) =>
  (await system.organization.findUniqueOrThrow({ where: { slug: org.slug } })).id;
const settle = () => new Promise((resolve) => setTimeout(resolve, 300));

async function createPost(org: Org, title: string, base = url): Promise<string> {
  const result = await gql(
    'mutation($title: String!) { createPost(input: { title: $title }) { id } }',
    { title },
    org.owner.token,
    base,
  );
  return field<{ id: string }>(result, 'createPost').id;
}

/** A new member of `org`, signed in: tests that end a member's access use their own. */
async function addMember(org: Org, role = 'MEMBER'): Promise<Member> {
  const email = `m-${randomUUID().slice(0, 8)}@example.com`;
  const password = 'correct-horse-9';
  const created = await gql(
    'mutation($input: CreateMemberInput!) { createMember(input: $input) { id } }',
    { input: { email, name: 'Sam Streamer', role, password } },
    org.owner.token,
  );
  const userId = field<{ id: string }>(created, 'createMember').id;
  const signIn = await gql(
    'mutation($input: SignInInput!) { signIn(input: $input) { token } }',
    { input: { organizationSlug: org.slug, email, password } },
    '',
  );
  return { token: field<{ token: string }>(signIn, 'signIn').token, userId, name: 'Sam Streamer' };
}

/** A member token of `org` that expires in `seconds` (well within the allowed lifetime). */
async function tokenFor(org: Org, member: Member, seconds: number): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ org: await orgIdOf(org) })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(raw(member.userId))
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt(now)
    .setExpirationTime(now + seconds)
    .sign(new TextEncoder().encode(TEST_SECRET));
}

const titleOf = (payload: SsePayload | null) =>
  (payload?.data?.postCreated as { title?: string } | null | undefined)?.title;

/** The stream's last event is the error `code`, then it completes; nothing comes after. */
async function expectEndedWith(sub: Subscription, code: string): Promise<void> {
  const last = await sub.next(10_000);
  expect(last, JSON.stringify(sub.frames())).toFailWith(code);
  expect(last?.data?.postCreated ?? null).toBeNull();
  expect(await sub.ended).toBe('complete');
  expect(await sub.next(100)).toBeNull();
}

/** Posts in `org` until `sub` hears one (a stream listens a moment after it starts). */
async function warmUp(sub: Subscription, org: Org, base = url): Promise<void> {
  for (let attempt = 0; attempt < 15; attempt++) {
    await createPost(org, `warm-up ${attempt}`, base);
    if (await sub.next(1_000)) {
      while (await sub.next(300)) {}
      return;
    }
  }
  throw new Error(`the stream never heard a post: ${JSON.stringify(sub.frames())}`);
}

beforeAll(async () => {
  t = await createTestApi({ jobs: true, introspection: false, api: { adminSecret: TEST_SECRET } });
  // A real HTTP server: the streams are read over SSE (test/support/sse.ts).
  ({ server, url } = await listen(t.api));
  system = createSystemClient(t.database);
  adminToken = await createAdminCredentials(TEST_SECRET).issue('ops@example.com');
  acme = await signUpOrg(t, 'acme');
  globex = await signUpOrg(t, 'globex');
  initech = await signUpOrg(t, 'initech');
  umbrella = await signUpOrg(t, 'umbrella');
});

afterAll(async () => {
  if (server) await stop(server);
  await system?.$disconnect();
  await t?.close();
});

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
