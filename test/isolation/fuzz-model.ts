/**
 * Property-based cross-tenant fuzzing, shared by test/isolation/fuzz.test.ts and scripts/fuzz.ts.
 *
 * fast-check generates sequences of API operations by random users of several organizations
 * whose data look alike (same emails, titles and bodies; only a hidden marker tells them
 * apart). Each command runs against the real API and is checked against a model of what every
 * tenant holds: own rows match the model exactly, role rules give FORBIDDEN only inside the
 * caller's organization, and another organization's id behaves exactly like a missing one
 * (NOT_FOUND with the same message, `null` from `node`). Every response is scanned for ids,
 * cursors, tokens and markers of another tenant. Failures shrink to a short story.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeGlobalId, encodeGlobalId } from '../../src/schema/ids.ts';

// ─── The API under test ──────────────────────────────────────────────────────────────────────

export type GqlError = Readonly<{
  message: string;
  path?: ReadonlyArray<string | number>;
  extensions?: Readonly<Record<string, unknown>>;
}>;

export type GqlResponse = Readonly<{
  data?: Readonly<Record<string, unknown>> | null;
  errors?: ReadonlyArray<GqlError>;
}>;

/** What the fuzzer needs: GraphQL over the real HTTP handler, and tokens like signIn's. */
export type FuzzApi = Readonly<{
  gql: (query: string, variables: Record<string, unknown>, token?: string) => Promise<GqlResponse>;
  /** Tokens for created members without signIn, whose scrypt would dominate the run time. */
  issueToken: (claims: { userId: string; organizationId: string }) => Promise<string>;
}>;

type Role = 'OWNER' | 'ADMIN' | 'MEMBER';
/** A demotion (to a lower rank) ends the member's sessions: tokens issued before are refused. */
const RANK: Readonly<Record<Role, number>> = { OWNER: 2, ADMIN: 1, MEMBER: 0 };
type Kind = 'Post' | 'Comment' | 'User' | 'Organization';
const KINDS: readonly Kind[] = ['Post', 'Comment', 'User', 'Organization'];

const PASSWORD = 'correct-horse-9';
export const BASE_LABELS = ['acme', 'globex', 'initech', 'umbrella', 'hooli'] as const;
const BASE_PEOPLE = [
  { label: 'owner', email: 'owner@example.com', name: 'Olive Owner', role: 'OWNER' },
  { label: 'admin', email: 'admin@example.com', name: 'Adam Admin', role: 'ADMIN' },
  { label: 'member', email: 'member@example.com', name: 'Mia Member', role: 'MEMBER' },
] as const;
// The same visible texts in every organization, so only the hidden marker tells rows apart.
const TITLES = ['Hello', 'Roadmap', 'Release notes', 'Quarterly plan'] as const;
const CONTENTS = ['First', 'Draft', ''] as const;
const BODIES = ['Nice', 'Agreed', '+1', 'Looks good'] as const;

// ─── Hidden per-tenant markers ───────────────────────────────────────────────────────────────

// Invisible characters that survive the API's trimming (they are not whitespace): a title that
// shows up in another tenant's response is caught even when its id is not.
const MARKER = /\u2063([\u200b\u200c]+)\u2064/g;

export function marker(key: number): string {
  const bits = key.toString(2).replaceAll('0', '\u200b').replaceAll('1', '\u200c');
  return `\u2063${bits}\u2064`;
}

function markersIn(text: string): number[] {
  return [...text.matchAll(MARKER)].map(([, bits = '']) =>
    Number.parseInt(bits.replaceAll('\u200b', '0').replaceAll('\u200c', '1'), 2),
  );
}

/** A text as a person would read it (the story prints these). */
function visible(text: string): string {
  return text.replace(MARKER, '');
}

// ─── The world: what exists across fast-check runs ───────────────────────────────────────────

/** Uuids the fuzzer made up (missing ids): nobody's rows. */
const UNOWNED = -1;

type Person = {
  label: string;
  id: string;
  raw: string;
  token: string;
  role: Role;
  name: string;
  email: string;
  createdAt: string;
};

