import type { SystemClient } from '../../src/db/system.ts';
import type { Prisma } from '../../src/generated/prisma/client.ts';
import { decodeGlobalId } from '../../src/schema/ids.ts';
import { models, TENANT_KEY } from '../../src/tenancy/models.ts';

/**
 * One factory per tenant-owned model: the columns of a new row under an organization's parent
 * rows. Tests that cover "every model" iterate the registry and take their rows from here, so a
 * new model needs only its entry below (the type makes a missing one a compile error, and
 * test/tenancy/fixtures.test.ts fails with the same advice).
 */
export type Parents = Readonly<{
  organizationId: string;
  userId: string;
  postId: string;
  commentId: string;
}>;

export type Fixture = Readonly<{
  /** Rows of other models this one points at beyond `Parents`: made first, their ids in `made`. */
  needs?: readonly TenantModelName[];
  /** A new row's columns, organizationId aside; unique columns differ on every call. */
  data: (parents: Parents, made: Readonly<Record<string, string>>) => Record<string, unknown>;
  /**
   * An update of the row's own columns: one a scope may make, or, for an append-only model, the
   * one every client (the system client included) must be refused.
   */
  change: Record<string, unknown>;
}>;

// Every model but the global ones (GLOBAL_MODELS in src/tenancy/models.ts).
type TenantModelName = Exclude<Prisma.ModelName, 'Organization'>;

// Unique without naming the organization, so rows of two tenants still look alike.
let serial = 0;
const next = () => ++serial;

export const fixtures: Readonly<Record<TenantModelName, Fixture>> = {
  User: {
    data: () => ({ email: `person${next()}@example.com`, name: 'New Person' }),
    change: { name: 'Renamed' },
  },
  Post: {
    data: (p) => ({ title: 'New post', authorId: p.userId }),
    change: { title: 'Edited' },
  },
  Comment: {
    data: (p) => ({ body: 'New comment', postId: p.postId, authorId: p.userId }),
    change: { body: 'Edited' },
  },
  Notification: {
    // Unique per (comment, recipient, kind): every row gets a kind of its own.
    data: (p) => ({ recipientId: p.userId, commentId: p.commentId, kind: `TEST-${next()}` }),
    change: { readAt: new Date('2026-01-01T00:00:00Z') },
  },
  DataExport: {
    // At most one PENDING export per organization: new rows are finished, and downloadable.
    data: (p) => ({
      requestedById: p.userId,
      status: 'READY',
      expiresAt: new Date(Date.now() + 3600_000),
    }),
    change: { status: 'FAILED' },
  },
  Tag: {
    data: () => ({ name: `tag-${next()}` }),
    change: { name: 'Renamed' },
  },
  PostTag: {
    // Unique per (post, tag): every row gets a tag of its own.
    needs: ['Tag'],
    data: (p, made) => ({ postId: p.postId, tagId: made.Tag }),
    change: { createdAt: new Date('2026-01-01T00:00:00Z') },
  },
  DataExportChunk: {
    needs: ['DataExport'],
    data: (_p, made) => ({ exportId: made.DataExport, seq: next(), content: '{}\n' }),
    change: { content: '{"edited":true}\n' },
  },
  AuditEntry: {
    data: () => ({ actorType: 'MEMBER', actorLabel: 'owner@example.com', action: 'test.fixture' }),
    change: { action: 'rewritten' },
  },
};

/** Every tenant-owned model of the registry, by name. */
export const tenantModelNames: readonly string[] = [...models.values()]
  .filter((m) => m.global === null)
  .map((m) => m.name);

export function fixtureFor(model: string): Fixture {
  const fixture = (fixtures as Readonly<Record<string, Fixture>>)[model];
  if (!fixture) {
    throw new Error(`Model ${model} has no fixture factory: add one to test/support/fixtures.ts`);
  }
  return fixture;
}

/** The Prisma client's delegate name of a model (Post → post, DataExport → dataExport). */
export const delegateName = (model: string) => model.charAt(0).toLowerCase() + model.slice(1);

export type FixtureRow = { organizationId: string; id: string } & Record<string, unknown>;

/**
 * A new row's columns under `parents` (organizationId aside), after making the rows it `needs`
 * through the unscoped system client.
 */
export async function rowData(
  system: SystemClient,
  model: string,
  parents: Parents,
): Promise<Record<string, unknown>> {
  const fixture = fixtureFor(model);
  const made: Record<string, string> = {};
  for (const needed of fixture.needs ?? []) {
    made[needed] = (await createRow(system, needed, parents)).id;
  }
  return fixture.data(parents, made);
}

/** Creates one row of `model` under `parents` through the unscoped system client. */
export async function createRow(
  system: SystemClient,
  model: string,
  parents: Parents,
): Promise<FixtureRow> {
  const delegate = (
    system as unknown as Record<string, { create: (a: object) => Promise<unknown> }>
  )[delegateName(model)];
  if (!delegate) throw new Error(`The system client has no delegate for ${model}`);
  const data = { ...(await rowData(system, model, parents)), [TENANT_KEY]: parents.organizationId };
  return (await delegate.create({ data })) as FixtureRow;
}

/** The parent rows a tenant of test/support/tenants.ts offers the factories. */
export function parentsOf(tenant: {
  org: { id: string };
  owner: { id: string };
  post: { id: string };
  comment: { id: string };
}): Parents {
  return {
    organizationId: tenant.org.id,
    userId: tenant.owner.id,
    postId: tenant.post.id,
    commentId: tenant.comment.id,
  };
}

/** The parents of an organization built through the API (test/support/api.ts signUpOrg). */
export function parentsOfApiOrg(
  organizationId: string,
  org: { owner: { userId: string }; postId: string; commentId: string },
): Parents {
  const raw = (globalId: string) => decodeGlobalId(globalId).id;
  return {
    organizationId,
    userId: raw(org.owner.userId),
    postId: raw(org.postId),
    commentId: raw(org.commentId),
  };
}

/** One more row of every tenant-owned model under `parents`, from its factory. */
export async function createRowOfEveryModel(system: SystemClient, parents: Parents) {
  for (const model of tenantModelNames) await createRow(system, model, parents);
}
