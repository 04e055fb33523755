import { randomUUID } from 'node:crypto';
import {
  type GraphQLObjectType,
  getNullableType,
  isListType,
  isNonNullType,
  isObjectType,
} from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSystemClient, type SystemClient } from '../../src/db/system.ts';
import { decodeGlobalId, encodeGlobalId } from '../../src/schema/ids.ts';
import { schema } from '../../src/schema/index.ts';
import { models } from '../../src/tenancy/models.ts';
import {
  createTestApi,
  type GraphQLResponse,
  type Org,
  signUpOrg,
  type TestApi,
} from '../support/api.ts';
import { createRow, delegateName, type Parents, tenantModelNames } from '../support/fixtures.ts';
import { idArgumentPaths, TEMPLATES } from '../support/schema-walk.ts';

/**
 * Walks the executable schema instead of a list: every ID argument (or ID field of an input) of
 * every operation is probed with the other organization's id and with a missing one, and the two
 * answers must be the same; every object type with `id: ID!` is a Node that `node(id)` loads for
 * its organization and answers null for the other's. Rows come from the fixture factories.
 */

/** Object types with `id: ID!` that are not rows, so not Nodes. */
const NOT_NODES: Readonly<Record<string, string>> = {
  DeletedPost: "a deleted post's tombstone in the postDeleted event: there is nothing to load",
};

const withId = Object.values(schema.getTypeMap())
  .filter(isObjectType)
  .filter((type) => {
    const id = type.getFields().id;
    return id && isNonNullType(id.type) && getNullableType(id.type).toString() === 'ID';
  })
  .map((type) => type.name)
  .filter((name) => !name.startsWith('__'));

let t: TestApi;
let system: SystemClient;
let a: Org;
let b: Org;
let parents: { a: Parents; b: Parents };

const raw = (globalId: string) => decodeGlobalId(globalId).id;

async function parentsOfOrg(org: Org): Promise<Parents> {
  const { organizationId } = await system.user.findFirstOrThrow({
    where: { id: raw(org.owner.userId) },
  });
  return {
    organizationId,
    userId: raw(org.owner.userId),
    postId: raw(org.postId),
    commentId: raw(org.commentId),
  };
}

/** A fresh row of `model` for the organization (the organization itself for Organization). */
async function freshId(model: string, p: Parents): Promise<string> {
  if (model === 'Organization') return encodeGlobalId(model, p.organizationId);
  return encodeGlobalId(model, (await createRow(system, model, p)).id);
}

/** What a client can tell apart: data, and each error's message, path and code. */
const answer = (r: GraphQLResponse) => ({
  data: r.data ?? null,
  errors: r.errors?.map((e) => ({ message: e.message, path: e.path, code: e.extensions?.code })),
});

/** Every row of the organization, so a probe can show it changed nothing there. */
async function rowsOf(organizationId: string) {
  const all: Record<string, unknown> = {};
  for (const model of tenantModelNames) {
    const delegate = (system as unknown as Record<string, { findMany: (a: object) => unknown }>)[
      delegateName(model)
    ];
    all[model] = await delegate?.findMany({ where: { organizationId }, orderBy: { id: 'asc' } });
  }
  return all;
}

beforeAll(async () => {
  t = await createTestApi();
  system = createSystemClient(t.database);
  a = await signUpOrg(t, 'acme');
  b = await signUpOrg(t, 'globex');
  parents = { a: await parentsOfOrg(a), b: await parentsOfOrg(b) };
});

afterAll(async () => {
  await system.$disconnect();
  await t.close();
});