type BaseOrg = Readonly<{
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

// ─── The model: what each tenant should see during one run ───────────────────────────────────

type MPost = {
  n: number;
  id: string;
  raw: string;
  authorId: string;
  title: string;
  content: string | null;
  createdAt: string;
  deleted: boolean;
};

type MComment = {
  n: number;
  id: string;
  raw: string;
  postId: string;
  authorId: string;
  body: string;
  createdAt: string;
  deleted: boolean;
};

type MOrg = {
  key: number;
  label: string;
  slug: string;
  name: string;
  id: string;
  raw: string;
  /** Users commands can act as or target: the base people and members created in this run. */
  users: Person[];
  /** Members created by earlier runs: listed by `members`, never chosen by a command. */
  ghosts: Person[];
  /** Every post of this run, deleted ones included (their ids then behave as missing). */
  posts: MPost[];
  comments: MComment[];
  /** Cursors seen in responses, by post uuid. */
  cursors: Map<string, string>;
};

export type Model = { orgs: MOrg[]; base: number; story: string[] };

// ─── Symbolic references, resolved against the model when a command runs ─────────────────────

/** A base organization, or the k-th organization signed up in this run (else `fallback`). */
type OrgRef = Readonly<{ base: number }> | Readonly<{ signup: number; fallback: number }>;
/** User 0 is the owner, 1 the admin, 2 the member, 3+ created members (modulo what exists). */
type ActorRef = Readonly<{ org: OrgRef; user: number }>;
type IdRef =
  | Readonly<{ t: 'row'; org: OrgRef | 'self'; kind: Kind; n: number; uuid: string }>
  | Readonly<{ t: 'missing'; kind: Kind; uuid: string }>
  | Readonly<{ t: 'malformed'; text: string }>
  | Readonly<{ t: 'unknownType'; uuid: string }>;

function orgRefLabel(ref: OrgRef): string {
  return 'base' in ref ? (BASE_LABELS[ref.base] ?? `org${ref.base}`) : `new#${ref.signup}`;
}

/** `globex.` for another organization, nothing for the actor's own. */
function prefix(org: OrgRef | 'self'): string {
  return org === 'self' ? '' : `${orgRefLabel(org)}.`;
}

function actorLabel(ref: ActorRef): string {
  const user = (['owner', 'admin', 'member'] as const)[ref.user] ?? `user#${ref.user}`;
  return `${orgRefLabel(ref.org)}.${user}`;
}

function idRefLabel(ref: IdRef): string {
  switch (ref.t) {
    case 'row': {
      const org = ref.org === 'self' ? '' : `${orgRefLabel(ref.org)}.`;
      return ref.kind === 'Organization'
        ? `${org || 'own '}org`
        : `${org}${ref.kind.toLowerCase()}#${ref.n}`;
    }
    case 'missing':
      return `missing ${ref.kind}`;
    case 'malformed':
      return `malformed ${JSON.stringify(ref.text)}`;
    case 'unknownType':
      return 'Invoice id';
  }
}

type Actor = Readonly<{ org: MOrg; user: Person; label: string }>;

type Resolved = Readonly<{
  id: string;
  label: string;
  kind: Kind | 'malformed' | 'unknownType';
  /** Whose row it is (null: nobody's). */
  org: MOrg | null;
  row: MPost | MComment | Person | MOrg | null;
  live: boolean;
  /** A made-up uuid of the same type: the missing id a foreign id is compared with. */
  uuid: string;
}>;

function at<T>(list: readonly T[], index: number): T {
  const value = list[index];
  if (value === undefined) throw new Error(`no element ${index} of ${list.length}`);
  return value;
}

function resolveOrg(model: Model, ref: OrgRef): MOrg {
  if ('base' in ref) return at(model.orgs, ref.base % model.base);
  return model.orgs[model.base + ref.signup] ?? at(model.orgs, ref.fallback % model.base);
}

function resolveActor(model: Model, ref: ActorRef): Actor {
  const org = resolveOrg(model, ref.org);
  const user = org.users[ref.user] ?? at(org.users, ref.user % org.users.length);
  return { org, user, label: `${org.label}.${user.label}[${user.role}]` };
}

function rowsOf(org: MOrg, kind: Kind): readonly (MPost | MComment | Person | MOrg)[] {
  switch (kind) {
    case 'Post':
      return org.posts;
    case 'Comment':
      return org.comments;
    case 'User':
      return org.users;
    case 'Organization':
      return [org];
  }
}

function unowned(world: World, uuid: string): string {
  if (!world.owners.has(uuid)) world.owners.set(uuid, UNOWNED);
  return uuid;
}

function resolveId(world: World, model: Model, actor: Actor, ref: IdRef): Resolved {
  const nobody = { org: null, row: null, live: false } as const;
  switch (ref.t) {
    case 'malformed':
      return { ...nobody, id: ref.text, label: idRefLabel(ref), kind: 'malformed', uuid: ref.text };
    case 'unknownType':
      unowned(world, ref.uuid);
      return {
        ...nobody,
        id: encodeGlobalId('Invoice', ref.uuid),
        label: idRefLabel(ref),
        kind: 'unknownType',
        uuid: ref.uuid,
      };
    case 'missing':
      unowned(world, ref.uuid);
      return {
        ...nobody,
        id: encodeGlobalId(ref.kind, ref.uuid),
        label: idRefLabel(ref),
        kind: ref.kind,
        uuid: ref.uuid,
      };
    case 'row': {
      const org = ref.org === 'self' ? actor.org : resolveOrg(model, ref.org);
      const rows = rowsOf(org, ref.kind);
      unowned(world, ref.uuid);
      if (rows.length === 0) {
        return {
          ...nobody,
          id: encodeGlobalId(ref.kind, ref.uuid),
          label: `${org.label}.${ref.kind.toLowerCase()}#${ref.n} (none yet: a missing id)`,
          kind: ref.kind,
          uuid: ref.uuid,
        };
      }
      const index = ref.n < rows.length ? ref.n : ref.n % rows.length;
      const row = at(rows, index);
      const live = !('deleted' in row && row.deleted);
      const name =
        ref.kind === 'Organization'
          ? `${org.label}.org`
          : ref.kind === 'User'
            ? `${org.label}.${(row as Person).label}`
            : `${org.label}.${ref.kind.toLowerCase()}#${index}`;
      return {
        id: row.id,
        label: `${name}${live ? '' : ' (deleted)'}`,
        kind: ref.kind,
        org,
        row,
        live,
        uuid: ref.uuid,
      };
    }
  }
}

/** What an id means to `actor` for an operation that takes an id of `kind`. */
function classify(r: Resolved, kind: Kind, actor: Actor): 'own' | 'absent' | 'invalid' {
  if (r.kind !== kind) return 'invalid';
  return r.org === actor.org && r.live ? 'own' : 'absent';
}

function isForeign(r: Resolved, actor: Actor): boolean {
  return r.org !== null && r.org !== actor.org;
}

// ─── Expected shapes ─────────────────────────────────────────────────────────────────────────

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Newest first, as the API orders posts: (createdAt, id) descending. */
function livePosts(org: MOrg, authorId?: string): MPost[] {
  return org.posts
    .filter((p) => !p.deleted && (authorId === undefined || p.authorId === authorId))
    .sort((a, b) => cmp(b.createdAt, a.createdAt) || cmp(b.raw, a.raw));
}

/** Oldest first: (createdAt, id) ascending. */
function liveComments(org: MOrg, post: MPost): MComment[] {
  return org.comments
    .filter((c) => !c.deleted && c.postId === post.id)
    .sort((a, b) => cmp(a.createdAt, b.createdAt) || cmp(a.raw, b.raw));
}

function members(org: MOrg): Person[] {
  return [...org.users, ...org.ghosts].sort(
    (a, b) => cmp(a.createdAt, b.createdAt) || cmp(a.raw, b.raw),
  );
}

function canEdit(user: Person, authorId: string): boolean {
  return user.id === authorId || user.role === 'OWNER' || user.role === 'ADMIN';
}

const POST_FIELDS = 'id title content createdAt author { id } commentCount viewerCanEdit';
const COMMENT_FIELDS = 'id body createdAt author { id } post { id } viewerCanEdit';
const COMMENTS_PAGE = 50;
const POST_DETAIL = `${POST_FIELDS}
  comments(first: ${COMMENTS_PAGE}) { totalCount edges { node { ${COMMENT_FIELDS} } } }`;
const MEMBER_FIELDS = 'id name email role createdAt';
const ORG_FIELDS = 'id slug name memberCount';
const NODE_FIELDS = `__typename id
  ... on Post { title author { id } }
  ... on Comment { body post { id } }
  ... on User { name role }
  ... on Organization { slug memberCount }`;

function postShape(org: MOrg, post: MPost, viewer: Person) {
  return {
    id: post.id,
    title: post.title,
    content: post.content,
    createdAt: post.createdAt,
    author: { id: post.authorId },
    commentCount: liveComments(org, post).length,
    viewerCanEdit: canEdit(viewer, post.authorId),
  };
}

function commentShape(comment: MComment, viewer: Person) {
  return {
    id: comment.id,
    body: comment.body,
    createdAt: comment.createdAt,
    author: { id: comment.authorId },
    post: { id: comment.postId },
    viewerCanEdit: canEdit(viewer, comment.authorId),
  };
}

function postDetailShape(org: MOrg, post: MPost, viewer: Person) {
  const comments = liveComments(org, post);
  return {
    ...postShape(org, post, viewer),
    comments: {
      totalCount: comments.length,
      edges: comments.slice(0, COMMENTS_PAGE).map((c) => ({ node: commentShape(c, viewer) })),
    },
  };
}

function memberShape(person: Person) {
  const { id, name, email, role, createdAt } = person;
  return { id, name, email, role, createdAt };
}

function orgShape(org: MOrg) {
  return {
    id: org.id,
    slug: org.slug,
    name: org.name,
    memberCount: org.users.length + org.ghosts.length,
  };
}

function nodeShape(r: Resolved): Record<string, unknown> {
  const { org, row } = r;
  if (!org || !row) throw new Error(`no row behind ${r.label}`);
  switch (r.kind) {
    case 'Post': {
      const post = row as MPost;
      return { __typename: 'Post', id: post.id, title: post.title, author: { id: post.authorId } };
    }
    case 'Comment': {
      const comment = row as MComment;
      return {
        __typename: 'Comment',
        id: comment.id,
        body: comment.body,
        post: { id: comment.postId },
      };
    }
    case 'User': {
      const user = row as Person;
      return { __typename: 'User', id: user.id, name: user.name, role: user.role };
    }
    case 'Organization': {
      const { id, slug, memberCount } = orgShape(org);
      return { __typename: 'Organization', id, slug, memberCount };
    }
    default:
      throw new Error(`no node shape for ${r.kind}`);
  }
}

// ─── Checks ──────────────────────────────────────────────────────────────────────────────────

/** A failed check; the message names the step and ends with the story of the run. */
export class IsolationFailure extends Error {
  override readonly name = 'IsolationFailure';
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

/**
 * Every string of a response (data and errors), and what it decodes to when it looks like
 * base64 (global ids, cursors, token parts), may only name the caller's rows: uuids another
 * tenant owns, or markers of another tenant, are leaks. A uuid nobody handed out is a failure
 * too: the model would not know that row.
 */
function scan(world: World, caller: number, response: GqlResponse, who: string): void {
  const tenant = (key: number) => world.names.get(key) ?? `tenant #${key}`;
  const check = (text: string, path: string) => {
    const decoded = /^[A-Za-z0-9_\-+/=.]{16,}$/.test(text)
      ? text.split('.').map((part) => Buffer.from(part, 'base64').toString('latin1'))
      : [];
    for (const candidate of [text, ...decoded]) {
      for (const [uuid] of candidate.matchAll(UUID)) {
        const owner = world.owners.get(uuid.toLowerCase());
        if (owner === undefined) {
          throw new IsolationFailure(`unknown uuid ${uuid} in the response to ${who} at ${path}`);
        }
        if (owner !== caller && owner !== UNOWNED) {
          throw new IsolationFailure(
            `LEAK: the response to ${who} holds a row of ${tenant(owner)} ` +
              `(uuid ${uuid}) at ${path}`,
          );
        }
      }
      for (const key of markersIn(candidate)) {
        if (key !== caller) {
          throw new IsolationFailure(
            `LEAK: the response to ${who} holds text of ${tenant(key)} at ${path}: ` +
              JSON.stringify(visible(candidate)),
          );
        }
      }
    }
  };
  const visit = (value: unknown, path: string): void => {
    if (typeof value === 'string') check(value, path);
    else if (Array.isArray(value)) {
      for (const [i, item] of value.entries()) visit(item, `${path}[${i}]`);
    } else if (value && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) visit(item, `${path}.${key}`);
    }
  };
  visit({ data: response.data, errors: response.errors }, 'response');
}

function same(actual: unknown, expected: unknown, context: string): void {
  try {
    assert.deepStrictEqual(actual, expected);
  } catch (error) {
    throw new IsolationFailure(`${context}\n${(error as Error).message}`);
  }
}

function expectError(res: GqlResponse, code: string, context: string, data: unknown = null): void {
  const errors = res.errors ?? [];
  const got = errors.map((e) => e.extensions?.code ?? `(no code: ${e.message})`);
  if (errors.length !== 1 || got[0] !== code) {
    throw new IsolationFailure(
      `${context}: expected ${code}, got ${got.join(', ') || 'no error'}: ${JSON.stringify(res)}`,
    );
  }
  same(res.data ?? null, data, `${context}: data next to the ${code} error`);
}

function okData(res: GqlResponse, context: string): Readonly<Record<string, unknown>> {
  if (res.errors?.length || !res.data) {
    const got = (res.errors ?? []).map((e) => e.extensions?.code ?? `(no code: ${e.message})`);
    throw new IsolationFailure(
      `${context}: expected success, got ${got.join(', ') || 'no data'}: ${JSON.stringify(res)}`,
    );
  }
  return res.data;
}

function record(value: unknown, what: string): Readonly<Record<string, unknown>> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    throw new IsolationFailure(`${what}: expected an object, got ${JSON.stringify(value)}`);
  }
  return value as Record<string, unknown>;
}

