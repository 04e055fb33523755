import { describe, expect, it } from 'vitest';
import { classifyModels, type Datamodel, GLOBAL_MODELS, models } from '../../src/tenancy/models.ts';

const field = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  kind: 'scalar',
  type: 'String',
  isList: false,
  ...extra,
});

describe('every model is tenant-owned or declared global', () => {
  it('holds for the real data model', () => {
    const tenantOwned = [...models.values()].filter((m) => m.global === null).map((m) => m.name);
    expect(tenantOwned.sort()).toEqual(['Comment', 'Post', 'User']);
    expect(Object.keys(GLOBAL_MODELS)).toEqual(['Organization']);
    for (const name of tenantOwned)
      expect(models.get(name)?.organizationRelation).toBe('organization');
  });

  it('a new model that is neither fails the check', () => {
    const datamodel: Datamodel = {
      Organization: { fields: [field('id')] },
      Invoice: { fields: [field('id'), field('total')] },
    };
    expect(classifyModels(datamodel).problems).toEqual([
      'Invoice has no organizationId and is not declared in GLOBAL_MODELS',
    ]);
  });

  it('a tenant-owned model without a relation to Organization fails the check', () => {
    const datamodel: Datamodel = {
      Organization: { fields: [field('id')] },
      Invoice: { fields: [field('organizationId'), field('id')] },
    };
    expect(classifyModels(datamodel).problems).toEqual([
      'Invoice needs a relation to Organization over organizationId',
    ]);
  });
});
