import { describe, expect, it } from 'vitest';
import { createRow, fixtureFor, tenantModelNames } from '../support/fixtures.ts';
import { useTwoTenants } from '../support/tenants.ts';

const t = useTwoTenants();

describe('fixture factories', () => {
  it.each(tenantModelNames)(
    '%s has a factory that creates a row of the organization',
    async (model) => {
      expect(() => fixtureFor(model)).not.toThrow();
      const { org, owner, post, comment } = t.a;
      const row = await createRow(t.system, model, {
        organizationId: org.id,
        userId: owner.id,
        postId: post.id,
        commentId: comment.id,
      });
      expect(row).toMatchObject({ organizationId: org.id, id: expect.any(String) });
    },
  );

  it('a model without one is refused with what to add', () => {
    expect(() => fixtureFor('Unfixtured')).toThrow(
      'Model Unfixtured has no fixture factory: add one to test/support/fixtures.ts',
    );
  });
});