function text(value: unknown, what: string): string {
  if (typeof value !== 'string') {
    throw new IsolationFailure(`${what}: expected a string, got ${JSON.stringify(value)}`);
  }
  return value;
}

function rawOf(globalId: string): string {
  return decodeGlobalId(globalId).id;
}

/** Data and errors only (the test API adds status and headers), comparable as a whole. */
function normalize(res: GqlResponse): GqlResponse {
  return {
    ...('data' in res ? { data: res.data } : {}),
    ...(res.errors ? { errors: res.errors } : {}),
  };
}

function timed(world: World, key: string, started: number): void {
  world.time.set(key, (world.time.get(key) ?? 0) + performance.now() - started);
}

function count(world: World, key: string): void {
  world.stats.set(key, (world.stats.get(key) ?? 0) + 1);
}

/** One request as `token`, scanned for other tenants' rows on behalf of `caller`. */
async function request(
  world: World,
  caller: number,
  who: string,
  token: string | undefined,
  query: string,
  variables: Record<string, unknown>,
  created?: string,
): Promise<GqlResponse> {
  const res = normalize(await world.api.gql(query, variables, token));
  world.requests += 1;
  // A row the call just created is the caller's: register it before the scan looks for it.
  const row = created && !res.errors?.length ? res.data?.[created] : undefined;
  if (row && typeof row === 'object' && 'id' in row && typeof row.id === 'string') {
    world.owners.set(rawOf(row.id), caller);
  }
  scan(world, caller, res, who);
  return res;
}

/** What one command does; `describe` the resolved step before the first request. */
class Step {
  description = '';
  outcome = '';
  constructor(
    readonly world: World,
    readonly model: Model,
    readonly name: string,
  ) {}

  describe(text: string): void {
    this.description = text;
  }

  done(outcome: string): void {
    this.outcome = outcome;
    count(this.world, `${this.name} ${outcome}`);
  }

  call(
    actor: Actor,
    query: string,
    variables: Record<string, unknown>,
    created?: string,
  ): Promise<GqlResponse> {
    return request(
      this.world,
      actor.org.key,
      actor.label,
      actor.user.token,
      query,
      variables,
      created,
    );
  }

  /**
   * An operation on one id. An id that is not of `kind` is BAD_USER_INPUT; an absent one
   * (missing, deleted, or another tenant's) is NOT_FOUND; a live own row gets `own()`. A role
   * rule checked before the id (`before`) wins over all of these. For another tenant's id, the
   * same operation with a made-up id of the same type must answer exactly the same, and the
   * row must be untouched afterwards (read back by its own organization's owner).
   */
  async targeted(options: {
    actor: Actor;
    target: Resolved;
    kind: Kind;
    query: string;
    variables: (id: string) => Record<string, unknown>;
    created?: string;
    before?: string | null;
    /** An error given after the id parses but before the row is looked up. */
    afterParse?: string | null;
    own: () => { error: string } | { check: (data: Readonly<Record<string, unknown>>) => void };
  }): Promise<void> {
    const { actor, target, kind } = options;
    const res = await this.call(
      actor,
      options.query,
      options.variables(target.id),
      options.created,
    );
    const cls = classify(target, kind, actor);
    const expectation =
      options.before != null
        ? { error: options.before }
        : cls === 'invalid'
          ? { error: 'BAD_USER_INPUT' }
          : options.afterParse != null
            ? { error: options.afterParse }
            : cls === 'absent'
              ? { error: 'NOT_FOUND' }
              : options.own();
    const foreign = isForeign(target, actor) && target.kind === kind;
    if ('error' in expectation) {
      expectError(res, expectation.error, `${this.name}(${target.label})`);
      this.done(`${expectation.error}${foreign ? ' (foreign)' : ''}`);
    } else {
      expectation.check(okData(res, `${this.name}(${target.label})`));
      this.done('ok');
    }
    if (foreign) {
      const twinId = encodeGlobalId(kind, target.uuid);
      const twin = await this.call(actor, options.query, options.variables(twinId));
      same(
        res,
        twin,
        `${this.name}: another tenant's id (${target.label}) must answer exactly like a ` +
          `missing ${kind} id`,
      );
      if (target.live) await this.untouched(target);
    }
  }

  /** A foreign row, read back by its own organization's owner, still matches the model. */
  async untouched(target: Resolved): Promise<void> {
    const org = target.org;
    if (!org) return;
    const owner = at(org.users, 0);
    const res = await request(
      this.world,
      org.key,
      `${org.label}.owner`,
      owner.token,
      `query Node($id: ID!) { node(id: $id) { ${NODE_FIELDS} } }`,
      { id: target.id },
    );
    same(
      okData(res, `${target.label} read back by its owner`).node,
      nodeShape(target),
      `${target.label}, read back by its own organization, changed`,
    );
  }
}

// ─── Commands ────────────────────────────────────────────────────────────────────────────────

abstract class Op implements fc.AsyncCommand<Model, World> {
  abstract readonly name: string;
  abstract toString(): string;
  protected abstract exec(step: Step): Promise<void>;

  check(): boolean {
    return true;
  }

  async run(model: Model, world: World): Promise<void> {
    world.ops += 1;
    const started = performance.now();
    const step = new Step(world, model, this.name);
    const index = model.story.length;
    model.story.push(`${index + 1}. ${this.toString()}`);
    try {
      await this.exec(step);
      model.story[index] = `${index + 1}. ${step.description || this.toString()} → ${step.outcome}`;
      timed(world, this.name, started);
    } catch (error) {
      model.story[index] = `${index + 1}. ${step.description || this.toString()} → FAILED`;
      throw withStory(error, model, `step ${index + 1}`);
    }
  }
}

function withStory(error: unknown, model: Model, where: string): Error {
  const message = error instanceof Error ? error.message : String(error);
  return new IsolationFailure(
    `${where}: ${message}\n\nThe run, step by step (shrunk by fast-check):\n` +
      model.story.join('\n'),
    { cause: error },
  );
}

class SignUp extends Op {
  readonly name = 'signUp';
  constructor(readonly taken: OrgRef | null) {
    super();
  }
  toString(): string {
    return this.taken
      ? `anonymous signUp(slug of ${orgRefLabel(this.taken)})`
      : 'anonymous signUp(new org)';
  }
  protected async exec(step: Step): Promise<void> {
    const { world, model } = step;
    const query = `mutation SignUp($input: SignUpInput!) {
      signUp(input: $input) { token user { id name email role } organization { id name slug } }
    }`;
    if (this.taken) {
      const org = resolveOrg(model, this.taken);
      step.describe(`anonymous signUp(slug "${org.slug}", taken by ${org.label})`);
      const input = signUpInput(org.slug, world.nextKey);
      const res = await request(world, UNOWNED, 'anonymous', undefined, query, { input });
      expectError(res, 'CONFLICT', 'signUp with a taken slug');
      step.done('CONFLICT');
      return;
    }
    const key = world.nextKey++;
    const k = model.orgs.length - model.base;
    const slug = `org-${key}`;
    world.names.set(key, `${slug} (new#${k} of run ${world.runs})`);
    step.describe(`anonymous signUp("${slug}") = new#${k}`);
    const input = signUpInput(slug, key);
    const res = normalize(await world.api.gql(query, { input }));
    world.requests += 1;
    const payload = record(okData(res, 'signUp').signUp, 'signUp');
    const user = record(payload.user, 'signUp.user');
    const organization = record(payload.organization, 'signUp.organization');
    const userId = text(user.id, 'signUp.user.id');
    const orgId = text(organization.id, 'signUp.organization.id');
    world.owners.set(rawOf(userId), key);
    world.owners.set(rawOf(orgId), key);
    scan(world, key, res, `new#${k}`);
    same(
      { user, organization },
      {
        user: { id: userId, name: input.name, email: input.email, role: 'OWNER' },
        organization: { id: orgId, name: input.organizationName, slug },
      },
      'signUp payload',
    );
    const owner: Person = {
      label: 'owner',
      id: userId,
      raw: rawOf(userId),
      token: text(payload.token, 'signUp.token'),
      role: 'OWNER',
      name: input.name,
      email: input.email,
      createdAt: '',
    };
    const org: MOrg = {
      key,
      label: `new#${k}`,
      slug,
      name: input.organizationName,
      id: orgId,
      raw: rawOf(orgId),
      users: [owner],
      ghosts: [],
      posts: [],
      comments: [],
      cursors: new Map(),
    };
    // The sign-up payload has no createdAt; `members` orders by it.
    const actor = { org, user: owner, label: `new#${k}.owner[OWNER]` };
    const viewer = await step.call(actor, '{ viewer { id role createdAt } }', {});
    const me = record(okData(viewer, 'viewer of the new owner').viewer, 'viewer');
    same({ id: me.id, role: me.role }, { id: userId, role: 'OWNER' }, 'viewer of the new owner');
    owner.createdAt = text(me.createdAt, 'viewer.createdAt');
    model.orgs.push(org);
    step.done('ok');
  }
}

