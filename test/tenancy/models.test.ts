import { describe, expect, it } from 'vitest';
import {
  APPEND_ONLY_MODELS,
  classifyModels,
  type Datamodel,
  GLOBAL_MODELS,
  models,
} from '../../src/tenancy/models.ts';

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
    // Every model is one or the other (the registry refuses anything else at load), and the
    // check sees the real models, not an empty map.
    expect([...tenantOwned, ...Object.keys(GLOBAL_MODELS)].sort()).toEqual(
      [...models.keys()].sort(),
    );
    expect(tenantOwned).toEqual(expect.arrayContaining(['User', 'Post', 'Comment']));
    expect(Object.keys(GLOBAL_MODELS)).toEqual(['Organization']);
    expect([...APPEND_ONLY_MODELS]).toEqual(['AuditEntry']);
    for (const name of tenantOwned) {
      // Append-only models may outlive their organization: no relation, no cascade.
      const appendOnly = APPEND_ONLY_MODELS.has(name);
      expect(models.get(name)?.appendOnly).toBe(appendOnly);
      expect(models.get(name)?.organizationRelation).toBe(appendOnly ? null : 'organization');
    }
  });

  it('a new model that is neither fails the check', () => {
    const datamodel: Datamodel = {
      Organization: { fields: [field('id')] },
      Invoice: { fields: [field('id'), field('total')] },
    };
    expect(classifyModels(datamodel, GLOBAL_MODELS, new Set()).problems).toEqual([
      'Invoice has no organizationId and is not declared in GLOBAL_MODELS',
    ]);
  });

  it('a tenant-owned model without a relation to Organization fails the check', () => {
    const datamodel: Datamodel = {
      Organization: { fields: [field('id')] },
      Invoice: { fields: [field('organizationId'), field('id')] },
    };
    expect(classifyModels(datamodel, GLOBAL_MODELS, new Set()).problems).toEqual([
      'Invoice needs a relation to Organization over organizationId',
    ]);
  });
});
