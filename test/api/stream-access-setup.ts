import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, expect } from 'vitest';
import { createAdminCredentials } from '../../src/admin/credential.ts';
import { ADMIN_PATH } from '../../src/admin/endpoint.ts';
import { AUDIENCE, ISSUER } from '../../src/auth/tokens.ts';
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
import type { SsePayload, Subscription } from '../support/sse.ts';

/**
 * An open stream has no more access than a new request with its token: it ends, with the code a
 * request would get, as soon as its member is removed, its organization suspended or marked for
 * deletion, or its token expires, and it never delivers an event after that. Control events end
 * it at once (no data event needed); without one, the next event is refused. Every stream that
 * ends sits next to one that keeps receiving (a colleague, another organization). Streams are
 * capped per member and per organization, and a slot comes back when its stream ends.
 *
 * The setup shared by test/api/stream-access*.test.ts and test/api/stream-limits.test.ts: the
 * API (jobs worked in-process, the admin endpoint on) on a real listening HTTP server, whose
 * streams are read over SSE (test/support/sse.ts). It does not import the system client
 * (test/tenancy/imports.test.ts): organization ids are read through the API.
 */
export const POST_CREATED = 'subscription { postCreated { id title } }';
export const POST_DELETED = 'subscription { postDeleted { id } }';

export let t: TestApi;
let server: Server;
export let url: string;
let adminToken: string;
export let acme: Org;
export let globex: Org;
export let initech: Org;
export let umbrella: Org;

type Slug = 'acme' | 'globex' | 'initech' | 'umbrella';

/** Registers, in the calling test file, the hooks that build and tear down the above. */
export function useStreamServer(...slugs: Slug[]): void {
  beforeAll(async () => {
    t = await createTestApi({
      jobs: true,
      introspection: false,
      api: { adminSecret: TEST_SECRET },
    });
    // A real HTTP server: the streams are read over SSE (test/support/sse.ts).
    ({ server, url } = await listen(t.api));
    adminToken = await createAdminCredentials(TEST_SECRET).issue('ops@example.com');
    if (slugs.includes('acme')) acme = await signUpOrg(t, 'acme');
    if (slugs.includes('globex')) globex = await signUpOrg(t, 'globex');
    if (slugs.includes('initech')) initech = await signUpOrg(t, 'initech');
    if (slugs.includes('umbrella')) umbrella = await signUpOrg(t, 'umbrella');
  });

  afterAll(async () => {
    if (server) await stop(server);
    await t?.close();
  });
}

type Response = GraphQLResponse & { status: number };

export async function listen(target: Api): Promise<{ server: Server; url: string }> {
  const http = createServer(target.yoga);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return { server: http, url: `http://127.0.0.1:${(http.address() as AddressInfo).port}` };
}

export async function stop(http: Server): Promise<void> {
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

export const gql = (query: string, variables: Record<string, unknown>, token: string, base = url) =>
  post(base, '/graphql', query, variables, token);
export const admin = (query: string, variables: Record<string, unknown>) =>
  post(url, ADMIN_PATH, query, variables, adminToken);

export const raw = (globalId: string) => decodeGlobalId(globalId).id;
/** The organization's database id, as its owner reads it (while it is not suspended). */
export const orgIdOf = async (org: Org) =>
  raw(
    field<{ id: string }>(await gql('{ organization { id } }', {}, org.owner.token), 'organization')
      .id,
  );
export const settle = () => new Promise((resolve) => setTimeout(resolve, 300));

export async function createPost(org: Org, title: string, base = url): Promise<string> {
  const result = await gql(
    'mutation($title: String!) { createPost(input: { title: $title }) { id } }',
    { title },
    org.owner.token,
    base,
  );
  return field<{ id: string }>(result, 'createPost').id;
}

/** A new member of `org`, signed in: tests that end a member's access use their own. */
export async function addMember(org: Org, role = 'MEMBER'): Promise<Member> {
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
export async function tokenFor(org: Org, member: Member, seconds: number): Promise<string> {
  const organizationId = await orgIdOf(org);
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ org: organizationId })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(raw(member.userId))
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt(now)
    .setExpirationTime(now + seconds)
    .sign(new TextEncoder().encode(TEST_SECRET));
}

export const titleOf = (payload: SsePayload | null) =>
  (payload?.data?.postCreated as { title?: string } | null | undefined)?.title;

/** The stream's last event is the error `code`, then it completes; nothing comes after. */
export async function expectEndedWith(sub: Subscription, code: string): Promise<void> {
  const last = await sub.next(10_000);
  expect(last, JSON.stringify(sub.frames())).toFailWith(code);
  expect(last?.data?.postCreated ?? null).toBeNull();
  expect(await sub.ended).toBe('complete');
  expect(await sub.next(100)).toBeNull();
}

/** Posts in `org` until `sub` hears one (a stream listens a moment after it starts). */
export async function warmUp(sub: Subscription, org: Org, base = url): Promise<void> {
  for (let attempt = 0; attempt < 15; attempt++) {
    await createPost(org, `warm-up ${attempt}`, base);
    if (await sub.next(1_000)) {
      while (await sub.next(300)) {}
      return;
    }
  }
  throw new Error(`the stream never heard a post: ${JSON.stringify(sub.frames())}`);
}