function signUpInput(slug: string, key: number) {
  return {
    organizationName: `Org${marker(key)}`,
    organizationSlug: slug,
    email: 'owner@example.com',
    password: PASSWORD,
    name: `Olive Owner${marker(key)}`,
  };
}

type EmailChoice = Readonly<{ fresh: true }> | Readonly<{ org: OrgRef | 'self'; n: number }>;

class CreateMember extends Op {
  readonly name = 'createMember';
  constructor(
    readonly actor: ActorRef,
    readonly role: Role,
    readonly email: EmailChoice,
  ) {
    super();
  }
  toString(): string {
    const email =
      'fresh' in this.email
        ? 'a new email'
        : `the email of ${prefix(this.email.org)}user#${this.email.n}`;
    return `${actorLabel(this.actor)} createMember(${this.role}, ${email})`;
  }
  protected async exec(step: Step): Promise<void> {
    const { world, model } = step;
    const a = resolveActor(model, this.actor);
    let email: string;
    let from = 'new';
    if ('fresh' in this.email) {
      email = `user${world.counter++}@example.com`;
    } else {
      const org = this.email.org === 'self' ? a.org : resolveOrg(model, this.email.org);
      const source = org.users[this.email.n] ?? at(org.users, this.email.n % org.users.length);
      email = source.email;
      from = `${org.label}.${source.label}'s`;
    }
    step.describe(`${a.label} createMember(${this.role}, ${from} ${email})`);
    const n = a.org.users.length;
    const name = `Member ${n}${marker(a.org.key)}`;
    const res = await step.call(
      a,
      `mutation CreateMember($input: CreateMemberInput!) {
        createMember(input: $input) { ${MEMBER_FIELDS} }
      }`,
      { input: { email, name, password: PASSWORD, role: this.role } },
      'createMember',
    );
    // The resolver's order: the role rule (OWNER/ADMIN), one owner, only the owner adds admins,
    // then the email must be new in this organization (other organizations may have it).
    const taken = members(a.org).some((u) => u.email === email);
    const error =
      a.user.role === 'MEMBER'
        ? 'FORBIDDEN'
        : this.role === 'OWNER'
          ? 'BAD_USER_INPUT'
          : this.role === 'ADMIN' && a.user.role !== 'OWNER'
            ? 'FORBIDDEN'
            : taken
              ? 'CONFLICT'
              : null;
    if (error) {
      expectError(res, error, 'createMember');
      step.done(error);
      return;
    }
    const user = record(okData(res, 'createMember').createMember, 'createMember');
    const id = text(user.id, 'createMember.id');
    const person: Person = {
      label: `user#${n}`,
      id,
      raw: rawOf(id),
      token: await world.api.issueToken({ userId: rawOf(id), organizationId: a.org.raw }),
      role: this.role,
      name,
      email,
      createdAt: text(user.createdAt, 'createMember.createdAt'),
    };
    same(user, memberShape(person), 'createMember payload');
    a.org.users.push(person);
    step.done(from === 'new' ? 'ok' : 'ok (email of another tenant)');
  }
}

class CreatePost extends Op {
  readonly name = 'createPost';
  constructor(
    readonly actor: ActorRef,
    readonly title: number,
    readonly content: number | null,
    readonly blank: boolean,
  ) {
    super();
  }
  toString(): string {
    const title = this.blank ? 'a blank title' : JSON.stringify(at(TITLES, this.title));
    return `${actorLabel(this.actor)} createPost(${title})`;
  }
  protected async exec(step: Step): Promise<void> {
    const a = resolveActor(step.model, this.actor);
    const n = a.org.posts.length;
    const shown = JSON.stringify(at(TITLES, this.title));
    step.describe(
      this.blank
        ? `${a.label} createPost(a blank title)`
        : `${a.label} createPost(${shown}) = ${a.org.label}.post#${n}`,
    );
    const title = this.blank ? '   ' : `${at(TITLES, this.title)}${marker(a.org.key)}`;
    const content =
      this.content === null ? null : `${at(CONTENTS, this.content)}${marker(a.org.key)}`;
    const res = await step.call(
      a,
      `mutation CreatePost($input: CreatePostInput!) {
        createPost(input: $input) { ${POST_FIELDS} }
      }`,
      { input: { title, content } },
      'createPost',
    );
    if (this.blank) {
      expectError(res, 'BAD_USER_INPUT', 'createPost with a blank title');
      step.done('BAD_USER_INPUT');
      return;
    }
    const got = record(okData(res, 'createPost').createPost, 'createPost');
    const id = text(got.id, 'createPost.id');
    const post: MPost = {
      n,
      id,
      raw: rawOf(id),
      authorId: a.user.id,
      title,
      content,
      createdAt: text(got.createdAt, 'createPost.createdAt'),
      deleted: false,
    };
    a.org.posts.push(post);
    same(got, postShape(a.org, post, a.user), 'createPost payload');
    step.done('ok');
  }
}

/** `keep`: not sent; `null`: cleared; a number: one of CONTENTS. */
type ContentChoice = 'keep' | null | number;

class UpdatePost extends Op {
  readonly name = 'updatePost';
  constructor(
    readonly actor: ActorRef,
    readonly target: IdRef,
    readonly title: number | null,
    readonly content: ContentChoice,
  ) {
    super();
  }
  toString(): string {
    const title = this.title === null ? '' : `, title=${JSON.stringify(at(TITLES, this.title))}`;
    return `${actorLabel(this.actor)} updatePost(${idRefLabel(this.target)}${title})`;
  }
  protected async exec(step: Step): Promise<void> {
    const { world, model } = step;
    const a = resolveActor(model, this.actor);
    const target = resolveId(world, model, a, this.target);
    const title = this.title === null ? undefined : `${at(TITLES, this.title)}${marker(a.org.key)}`;
    const content =
      this.content === 'keep'
        ? undefined
        : this.content === null
          ? null
          : `${at(CONTENTS, this.content)}${marker(a.org.key)}`;
    const titled = title === undefined ? '' : `, title=${JSON.stringify(visible(title))}`;
    step.describe(`${a.label} updatePost(${target.label}${titled})`);
    await step.targeted({
      actor: a,
      target,
      kind: 'Post',
      query: `mutation UpdatePost($input: UpdatePostInput!) {
        updatePost(input: $input) { ${POST_FIELDS} }
      }`,
      variables: (id) => ({
        input: {
          id,
          ...(title === undefined ? {} : { title }),
          ...(content === undefined ? {} : { content }),
        },
      }),
      own: () => {
        const post = target.row as MPost;
        if (!canEdit(a.user, post.authorId)) return { error: 'FORBIDDEN' };
        return {
          check: (data) => {
            if (title !== undefined) post.title = title;
            if (content !== undefined) post.content = content;
            same(data.updatePost, postShape(a.org, post, a.user), 'updatePost payload');
          },
        };
      },
    });
  }
}

class DeletePost extends Op {
  readonly name = 'deletePost';
  constructor(
    readonly actor: ActorRef,
    readonly target: IdRef,
  ) {
    super();
  }
  toString(): string {
    return `${actorLabel(this.actor)} deletePost(${idRefLabel(this.target)})`;
  }
  protected async exec(step: Step): Promise<void> {
    const { world, model } = step;
    const a = resolveActor(model, this.actor);
    const target = resolveId(world, model, a, this.target);
    step.describe(`${a.label} deletePost(${target.label})`);
    await step.targeted({
      actor: a,
      target,
      kind: 'Post',
      query: 'mutation DeletePost($id: ID!) { deletePost(id: $id) { deletedId } }',
      variables: (id) => ({ id }),
      own: () => {
        const post = target.row as MPost;
        if (!canEdit(a.user, post.authorId)) return { error: 'FORBIDDEN' };
        return {
          check: (data) => {
            same(data.deletePost, { deletedId: post.id }, 'deletePost payload');
            post.deleted = true;
            // Its comments go with it.
            for (const c of a.org.comments) if (c.postId === post.id) c.deleted = true;
          },
        };
      },
    });
  }
}