describe('every ID argument of the schema', () => {
  it('has a call template (or a stated exemption), and no template is stale', () => {
    const missing = idArgumentPaths.filter((path) => !TEMPLATES[path]);
    expect(
      missing.map(
        (path) =>
          `${path} has no call template: add one to TEMPLATES in test/support/schema-walk.ts`,
      ),
    ).toEqual([]);
    expect(Object.keys(TEMPLATES).filter((path) => !idArgumentPaths.includes(path))).toEqual([]);
  });

  const probed = idArgumentPaths.flatMap((path) => {
    const template = TEMPLATES[path];
    return template && 'doc' in template ? [{ path, ...template }] : [];
  });

  it.each(probed)("$path: the other organization's id answers like a missing one", async (p) => {
    // The call's other ids: rows of the caller's own, fresh for each of the three calls.
    const call = async (id: string) => {
      const vars: Record<string, string> = { id };
      for (const [name, model] of Object.entries(p.own ?? {})) {
        vars[name] = await freshId(model, parents.a);
      }
      return t.gql(p.doc, vars, a.owner.token);
    };
    const foreignId = await freshId(p.model, parents.b);
    const before = await rowsOf(parents.b.organizationId);
    const foreign = await call(foreignId);
    const missing = await call(encodeGlobalId(p.model, randomUUID()));
    expect(answer(foreign)).toEqual(answer(missing));
    const codes = foreign.errors?.map((e) => e.extensions?.code) ?? [];
    // node/nodes answer null; every other operation NOT_FOUND.
    if (codes.length > 0) expect(codes).toEqual(['NOT_FOUND']);
    else expect(JSON.stringify(foreign.data)).toMatch(/null/);
    expect(await rowsOf(parents.b.organizationId)).toEqual(before);
    // Positive control: the same call on the caller's own fresh row works.
    const own = await call(await freshId(p.model, parents.a));
    expect(own.errors).toBeUndefined();
    expect(JSON.stringify(own.data)).not.toMatch(/null/);
  });
});

describe('every object type with an id', () => {
  it.each(withId)('%s implements Node, or is exempt with a reason', (name) => {
    const type = schema.getType(name) as GraphQLObjectType;
    const isNode = type.getInterfaces().some((i) => i.name === 'Node');
    expect(
      isNode || name in NOT_NODES,
      `${name} has id: ID! but does not implement Node: use builder.prismaNode (see src/schema/post.ts) or exempt it in NOT_NODES with a reason`,
    ).toBe(true);
  });

  const nodes = withId.filter((name) => !(name in NOT_NODES) && models.has(name));

  it('every Node type is a model with a fixture (or Organization)', () => {
    expect(withId.filter((name) => !(name in NOT_NODES) && !models.has(name))).toEqual([]);
  });

  it.each(nodes)(
    "%s loads through node(id); the other organization's like a missing one",
    async (model) => {
      const query = 'query($id: ID!) { node(id: $id) { id __typename } }';
      const ownId = await freshId(model, parents.a);
      const own = await t.gql(query, { id: ownId }, a.owner.token);
      expect(own.errors).toBeUndefined();
      expect(own.data?.node).toEqual({ id: ownId, __typename: model });
      const foreign = await t.gql(query, { id: await freshId(model, parents.b) }, a.owner.token);
      const missing = await t.gql(
        query,
        { id: encodeGlobalId(model, randomUUID()) },
        a.owner.token,
      );
      expect(answer(foreign)).toEqual({ data: { node: null }, errors: undefined });
      expect(answer(foreign)).toEqual(answer(missing));
    },
  );
});

it("node(id) of the OWNER's types, or of a colleague's notification, is null for a member", async () => {
  const query = 'query($id: ID!) { node(id: $id) { id __typename } }';
  for (const model of ['AuditEntry', 'DataExport', 'Notification']) {
    // The fixture's notification goes to the owner; the member asks for it.
    const id = await freshId(model, parents.a);
    const asMember = await t.gql(query, { id }, a.member.token);
    const missing = await t.gql(query, { id: encodeGlobalId(model, randomUUID()) }, a.member.token);
    expect(answer(asMember), model).toEqual({ data: { node: null }, errors: undefined });
    expect(answer(asMember)).toEqual(answer(missing));
    // Positive control: the owner loads the same id.
    expect((await t.gql(query, { id }, a.owner.token)).data?.node).toMatchObject({ id });
  }
});

// Keeps the helpers honest: an input list of IDs is an ID path too.
it('idPaths sees IDs inside lists and inputs', () => {
  const nodes = schema.getQueryType()?.getFields().nodes;
  expect(nodes && isListType(getNullableType(nodes.args[0]?.type))).toBe(true);
  expect(idArgumentPaths).toContain('Query.nodes.ids');
});
