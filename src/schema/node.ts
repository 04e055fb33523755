import { type Context, requireMember } from '../context.ts';
import { rowKey } from '../tenancy/scope.ts';

/**
 * Node options shared by tenant-owned types: the global id carries the row's id only, and
 * lookups add the organization from the member's scope (`authScopes` keeps anonymous requests
 * out before the lookup). A foreign or missing id resolves to null.
 */
export const tenantNode = {
  id: { resolve: (row: { id: string }) => row.id },
  findUnique: (id: string, ctx: Context) => rowKey(requireMember(ctx).scope, id),
  nullable: true,
  authScopes: { member: true },
} as const;

/**
 * What a tenant type in select mode always loads: its key, which its node id, its cursors and
 * the relations that start from it read.
 */
export const KEY_COLUMNS = { organizationId: true, id: true } as const;

/**
 * Node options for types only the OWNER reads: for anyone else the lookup matches no row, so
 * `node(id)` answers null, exactly as for a missing id (the type's own authScopes stay too).
 */
export const ownerOnlyNode = {
  ...tenantNode,
  findUnique: (id: string, ctx: Context) => ({
    ...tenantNode.findUnique(id, ctx),
    ...(requireMember(ctx).scope.user.role === 'OWNER' ? {} : { id: { in: [] } }),
  }),
  authScopes: { owner: true },
} as const;