class CreateComment extends Op {
  readonly name = 'createComment';
  constructor(
    readonly actor: ActorRef,
    readonly post: IdRef,
    readonly body: number,
  ) {
    super();
  }
  toString(): string {
    const body = JSON.stringify(at(BODIES, this.body));
    return `${actorLabel(this.actor)} createComment(on ${idRefLabel(this.post)}, ${body})`;
  }
  protected async exec(step: Step): Promise<void> {
    const { world, model } = step;
    const a = resolveActor(model, this.actor);
    const target = resolveId(world, model, a, this.post);
    const n = a.org.comments.length;
    const body = `${at(BODIES, this.body)}${marker(a.org.key)}`;
    step.describe(`${a.label} createComment(on ${target.label}, ${JSON.stringify(visible(body))})`);
    await step.targeted({
      actor: a,
      target,
      kind: 'Post',
      query: `mutation CreateComment($input: CreateCommentInput!) {
        createComment(input: $input) { ${COMMENT_FIELDS} post { id commentCount } }
      }`,
      variables: (postId) => ({ input: { postId, body } }),
      created: 'createComment',
      own: () => ({
        check: (data) => {
          const got = record(data.createComment, 'createComment');
          const id = text(got.id, 'createComment.id');
          const comment: MComment = {
            n,
            id,
            raw: rawOf(id),
            postId: target.id,
            authorId: a.user.id,
            body,
            createdAt: text(got.createdAt, 'createComment.createdAt'),
            deleted: false,
          };
          a.org.comments.push(comment);
          const post = target.row as MPost;
          same(
            got,
            {
              ...commentShape(comment, a.user),
              post: { id: post.id, commentCount: liveComments(a.org, post).length },
            },
            `createComment payload (${a.org.label}.comment#${n})`,
          );
        },
      }),
    });
  }
}

class UpdateComment extends Op {
  readonly name = 'updateComment';
  constructor(
    readonly actor: ActorRef,
    readonly target: IdRef,
    readonly body: number,
  ) {
    super();
  }
  toString(): string {
    const body = JSON.stringify(at(BODIES, this.body));
    return `${actorLabel(this.actor)} updateComment(${idRefLabel(this.target)}, ${body})`;
  }
  protected async exec(step: Step): Promise<void> {
    const { world, model } = step;
    const a = resolveActor(model, this.actor);
    const target = resolveId(world, model, a, this.target);
    const body = `${at(BODIES, this.body)}${marker(a.org.key)}`;
    step.describe(`${a.label} updateComment(${target.label}, ${JSON.stringify(visible(body))})`);
    await step.targeted({
      actor: a,
      target,
      kind: 'Comment',
      query: `mutation UpdateComment($input: UpdateCommentInput!) {
        updateComment(input: $input) { ${COMMENT_FIELDS} }
      }`,
      variables: (id) => ({ input: { id, body } }),
      own: () => {
        const comment = target.row as MComment;
        if (!canEdit(a.user, comment.authorId)) return { error: 'FORBIDDEN' };
        return {
          check: (data) => {
            comment.body = body;
            same(data.updateComment, commentShape(comment, a.user), 'updateComment payload');
          },
        };
      },
    });
  }
}

class DeleteComment extends Op {
  readonly name = 'deleteComment';
  constructor(
    readonly actor: ActorRef,
    readonly target: IdRef,
  ) {
    super();
  }
  toString(): string {
    return `${actorLabel(this.actor)} deleteComment(${idRefLabel(this.target)})`;
  }
  protected async exec(step: Step): Promise<void> {
    const { world, model } = step;
    const a = resolveActor(model, this.actor);
    const target = resolveId(world, model, a, this.target);
    step.describe(`${a.label} deleteComment(${target.label})`);
    await step.targeted({
      actor: a,
      target,
      kind: 'Comment',
      query: 'mutation DeleteComment($id: ID!) { deleteComment(id: $id) { deletedId } }',
      variables: (id) => ({ id }),
      own: () => {
        const comment = target.row as MComment;
        if (!canEdit(a.user, comment.authorId)) return { error: 'FORBIDDEN' };
        return {
          check: (data) => {
            same(data.deleteComment, { deletedId: comment.id }, 'deleteComment payload');
            comment.deleted = true;
          },
        };
      },
    });
  }
}

class ChangeMemberRole extends Op {
  readonly name = 'changeMemberRole';
  constructor(
    readonly actor: ActorRef,
    readonly target: IdRef,
    readonly role: Role,
  ) {
    super();
  }
  toString(): string {
    return `${actorLabel(this.actor)} changeMemberRole(${idRefLabel(this.target)} → ${this.role})`;
  }
  protected async exec(step: Step): Promise<void> {
    const { world, model } = step;
    const a = resolveActor(model, this.actor);
    const target = resolveId(world, model, a, this.target);
    step.describe(`${a.label} changeMemberRole(${target.label} → ${this.role})`);
    let demoted: Person | null = null;
    await step.targeted({
      actor: a,
      target,
      kind: 'User',
      query: `mutation ChangeMemberRole($input: ChangeMemberRoleInput!) {
        changeMemberRole(input: $input) { ${MEMBER_FIELDS} }
      }`,
      variables: (userId) => ({ input: { userId, role: this.role } }),
      // Only the owner may change roles: a role rule, checked before the id is even read.
      before: a.user.role === 'OWNER' ? null : 'FORBIDDEN',
      afterParse: this.role === 'OWNER' ? 'BAD_USER_INPUT' : null,
      own: () => {
        const user = target.row as Person;
        if (user === a.user) return { error: 'BAD_USER_INPUT' };
        return {
          check: (data) => {
            if (RANK[this.role] < RANK[user.role]) demoted = user;
            user.role = this.role;
            same(data.changeMemberRole, memberShape(user), 'changeMemberRole payload');
          },
        };
      },
    });
    // The demoted member's old token no longer works (tokensValidAfter): they sign in again.
    if (demoted) await signInAgain(world, demoted, a.org.raw);
  }
}

class ReadPost extends Op {
  readonly name = 'post';
  constructor(
    readonly actor: ActorRef,
    readonly target: IdRef,
  ) {
    super();
  }
  toString(): string {
    return `${actorLabel(this.actor)} post(${idRefLabel(this.target)})`;
  }
  protected async exec(step: Step): Promise<void> {
    const { world, model } = step;
    const a = resolveActor(model, this.actor);
    const target = resolveId(world, model, a, this.target);
    step.describe(`${a.label} post(${target.label})`);
    await step.targeted({
      actor: a,
      target,
      kind: 'Post',
      query: `query Post($id: ID!) { post(id: $id) { ${POST_DETAIL} } }`,
      variables: (id) => ({ id }),
      own: () => ({
        check: (data) =>
          same(data.post, postDetailShape(a.org, target.row as MPost, a.user), 'post(id)'),
      }),
    });
  }
}

/** Where a `posts` walk starts: the top, after a post's cursor (own or not), or a bad cursor. */
type CursorChoice =
  | null
  | Readonly<{ org: OrgRef | 'self'; n: number }>
  | Readonly<{ garbage: string }>;

