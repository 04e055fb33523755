import type { Organization, Role } from '../generated/prisma/client.ts';
import { TenantViolation } from './errors.ts';
import { type OrganizationId, parseOrganizationId, parseUserId, type UserId } from './ids.ts';

export type ScopeUser = Readonly<{ id: UserId; role: Role }>;

/**
 * Who a unit of work acts for: one organization and, once authenticated, one of its users.
 * Built once at the edge from verified input, frozen, and passed whole: code below the edge
 * receives a Scope, never a bare organization id.
 */
export type Scope = Readonly<{
  organizationId: OrganizationId;
  user: ScopeUser | null;
  /** The scope's organization, loaded on first call and cached; later calls do not query. */
  organization: () => Promise<Organization>;
}>;

export type OrganizationLoader = (organizationId: OrganizationId) => Promise<Organization>;

/** A scope for an organization that is already loaded: `organization()` never queries. */
export function forOrganization(organization: Organization): Scope {
  const organizationId = parseOrganizationId(organization.id);
  const loaded = Promise.resolve(organization);
  return freeze(organizationId, null, () => loaded);
}

/**
 * A scope for an organization known only by id (a verified token claim, a job payload).
 * Rejects anything that is not a UUID. `load` runs at most once, on the first
 * `organization()` call (a failed load is retried on the next call).
 */
export function forOrganizationId(organizationId: string, load: OrganizationLoader): Scope {
  const id = parseOrganizationId(organizationId);
  return freeze(
    id,
    null,
    once(() => load(id)),
  );
}

/** The same scope acting as `user`. A user of another organization is refused. */
export function withUser(
  scope: Scope,
  user: Readonly<{ id: string; organizationId: string; role: Role }>,
): Scope {
  if (parseOrganizationId(user.organizationId) !== scope.organizationId) {
    throw new TenantViolation('A scope cannot act as a user of another organization');
  }
  const scopeUser: ScopeUser = Object.freeze({ id: parseUserId(user.id), role: user.role });
  return freeze(scope.organizationId, scopeUser, scope.organization);
}

/**
 * The primary key of a tenant-owned row in the scope's organization, as Prisma's unique input
 * spells it. Rows are keyed by (organizationId, id), so a bare id never addresses a row.
 */
export function rowKey(scope: Scope, id: string) {
  return { organizationId_id: { organizationId: scope.organizationId as string, id } };
}

function freeze(
  organizationId: OrganizationId,
  user: ScopeUser | null,
  organization: () => Promise<Organization>,
): Scope {
  return Object.freeze({ organizationId, user, organization });
}

function once<T>(load: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    pending ??= load().catch((error: unknown) => {
      pending = undefined;
      throw error;
    });
    return pending;
  };
}
