import { okData, rawOf, record, request, same, text, timed } from './checks.ts';
import {
  at,
  livePosts,
  MEMBER_FIELDS,
  type MOrg,
  type Model,
  memberShape,
  members,
  POST_DETAIL,
  postDetailShape,
} from './model.ts';
import {
  BASE_LABELS,
  BASE_PEOPLE,
  type FuzzApi,
  marker,
  type OrgState,
  PASSWORD,
  type Person,
  signInAgain,
  signUpInput,
  type World,
  type WorldOptions,
} from './world.ts';

/** Runs: the base organizations once per process, a reset per run, and the audit at its end. */

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

/** Everything an organization holds, read as its owner: its posts in detail, and its members. */
export async function readOrg(world: World, key: number, who: string, token: string) {
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