class ReadPosts extends Op {
  readonly name = 'posts';
  constructor(
    readonly actor: ActorRef,
    readonly first: number,
    readonly pages: number,
    readonly after: CursorChoice,
  ) {
    super();
  }
  toString(): string {
    const after =
      this.after === null
        ? ''
        : 'garbage' in this.after
          ? `, after=${JSON.stringify(this.after.garbage)}`
          : `, after the cursor of ${prefix(this.after.org)}post#${this.after.n}`;
    return `${actorLabel(this.actor)} posts(first=${this.first}${after}, ${this.pages} page(s))`;
  }
  protected async exec(step: Step): Promise<void> {
    const { world, model } = step;
    const a = resolveActor(model, this.actor);
    const live = livePosts(a.org);
    let cursor: string | null = null;
    let start: number | null = 0; // null: the cursor points at no visible row, so nothing follows
    let from = '';
    let outcome = 'ok';
    if (this.after && 'garbage' in this.after) {
      step.describe(
        `${a.label} posts(first=${this.first}, after=${JSON.stringify(this.after.garbage)})`,
      );
      const res = await step.call(a, POSTS_QUERY, { first: this.first, after: this.after.garbage });
      expectError(res, 'BAD_USER_INPUT', 'posts with a garbage cursor');
      step.done('BAD_USER_INPUT');
      return;
    }
    if (this.after) {
      const ref: IdRef = {
        t: 'row',
        org: this.after.org,
        kind: 'Post',
        n: this.after.n,
        uuid: ZERO,
      };
      const target = resolveId(world, model, a, ref);
      const post = target.row as MPost | null;
      const seen = post && target.org ? target.org.cursors.get(post.raw) : undefined;
      if (seen) {
        cursor = seen;
        const own = target.org === a.org;
        start = own && target.live ? live.indexOf(post as MPost) + 1 : null;
        from = `, after the cursor of ${target.label}`;
        if (!own) outcome = 'ok (foreign cursor: empty)';
        else if (start === null) outcome = 'ok (stale cursor: empty)';
      } else {
        from = `, after ${target.label}'s cursor (none seen yet: from the top)`;
      }
    }
    step.describe(`${a.label} posts(first=${this.first}${from}, ${this.pages} page(s))`);
    for (let page = 0; page < this.pages; page += 1) {
      const res = await step.call(a, POSTS_QUERY, { first: this.first, after: cursor });
      const got = record(okData(res, 'posts').posts, 'posts');
      const expected = start === null ? [] : live.slice(start, start + this.first);
      const hasNextPage = start !== null && live.length > start + this.first;
      const edges = Array.isArray(got.edges) ? (got.edges as unknown[]) : [];
      const cursors = edges.map((edge, i) =>
        text(record(edge, 'edge').cursor, `edges[${i}].cursor`),
      );
      same(
        got,
        {
          totalCount: live.length,
          pageInfo: { hasNextPage, endCursor: cursors.at(-1) ?? null },
          edges: expected.map((post, i) => ({
            cursor: cursors[i],
            node: postShape(a.org, post, a.user),
          })),
        },
        `posts page ${page + 1} (first=${this.first}${from})`,
      );
      for (const [i, post] of expected.entries()) a.org.cursors.set(post.raw, at(cursors, i));
      if (!hasNextPage || start === null) break;
      cursor = cursors.at(-1) ?? null;
      start += this.first;
    }
    step.done(outcome);
  }
}

const ZERO = '00000000-0000-4000-8000-000000000000';
const POSTS_QUERY = `query Posts($first: Int!, $after: String) {
  posts(first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { cursor node { ${POST_FIELDS} } }
  }
}`;

class ReadPostsPage extends Op {
  readonly name = 'postsPage';
  constructor(
    readonly actor: ActorRef,
    readonly page: number,
    readonly pageSize: number,
  ) {
    super();
  }
  toString(): string {
    return `${actorLabel(this.actor)} postsPage(page=${this.page}, pageSize=${this.pageSize})`;
  }
  protected async exec(step: Step): Promise<void> {
    const a = resolveActor(step.model, this.actor);
    step.describe(`${a.label} postsPage(page=${this.page}, pageSize=${this.pageSize})`);
    const res = await step.call(
      a,
      `query PostsPage($page: Int!, $pageSize: Int!) {
        postsPage(page: $page, pageSize: $pageSize) {
          page pageSize totalCount nodes { ${POST_FIELDS} }
        }
      }`,
      { page: this.page, pageSize: this.pageSize },
    );
    const live = livePosts(a.org);
    const from = (this.page - 1) * this.pageSize;
    same(
      okData(res, 'postsPage').postsPage,
      {
        page: this.page,
        pageSize: this.pageSize,
        totalCount: live.length,
        nodes: live.slice(from, from + this.pageSize).map((p) => postShape(a.org, p, a.user)),
      },
      'postsPage',
    );
    step.done('ok');
  }
}

class ReadMembers extends Op {
  readonly name = 'members';
  constructor(
    readonly actor: ActorRef,
    readonly first: number,
  ) {
    super();
  }
  toString(): string {
    return `${actorLabel(this.actor)} members(first=${this.first}, every page)`;
  }
  protected async exec(step: Step): Promise<void> {
    const a = resolveActor(step.model, this.actor);
    step.describe(`${a.label} members(first=${this.first}, every page)`);
    const all = members(a.org);
    let after: string | null = null;
    for (let start = 0; ; start += this.first) {
      const res = await step.call(a, MEMBERS_QUERY, { first: this.first, after });
      const got = record(okData(res, 'members').members, 'members');
      const endCursor = record(got.pageInfo, 'members.pageInfo').endCursor;
      const hasNextPage = all.length > start + this.first;
      same(
        got,
        {
          totalCount: all.length,
          pageInfo: { hasNextPage, endCursor },
          edges: all.slice(start, start + this.first).map((u) => ({ node: memberShape(u) })),
        },
        `members page from ${start}`,
      );
      if (!hasNextPage) break;
      after = text(endCursor, 'members.pageInfo.endCursor');
    }
    step.done('ok');
  }
}

const MEMBERS_QUERY = `query Members($first: Int!, $after: String) {
  members(first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { ${MEMBER_FIELDS} } }
  }
}`;

class ReadViewer extends Op {
  readonly name = 'viewer';
  constructor(readonly actor: ActorRef) {
    super();
  }
  toString(): string {
    return `${actorLabel(this.actor)} viewer + organization`;
  }
  protected async exec(step: Step): Promise<void> {
    const a = resolveActor(step.model, this.actor);
    step.describe(`${a.label} viewer + organization`);
    const res = await step.call(
      a,
      `{
        viewer {
          ${MEMBER_FIELDS} organization { ${ORG_FIELDS} }
          posts(first: 100) { totalCount edges { cursor node { id } } }
        }
        organization { ${ORG_FIELDS} }
      }`,
      {},
    );
    const data = okData(res, 'viewer');
    const mine = livePosts(a.org, a.user.id);
    // Cursors are opaque: take them as given, check the rows, and keep them for `posts(after:)`.
    const edges = record(record(data.viewer, 'viewer').posts, 'viewer.posts').edges;
    const cursors = (Array.isArray(edges) ? edges : []).map((edge: unknown, i) =>
      text(record(edge, 'edge').cursor, `viewer.posts.edges[${i}].cursor`),
    );
    same(
      data,
      {
        viewer: {
          ...memberShape(a.user),
          organization: orgShape(a.org),
          posts: {
            totalCount: mine.length,
            edges: mine.map((p, i) => ({ cursor: cursors[i], node: { id: p.id } })),
          },
        },
        organization: orgShape(a.org),
      },
      'viewer + organization',
    );
    for (const [i, post] of mine.entries()) a.org.cursors.set(post.raw, at(cursors, i));
    step.done('ok');
  }
}

class NodeLookup extends Op {
  readonly name = 'node';
  constructor(
    readonly actor: ActorRef,
    readonly target: IdRef,
  ) {
    super();
  }
  toString(): string {
    return `${actorLabel(this.actor)} node(${idRefLabel(this.target)})`;
  }
  protected async exec(step: Step): Promise<void> {
    const { world, model } = step;
    const a = resolveActor(model, this.actor);
    const target = resolveId(world, model, a, this.target);
    step.describe(`${a.label} node(${target.label})`);
    const query = `query Node($id: ID!) { node(id: $id) { ${NODE_FIELDS} } }`;
    const res = await step.call(a, query, { id: target.id });
    if (target.kind === 'malformed') {
      expectError(res, 'BAD_USER_INPUT', 'node(malformed id)', { node: null });
      step.done('BAD_USER_INPUT');
    } else if (target.kind === 'unknownType') {
      // A type the schema does not have is the client's mistake, like a malformed id.
      expectError(res, 'BAD_USER_INPUT', 'node(Invoice id)', { node: null });
      step.done('BAD_USER_INPUT (unknown type)');
    } else if (target.org === a.org && target.live) {
      same(okData(res, 'node').node, nodeShape(target), 'node(own id)');
      step.done('ok');
    } else {
      same(res, { data: { node: null } }, `node(${target.label}) must be null`);
      if (isForeign(target, a)) {
        const twin = await step.call(a, query, { id: encodeGlobalId(target.kind, target.uuid) });
        same(
          res,
          twin,
          `node: another tenant's id (${target.label}) must answer like a missing one`,
        );
      }
      step.done(isForeign(target, a) ? 'null (foreign)' : 'null');
    }
  }
}

class NodesLookup extends Op {
  readonly name = 'nodes';
  constructor(
    readonly actor: ActorRef,
    readonly targets: readonly IdRef[],
  ) {
    super();
  }
  toString(): string {
    return `${actorLabel(this.actor)} nodes(${this.targets.map(idRefLabel).join(', ')})`;
  }
  protected async exec(step: Step): Promise<void> {
    const { world, model } = step;
    const a = resolveActor(model, this.actor);
    const targets = this.targets.map((ref) => resolveId(world, model, a, ref));
    step.describe(`${a.label} nodes(${targets.map((t) => t.label).join(', ')})`);
    const res = await step.call(
      a,
      `query Nodes($ids: [ID!]!) { nodes(ids: $ids) { ${NODE_FIELDS} } }`,
      {
        ids: targets.map((t) => t.id),
      },
    );
    if (targets.some((t) => t.kind === 'malformed' || t.kind === 'unknownType')) {
      // One bad id (malformed, or of a type the schema does not have) fails the whole list.
      expectError(res, 'BAD_USER_INPUT', 'nodes(with a malformed id)');
      step.done('BAD_USER_INPUT');
      return;
    }
    same(
      okData(res, 'nodes').nodes,
      targets.map((t) => (t.org === a.org && t.live ? nodeShape(t) : null)),
      'nodes(ids): own rows in place, everything else null',
    );
    step.done(targets.some((t) => isForeign(t, a)) ? 'ok (with foreign ids)' : 'ok');
  }
}

