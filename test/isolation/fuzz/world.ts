import type { GraphQLResponse } from '../../support/api.ts';

/**
 * The world of a fuzz run (see ./arbitraries.ts): the API under test, the organizations and
 * people that exist across fast-check runs, and the hidden per-tenant markers.
 */

// ─── The API under test ──────────────────────────────────────────────────────────────────────

/** What the fuzzer needs: GraphQL over the real HTTP handler, and tokens like signIn's. */
export type FuzzApi = Readonly<{
  gql: (
    query: string,
    variables: Record<string, unknown>,
    token?: string,
  ) => Promise<GraphQLResponse>;
  /** Tokens for created members without signIn, whose scrypt would dominate the run time. */
  issueToken: (claims: { userId: string; organizationId: string }) => Promise<string>;
}>;

export type Role = 'OWNER' | 'ADMIN' | 'MEMBER';
/** A demotion (to a lower rank) ends the member's sessions: tokens issued before are refused. */
export const RANK: Readonly<Record<Role, number>> = { OWNER: 2, ADMIN: 1, MEMBER: 0 };
export type Kind = 'Post' | 'Comment' | 'User' | 'Organization';
export const KINDS: readonly Kind[] = ['Post', 'Comment', 'User', 'Organization'];

export const PASSWORD = 'correct-horse-9';
export const BASE_LABELS = ['acme', 'globex', 'initech', 'umbrella', 'hooli'] as const;
export const BASE_PEOPLE = [
  { label: 'owner', email: 'owner@example.com', name: 'Olive Owner', role: 'OWNER' },
  { label: 'admin', email: 'admin@example.com', name: 'Adam Admin', role: 'ADMIN' },
  { label: 'member', email: 'member@example.com', name: 'Mia Member', role: 'MEMBER' },
] as const;
// The same visible texts in every organization, so only the hidden marker tells rows apart.
export const TITLES = ['Hello', 'Roadmap', 'Release notes', 'Quarterly plan'] as const;
export const CONTENTS = ['First', 'Draft', ''] as const;
export const BODIES = ['Nice', 'Agreed', '+1', 'Looks good'] as const;

// ─── Hidden per-tenant markers ───────────────────────────────────────────────────────────────

// Invisible characters that survive the API's trimming (they are not whitespace): a title that
// shows up in another tenant's response is caught even when its id is not.
export const MARKER = /\u2063([\u200b\u200c]+)\u2064/g;

export function marker(key: number): string {
  const bits = key.toString(2).replaceAll('0', '\u200b').replaceAll('1', '\u200c');
  return `\u2063${bits}\u2064`;
}

export function markersIn(text: string): number[] {
  return [...text.matchAll(MARKER)].map(([, bits = '']) =>
    Number.parseInt(bits.replaceAll('\u200b', '0').replaceAll('\u200c', '1'), 2),
  );
}

/** A text as a person would read it (the story prints these). */
export function visible(text: string): string {
  return text.replace(MARKER, '');
}

// ─── The world: what exists across fast-check runs ───────────────────────────────────────────

/** Uuids the fuzzer made up (missing ids): nobody's rows. */
export const UNOWNED = -1;

export type Person = {
  label: string;
  id: string;
  raw: string;
  token: string;
  role: Role;
  name: string;
  email: string;
  createdAt: string;
};

export type BaseOrg = Readonly<{
  key: number;
  label: string;
  slug: string;
  name: string;
  id: string;
  raw: string;
  /** Owner, admin and member, with the roles every run starts from. */
  /** Mutable only in `token`: a demotion ends a member's sessions; each reset signs them in again. */
  people: readonly Person[];
}>;

export type WorldOptions = Readonly<{
  /** Base organizations (2 to 5). */
  orgs: number;
}>;

export type World = {
  readonly api: FuzzApi;
  /** The base organizations, set up once and reset (through the API) before every run. */
  readonly base: BaseOrg[];
  /** Every uuid the API has handed out (and every one the fuzzer made up): whose it is. */
  readonly owners: Map<string, number>;
  /** Tenants' names by key, for messages. */
  readonly names: Map<number, string>;
  nextKey: number;
  counter: number;
  ops: number;
  requests: number;
  runs: number;
  /** Outcomes per operation, e.g. `updatePost NOT_FOUND (foreign)`: proof of what was covered. */
  readonly stats: Map<string, number>;
  /** Milliseconds spent per operation name, and in resets and audits. */
  readonly time: Map<string, number>;
  /** What the last passing audit read, so the next reset need not read it again. */
  clean: ReadonlyMap<number, OrgState> | null;
};

export type OrgState = Readonly<{ postIds: readonly string[]; members: readonly Person[] }>;

export function signUpInput(slug: string, key: number) {
  return {
    organizationName: `Org${marker(key)}`,
    organizationSlug: slug,
    email: 'owner@example.com',
    password: PASSWORD,
    name: `Olive Owner${marker(key)}`,
  };
}

/** A fresh token for `person`, as signing in again gives (without the scrypt of signIn). */
export async function signInAgain(
  world: World,
  person: Person,
  organizationId: string,
): Promise<void> {
  person.token = await world.api.issueToken({ userId: person.raw, organizationId });
}
