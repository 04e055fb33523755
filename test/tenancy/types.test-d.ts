import { describe, expectTypeOf, it } from 'vitest';
import type { OrganizationId, UserId } from '../../src/tenancy/ids.ts';
import { parseOrganizationId, parseUserId } from '../../src/tenancy/ids.ts';
import type { Scope } from '../../src/tenancy/scope.ts';
import type { ScopedDb } from '../../src/tenancy/scoped-client.ts';

/**
 * Checked by the compiler (`npm run typecheck`, and vitest's typecheck mode): each
 * `@ts-expect-error` fails the build if the line below it ever compiles.
 */

declare function needsOrganization(id: OrganizationId): void;
declare const userId: UserId;
declare const organizationId: OrganizationId;
declare const scope: Scope;
declare const db: ScopedDb;

describe('branded ids', () => {
  it('an OrganizationId is required where one is wanted', () => {
    needsOrganization(organizationId);
    needsOrganization(scope.organizationId);
    needsOrganization(parseOrganizationId('3f9a6a52-1c1e-4a0e-9a51-0d1f3c8b2a10'));
    // @ts-expect-error a UserId is not an OrganizationId
    needsOrganization(userId);
    // @ts-expect-error a bare string is not an OrganizationId
    needsOrganization('3f9a6a52-1c1e-4a0e-9a51-0d1f3c8b2a10');
    // @ts-expect-error parseUserId gives a UserId
    needsOrganization(parseUserId('3f9a6a52-1c1e-4a0e-9a51-0d1f3c8b2a10'));
    expectTypeOf<UserId>().not.toExtend<OrganizationId>();
    expectTypeOf<OrganizationId>().toExtend<string>();
  });

  it('a Scope cannot be changed', () => {
    // @ts-expect-error a Scope is read-only
    scope.organizationId = organizationId;
    // @ts-expect-error and so is its user
    scope.user = null;
  });

  it('raw SQL does not even type-check on a scoped client', () => {
    expectTypeOf(db.$queryRawUnsafe).returns.toBeNever();
    expectTypeOf(db.$executeRaw).returns.toBeNever();
  });
});