// ─── Runs: reset, model, audit ───────────────────────────────────────────────────────────────

/** Sets up the base organizations through the API, once per process. */
export async function createWorld(api: FuzzApi, options: WorldOptions): Promise<World> {
  if (options.orgs < 2 || options.orgs > BASE_LABELS.length) {
    throw new Error(`orgs must be between 2 and ${BASE_LABELS.length}`);
  }
  const world: World = {
    api,
    base: [],
    owners: new Map(),
    names: new Map(),
    nextKey: 0,
    counter: 0,
    ops: 0,
    requests: 0,
    runs: 0,
    stats: new Map(),
    time: new Map(),
    clean: null,
  };
  for (const label of BASE_LABELS.slice(0, options.orgs)) {
    const key = world.nextKey++;
    world.names.set(key, label);
    const [ownerSpec, ...others] = BASE_PEOPLE;
    const input = signUpInput(label, key);
    const res = await api.gql(
      `mutation SignUp($input: SignUpInput!) {
        signUp(input: $input) { token user { id } organization { id } }
      }`,
      { input },
    );
    const payload = record(okData(res, `signUp ${label}`).signUp, 'signUp');
    const ownerId = text(record(payload.user, 'user').id, 'user.id');
    const orgId = text(record(payload.organization, 'organization').id, 'organization.id');
    world.owners.set(rawOf(ownerId), key);
    world.owners.set(rawOf(orgId), key);
    const token = text(payload.token, 'token');
    const people: Person[] = [
      { ...ownerSpec, name: input.name, id: ownerId, raw: rawOf(ownerId), token, createdAt: '' },
    ];
    for (const spec of others) {
      const created = await request(
        world,
        key,
        `${label}.owner`,
        token,
        `mutation CreateMember($input: CreateMemberInput!) {
          createMember(input: $input) { id createdAt }
        }`,
        {
          input: {
            email: spec.email,
            name: `${spec.name}${marker(key)}`,
            password: PASSWORD,
            role: spec.role,
          },
        },
        'createMember',
      );
      const user = record(okData(created, 'createMember').createMember, 'createMember');
      const id = text(user.id, 'createMember.id');
      people.push({
        ...spec,
        name: `${spec.name}${marker(key)}`,
        id,
        raw: rawOf(id),
        token: await api.issueToken({ userId: rawOf(id), organizationId: rawOf(orgId) }),
        createdAt: text(user.createdAt, 'createMember.createdAt'),
      });
    }
    const viewer = await request(
      world,
      key,
      `${label}.owner`,
      token,
      '{ viewer { createdAt } }',
      {},
    );
    at(people, 0).createdAt = text(
      record(okData(viewer, 'viewer').viewer, 'viewer').createdAt,
      'viewer.createdAt',
    );
    world.base.push({
      key,
      label,
      slug: label,
      name: input.organizationName,
      id: orgId,
      raw: rawOf(orgId),
      people,
    });
  }
  return world;
}

type OrgState = Readonly<{ postIds: readonly string[]; members: readonly Person[] }>;

/** Everything an organization holds, read as its owner: its posts in detail, and its members. */
async function readOrg(world: World, key: number, who: string, token: string) {
  const posts: Readonly<Record<string, unknown>>[] = [];
  let listed: Person[] = [];
  for (let after: string | null = null; ; ) {
    const res = await request(
      world,
      key,
      who,
      token,
      `query ReadOrg($after: String, $withMembers: Boolean!) {
        posts(first: 25, after: $after) {
          pageInfo { hasNextPage endCursor } edges { node { ${POST_DETAIL} } }
        }
        members(first: 100) @include(if: $withMembers) {
          pageInfo { hasNextPage } edges { node { ${MEMBER_FIELDS} } }
        }
      }`,
      { after, withMembers: after === null },
    );
    const data = okData(res, `${who}: posts and members`);
    const page = record(data.posts, 'posts');
    for (const edge of page.edges as { node: Record<string, unknown> }[]) posts.push(edge.node);
    if (after === null) {
      const list = record(data.members, 'members');
      if (record(list.pageInfo, 'pageInfo').hasNextPage) throw new Error('over 100 members');
      listed = (list.edges as { node: Omit<Person, 'label' | 'raw' | 'token'> }[]).map(
        ({ node }) => ({ ...node, label: 'ghost', raw: rawOf(node.id), token: '' }),
      );
    }
    const pageInfo = record(page.pageInfo, 'pageInfo');
    if (!pageInfo.hasNextPage) break;
    after = text(pageInfo.endCursor, 'endCursor');
  }
  return { posts, members: listed };
}

/**
 * Puts the base organizations back to their starting point through the API (as their owners):
 * no posts or comments, the base roles. Members created by earlier runs cannot be deleted, so
 * they stay as "ghosts" the model lists but commands never pick, keeping runs replayable.
 * After a passing audit its reads are reused; after a failure, everything is read again.
 */
export async function startRun(world: World): Promise<Model> {
  world.runs += 1;
  const started = performance.now();
  const clean = world.clean;
  world.clean = null;
  const orgs: MOrg[] = [];
  for (const base of world.base) {
    const owner = at(base.people, 0);
    const who = `${base.label}.owner (reset)`;
    const call = (query: string, variables: Record<string, unknown>) =>
      request(world, base.key, who, owner.token, query, variables);
    let state = clean?.get(base.key);
    if (!state) {
      const read = await readOrg(world, base.key, who, owner.token);
      state = { postIds: read.posts.map((p) => text(p.id, 'post id')), members: read.members };
    }
    // Aliases: up to 25 deletions per request (the API allows 30 aliases).
    for (let i = 0; i < state.postIds.length; i += 25) {
      const ids = state.postIds.slice(i, i + 25);
      const res = await call(
        `mutation Reset(${ids.map((_, j) => `$p${j}: ID!`).join(', ')}) {
          ${ids.map((_, j) => `p${j}: deletePost(id: $p${j}) { deletedId }`).join('\n')}
        }`,
        Object.fromEntries(ids.map((id, j) => [`p${j}`, id])),
      );
      okData(res, 'reset: deletePost');
    }
    const listed = state.members;
    const drifted = base.people.filter((p) => listed.find((u) => u.id === p.id)?.role !== p.role);
    if (drifted.length) {
      const res = await call(
        `mutation ResetRoles(${drifted.map((_, j) => `$u${j}: ChangeMemberRoleInput!`).join()}) {
          ${drifted.map((_, j) => `u${j}: changeMemberRole(input: $u${j}) { id }`).join('\n')}
        }`,
        Object.fromEntries(drifted.map((p, j) => [`u${j}`, { userId: p.id, role: p.role }])),
      );
      okData(res, 'reset: roles');
    }
    // A run may have demoted any of them (and promoted them back): their tokens from before
    // are refused, so every run starts with everyone signed in afresh.
    for (const person of base.people) await signInAgain(world, person, base.raw);
    const ids = new Set(base.people.map((p) => p.id));
    orgs.push({
      key: base.key,
      label: base.label,
      slug: base.slug,
      name: base.name,
      id: base.id,
      raw: base.raw,
      users: base.people.map((p) => ({ ...p })),
      ghosts: listed
        .filter((u) => !ids.has(u.id))
        .map((u) => ({ ...u, label: 'ghost', token: '' })),
      posts: [],
      comments: [],
      cursors: new Map(),
    });
  }
  timed(world, '(reset)', started);
  return { orgs, base: orgs.length, story: [] };
}

/** A fresh token for `person`, as signing in again gives (without the scrypt of signIn). */
async function signInAgain(world: World, person: Person, organizationId: string): Promise<void> {
  person.token = await world.api.issueToken({ userId: person.raw, organizationId });
}

/** At the end of a run, every organization (as its owner) holds exactly what the model says. */
export async function audit(world: World, model: Model): Promise<void> {
  const started = performance.now();
  const clean = new Map<number, OrgState>();
  for (const org of model.orgs) {
    const owner = at(org.users, 0);
    const read = await readOrg(world, org.key, `${org.label}.owner (audit)`, owner.token);
    const live = livePosts(org);
    same(
      read.posts,
      live.map((p) => postDetailShape(org, p, owner)),
      `audit: ${org.label}'s posts and comments`,
    );
    same(
      read.members.map(memberShape),
      members(org).map(memberShape),
      `audit: ${org.label}'s members`,
    );
    clean.set(org.key, { postIds: live.map((p) => p.id), members: members(org) });
  }
  world.clean = clean;
  timed(world, '(audit)', started);
}

