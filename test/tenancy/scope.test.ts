import { describe, expect, it, vi } from 'vitest';
import type { Organization } from '../../src/generated/prisma/client.ts';
import { InvalidId, TenantViolation } from '../../src/tenancy/errors.ts';
import { forOrganization, forOrganizationId, withUser } from '../../src/tenancy/scope.ts';

const org: Organization = {
  id: '3f9a6a52-1c1e-4a0e-9a51-0d1f3c8b2a10',
  name: 'Acme',
  slug: 'acme',
  createdAt: new Date(0),
  updatedAt: new Date(0),
  suspendedAt: null,
  deletionRequestedAt: null,
};
const otherOrgId = '8d1c5b1e-6f2a-4c3d-8e9f-0a1b2c3d4e5f';

describe('Scope', () => {
  it('is frozen, inside and out', () => {
    const scope = withUser(forOrganization(org), {
      id: 'a1a2a3a4-b1b2-4c1c-9d1d-e1e2e3e4e5e6',
      organizationId: org.id,
      role: 'MEMBER',
    });
    expect(Object.isFrozen(scope)).toBe(true);
    expect(Object.isFrozen(scope.user)).toBe(true);
    expect(() => {
      (scope as { organizationId: string }).organizationId = otherOrgId;
    }).toThrow(TypeError);
  });

  it('forOrganizationId rejects anything that is not a UUID', () => {
    const load = vi.fn();
    for (const bad of ['', 'acme', '1', `${org.id}x`, "' OR 1=1 --", org.id.replaceAll('-', '')]) {
      expect(() => forOrganizationId(bad, load)).toThrow(InvalidId);
    }
    expect(forOrganizationId(org.id.toUpperCase(), load).organizationId).toBe(org.id);
    expect(load).not.toHaveBeenCalled();
  });

  it('withUser refuses a user of another organization', () => {
    const scope = forOrganization(org);
    expect(() =>
      withUser(scope, {
        id: 'a1a2a3a4-b1b2-4c1c-9d1d-e1e2e3e4e5e6',
        organizationId: otherOrgId,
        role: 'OWNER',
      }),
    ).toThrow(TenantViolation);
    const user = withUser(scope, {
      id: 'a1a2a3a4-b1b2-4c1c-9d1d-e1e2e3e4e5e6',
      organizationId: org.id,
      role: 'OWNER',
    }).user;
    expect(user).toEqual({ id: 'a1a2a3a4-b1b2-4c1c-9d1d-e1e2e3e4e5e6', role: 'OWNER' });
  });

  it('loads its organization once, then never again', async () => {
    const load = vi.fn(async () => org);
    const scope = forOrganizationId(org.id, load);
    expect(load).not.toHaveBeenCalled();
    const [first, second] = await Promise.all([scope.organization(), scope.organization()]);
    expect(await scope.organization()).toBe(first);
    expect(second).toBe(first);
    expect(load).toHaveBeenCalledTimes(1);
    expect(load).toHaveBeenCalledWith(org.id);
    // The loader is carried over when a user is added.
    await withUser(scope, {
      id: 'a1a2a3a4-b1b2-4c1c-9d1d-e1e2e3e4e5e6',
      organizationId: org.id,
      role: 'MEMBER',
    }).organization();
    expect(load).toHaveBeenCalledTimes(1);
  });

  it('retries a failed load instead of caching the failure', async () => {
    const load = vi.fn().mockRejectedValueOnce(new Error('down')).mockResolvedValue(org);
    const scope = forOrganizationId(org.id, load);
    await expect(scope.organization()).rejects.toThrow('down');
    await expect(scope.organization()).resolves.toBe(org);
  });

  it('forOrganization never queries', async () => {
    await expect(forOrganization(org).organization()).resolves.toBe(org);
  });
});
