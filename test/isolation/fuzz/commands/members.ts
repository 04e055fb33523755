import {
  expectError,
  normalize,
  Op,
  okData,
  rawOf,
  record,
  request,
  type Step,
  same,
  scan,
  text,
} from '../checks.ts';
import {
  type ActorRef,
  actorLabel,
  at,
  type IdRef,
  idRefLabel,
  livePosts,
  MEMBER_FIELDS,
  type MOrg,
  memberShape,
  members,
  ORG_FIELDS,
  type OrgRef,
  orgRefLabel,
  orgShape,
  prefix,
  resolveActor,
  resolveId,
  resolveOrg,
} from '../model.ts';
import {
  marker,
  PASSWORD,
  type Person,
  RANK,
  type Role,
  signInAgain,
  signUpInput,
  UNOWNED,
} from '../world.ts';

/** Commands on organizations and members: sign-up, member creation, role changes, reads. */

export class SignUp extends Op {
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

export type EmailChoice = Readonly<{ fresh: true }> | Readonly<{ org: OrgRef | 'self'; n: number }>;

export class CreateMember extends Op {
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

export class ChangeMemberRole extends Op {
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

export class ReadMembers extends Op {
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

export const MEMBERS_QUERY = `query Members($first: Int!, $after: String) {
  members(first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { ${MEMBER_FIELDS} } }
  }
}`;

export class ReadViewer extends Op {
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
