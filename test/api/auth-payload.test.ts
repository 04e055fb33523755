import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  codes,
  createTestApi,
  field,
  type GraphQLResponse,
  type Org,
  signUpOrg,
  type TestApi,
} from '../support/api.ts';

/**
 * signIn, signUp and changePassword return the real User and Organization (one normalized-cache
 * entry per row), resolved as a request carrying the new token would be: every relation through
 * that member's scoped client, whoever sent the request.
 */

let t: TestApi;
let a: Org;
let b: Org;
const PASSWORD = 'correct-horse-9';

/** Everything a payload's user and organization reach, the same selection as viewer's. */
const USER = `id __typename name email role
  organization { id slug memberCount }
  posts(first: 10) { totalCount edges { node { id title author { id name } comments { totalCount } } } }`;
const ORGANIZATION = `id __typename slug memberCount
  members(first: 10) { totalCount edges { node { id email posts { totalCount } } } }`;

const signIn = (slug: string, email: string, token?: string) =>
  t.gql(
    `mutation($input: SignInInput!) { signIn(input: $input) {
      token user { ${USER} } organization { ${ORGANIZATION} } } }`,
    { input: { organizationSlug: slug, email, password: PASSWORD } },
    token,
  );

/** What a request with the token answers for the same selection. */
async function asTokenSees(token: string) {
  const seen = await t.gql(`{ viewer { ${USER} } organization { ${ORGANIZATION} } }`, {}, token);
  expect(seen.errors).toBeUndefined();
  return { user: seen.data?.viewer, organization: seen.data?.organization };
}

type Payload = { token: string; user: unknown; organization: unknown };

function payloadOf(result: GraphQLResponse, name: string): Payload {
  expect(result.errors).toBeUndefined();
  return field<Payload>(result, name);
}

beforeAll(async () => {
  t = await createTestApi();
  a = await signUpOrg(t, 'pay-a');
  b = await signUpOrg(t, 'pay-b');
  // A second post in b, so b's lists differ from a's in length as well as in ids.
  await t.gql(
    `mutation { createPost(input: { title: "B only", content: "b" }) { id } }`,
    {},
    b.owner.token,
  );
});

afterAll(() => t.close());

describe('the payload is the real User and Organization', () => {
  it('an anonymous sign-in answers what a request with the new token answers', async () => {
    const payload = payloadOf(await signIn('pay-b', 'member@example.com'), 'signIn');
    expect(payload.user).toMatchObject({ __typename: 'User', id: b.member.userId, role: 'MEMBER' });
    expect(payload.organization).toMatchObject({ __typename: 'Organization', slug: 'pay-b' });
    const { user, organization } = await asTokenSees(payload.token);
    expect(payload.user).toEqual(user);
    expect(payload.organization).toEqual(organization);
  });

  it('a member of another organization signing in gets the new organization, not their own', async () => {
    const asA = payloadOf(await signIn('pay-b', 'owner@example.com', a.owner.token), 'signIn');
    const anonymous = payloadOf(await signIn('pay-b', 'owner@example.com'), 'signIn');
    expect(asA.user).toEqual(anonymous.user);
    expect(asA.organization).toEqual(anonymous.organization);
    expect(asA.user).toMatchObject({ id: b.owner.userId, organization: { slug: 'pay-b' } });
    const text = JSON.stringify(asA);
    for (const id of [a.owner.userId, a.admin.userId, a.member.userId, a.postId]) {
      expect(text).not.toContain(id);
    }
  });

  it('sign-up: the new owner, alone in the new organization', async () => {
    const result = await t.gql(
      `mutation { signUp(input: { organizationName: "Pay C", organizationSlug: "pay-c",
        email: "owner@example.com", password: "${PASSWORD}", name: "Cee" }) {
        token user { ${USER} } organization { ${ORGANIZATION} } } }`,
    );
    const payload = payloadOf(result, 'signUp');
    expect(payload.organization).toMatchObject({
      slug: 'pay-c',
      memberCount: 1,
      members: { totalCount: 1 },
    });
    expect(payload.user).toMatchObject({ role: 'OWNER', posts: { totalCount: 0 } });
    const { user, organization } = await asTokenSees(payload.token);
    expect(payload.user).toEqual(user);
    expect(payload.organization).toEqual(organization);
  });

  it("changePassword's payload is resolved with the new token; the old one is refused", async () => {
    const member = payloadOf(await signIn('pay-a', 'admin@example.com'), 'signIn');
    const changed = await t.gql(
      `mutation { changePassword(input: { currentPassword: "${PASSWORD}", newPassword: "${PASSWORD}" }) {
        token user { ${USER} } organization { ${ORGANIZATION} } } }`,
      {},
      member.token,
    );
    const payload = payloadOf(changed, 'changePassword');
    expect(payload.user).toMatchObject({ id: a.admin.userId });
    const { user, organization } = await asTokenSees(payload.token);
    expect(payload.user).toEqual(user);
    expect(payload.organization).toEqual(organization);
    expect(codes(await t.gql('{ viewer { id } }', {}, member.token))).toEqual(['UNAUTHENTICATED']);
  });
});

describe('a token-issuing field is alone in its operation', () => {
  const MUTATION = `signIn(input: { organizationSlug: "pay-a", email: "owner@example.com", password: "${PASSWORD}" }) { token }`;

  it.each([
    [
      'beside another root field',
      `mutation { ${MUTATION} createPost(input: { title: "x", content: "x" }) { id } }`,
    ],
    [
      'beside one in a fragment',
      `mutation { ...F } fragment F on Mutation { ${MUTATION} updateProfile(input: { name: "X" }) { id } }`,
    ],
    [
      'inside an inline fragment',
      `mutation { ... on Mutation { ${MUTATION} } markNotificationsRead }`,
    ],
  ])('%s: CREDENTIAL_OPERATION_NOT_ALONE, nothing runs', async (_name, document) => {
    const count = async () =>
      field<{ totalCount: number }>(
        await t.gql('{ posts { totalCount } }', {}, a.owner.token),
        'posts',
      ).totalCount;
    const before = await count();
    const result = await t.gql(document, {}, a.member.token);
    expect(codes(result)).toEqual(['CREDENTIAL_OPERATION_NOT_ALONE']);
    expect(result.data).toBeUndefined();
    expect(await count()).toBe(before);
  });

  it('__typename beside it is fine', async () => {
    const result = await t.gql(`mutation { __typename ${MUTATION} }`);
    expect(result.errors).toBeUndefined();
    expect(result.data?.__typename).toBe('Mutation');
  });

  it("a batch's other operations keep the request's own identity", async () => {
    const response = await t.fetch({
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([{ query: `mutation { ${MUTATION} }` }, { query: '{ viewer { id } }' }]),
    });
    const [signedIn, viewer] = (await response.json()) as GraphQLResponse[];
    expect(signedIn?.errors).toBeUndefined();
    expect(viewer?.data).toBeNull();
    expect(viewer?.errors?.map((e) => e.extensions?.code)).toEqual(['UNAUTHENTICATED']);
  });
});