// ─── Arbitraries ─────────────────────────────────────────────────────────────────────────────

export type PropertyOptions = Readonly<{
  maxCommands: number;
  /**
   * How often the two operations that hash a password (scrypt, ~0.3 s) come up: `some` (each
   * about 1 in 80 operations, so short runs see new organizations too) or `rare` (1 in 330).
   */
  scrypt?: 'some' | 'rare';
  /** fast-check's `replayPath` hint (with `{ seed, path }`) to replay a counterexample. */
  replayPath?: string;
}>;

/** The commands fast-check picks from, weighted (all weights are in quarters). */
export function commandArbitrary(world: World, options: PropertyOptions): fc.Arbitrary<Op> {
  const base = world.base.length;
  const orgRef: fc.Arbitrary<OrgRef> = fc.oneof(
    { weight: 20, arbitrary: fc.record({ base: fc.nat({ max: base - 1 }) }) },
    {
      weight: 1,
      arbitrary: fc.record({ signup: fc.nat({ max: 1 }), fallback: fc.nat({ max: base - 1 }) }),
    },
  );
  const actor: fc.Arbitrary<ActorRef> = fc.record({
    org: orgRef,
    user: fc.oneof(
      { weight: 6, arbitrary: fc.nat({ max: 2 }) },
      { weight: 1, arbitrary: fc.integer({ min: 3, max: 5 }) },
    ),
  });
  const uuid = fc.uuid({ version: 4 });
  const malformed = fc.oneof(
    fc.constantFrom('', 'not-an-id', 'UG9zdDo', 'Post:1', '%%%', 'null'),
    fc.string({ maxLength: 24 }),
    // A bare uuid, and a global id around something that is not a uuid.
    uuid,
    uuid.map((u) => encodeGlobalId('Post', `${u}0`)),
  );
  const idRef = (kind: Kind, anyKind = false): fc.Arbitrary<IdRef> => {
    const kinds = fc.oneof(
      { weight: 10, arbitrary: fc.constant(kind) },
      { weight: 1, arbitrary: fc.constantFrom(...KINDS.filter((k) => k !== kind)) },
    );
    const n = fc.nat({ max: 9 });
    const self = fc.constant('self' as const);
    const refs: fc.WeightedArbitrary<IdRef>[] = [
      {
        weight: 8,
        arbitrary: fc.record({ t: fc.constant('row'), org: self, kind: kinds, n, uuid }),
      },
      {
        weight: 7,
        arbitrary: fc.record({ t: fc.constant('row'), org: orgRef, kind: kinds, n, uuid }),
      },
      { weight: 1, arbitrary: fc.record({ t: fc.constant('missing'), kind: kinds, uuid }) },
      { weight: 1, arbitrary: fc.record({ t: fc.constant('malformed'), text: malformed }) },
    ];
    if (anyKind) {
      refs.push({ weight: 1, arbitrary: fc.record({ t: fc.constant('unknownType'), uuid }) });
    }
    return fc.oneof(...refs);
  };
  const anyId = fc.constantFrom(...KINDS).chain((kind) => idRef(kind, true));
  const title = fc.nat({ max: TITLES.length - 1 });
  const body = fc.nat({ max: BODIES.length - 1 });
  const content: fc.Arbitrary<ContentChoice> = fc.oneof(
    fc.constant('keep' as const),
    fc.constant(null),
    fc.nat({ max: CONTENTS.length - 1 }),
  );
  const role: fc.Arbitrary<Role> = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom<Role>('ADMIN', 'MEMBER') },
    { weight: 1, arbitrary: fc.constant<Role>('OWNER') },
  );
  const email: fc.Arbitrary<EmailChoice> = fc.oneof(
    fc.constant({ fresh: true as const }),
    fc.record({ org: fc.oneof(fc.constant('self' as const), orgRef), n: fc.nat({ max: 5 }) }),
  );
  const cursor: fc.Arbitrary<CursorChoice> = fc.oneof(
    { weight: 4, arbitrary: fc.constant(null) },
    {
      weight: 4,
      arbitrary: fc.record({
        org: fc.oneof(fc.constant('self' as const), orgRef),
        n: fc.nat({ max: 9 }),
      }),
    },
    { weight: 1, arbitrary: fc.record({ garbage: fc.constantFrom('abc', 'R1BDOg==') }) },
  );
  const rarely = fc.oneof({ weight: 15, arbitrary: fc.constant(false) }, fc.constant(true));
  const w = (weight: number, arbitrary: fc.Arbitrary<Op>) => ({ weight: weight * 4, arbitrary });
  // Quarter weights for the two scrypt-bound operations.
  const [signUps, newMembers] = options.scrypt === 'rare' ? [1, 1] : [4, 4];
  return fc.oneof(
    {
      weight: signUps,
      arbitrary: fc
        .oneof({ weight: 3, arbitrary: fc.constant(null) }, orgRef)
        .map((taken) => new SignUp(taken)),
    },
    {
      weight: newMembers,
      arbitrary: fc.tuple(actor, role, email).map(([a, r, e]) => new CreateMember(a, r, e)),
    },
    w(
      14,
      fc
        .tuple(actor, title, fc.option(fc.nat({ max: CONTENTS.length - 1 })), rarely)
        .map(([a, t, c, blank]) => new CreatePost(a, t, c, blank)),
    ),
    w(
      8,
      fc
        .tuple(actor, idRef('Post'), fc.option(title), content)
        .map(([a, id, t, c]) => new UpdatePost(a, id, t, c)),
    ),
    w(
      4,
      fc.tuple(actor, idRef('Post')).map(([a, id]) => new DeletePost(a, id)),
    ),
    w(
      10,
      fc.tuple(actor, idRef('Post'), body).map(([a, id, b]) => new CreateComment(a, id, b)),
    ),
    w(
      6,
      fc.tuple(actor, idRef('Comment'), body).map(([a, id, b]) => new UpdateComment(a, id, b)),
    ),
    w(
      3,
      fc.tuple(actor, idRef('Comment')).map(([a, id]) => new DeleteComment(a, id)),
    ),
    w(
      4,
      fc.tuple(actor, idRef('User'), role).map(([a, id, r]) => new ChangeMemberRole(a, id, r)),
    ),
    w(
      8,
      fc.tuple(actor, idRef('Post')).map(([a, id]) => new ReadPost(a, id)),
    ),
    w(
      7,
      fc
        .tuple(actor, fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 3 }), cursor)
        .map(([a, first, pages, after]) => new ReadPosts(a, first, pages, after)),
    ),
    w(
      3,
      fc
        .tuple(actor, fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 5 }))
        .map(([a, page, size]) => new ReadPostsPage(a, page, size)),
    ),
    w(
      2,
      fc.tuple(actor, fc.integer({ min: 2, max: 6 })).map(([a, f]) => new ReadMembers(a, f)),
    ),
    w(
      2,
      actor.map((a) => new ReadViewer(a)),
    ),
    w(
      7,
      fc.tuple(actor, anyId).map(([a, id]) => new NodeLookup(a, id)),
    ),
    w(
      4,
      fc
        .tuple(actor, fc.array(anyId, { minLength: 1, maxLength: 5 }))
        .map(([a, ids]) => new NodesLookup(a, ids)),
    ),
  );
}

/**
 * One fast-check property: a random command sequence against a freshly reset world, checked
 * step by step against the model, then audited as a whole.
 */
export function isolationProperty(world: World, options: PropertyOptions) {
  return fc.asyncProperty(
    fc.commands([commandArbitrary(world, options)], {
      maxCommands: options.maxCommands,
      // Lengths spread up to maxCommands (the default size keeps runs to a handful of steps).
      size: 'max',
      ...(options.replayPath ? { replayPath: options.replayPath } : {}),
    }),
    async (commands) => {
      let model: Model | undefined;
      await fc.asyncModelRun(async () => {
        model = await startRun(world);
        return { model, real: world };
      }, commands);
      if (model) {
        try {
          await audit(world, model);
        } catch (error) {
          throw withStory(error, model, 'end-of-run audit');
        }
      }
    },
  );
}

/** The outcomes seen, most frequent first, then where the time went. */
export function summary(world: World): string {
  const rows = (map: Map<string, number>, unit: string) =>
    [...map.entries()]
      .sort(([a, x], [b, y]) => y - x || cmp(a, b))
      .map(([key, n]) => `${Math.round(n).toString().padStart(7)}${unit}  ${key}`);
  return ['outcomes:', ...rows(world.stats, '  '), 'time:', ...rows(world.time, 'ms')].join('\n');
}
