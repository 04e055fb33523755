import type { OrganizationId } from './ids.ts';
import { type ModelInfo, modelInfo, type Relation } from './models.ts';
import { type Args, isPlainObject } from './plain-args.ts';

/** ANDs the organization into a filter; keeps unique criteria at the top for findUnique. */
export function scopedWhere(
  organizationId: OrganizationId,
  model: ModelInfo,
  where: unknown,
): Args {
  const base: Args = isPlainObject(where) ? where : {};
  const and = base.AND === undefined ? [] : Array.isArray(base.AND) ? base.AND : [base.AND];
  return { ...base, AND: [...and, model.visibleRows(organizationId)] };
}

/** Scopes every list relation a `select` or `include` reads, however deep, and its `_count`. */
export function scopedProjection(
  organizationId: OrganizationId,
  model: ModelInfo,
  args: Args,
): Args {
  for (const key of ['select', 'include'] as const) {
    const selection = args[key];
    if (isPlainObject(selection)) args[key] = scopedSelection(organizationId, model, selection);
  }
  return args;
}

function scopedSelection(organizationId: OrganizationId, model: ModelInfo, selection: Args): Args {
  const out: Args = {};
  for (const [key, value] of Object.entries(selection)) {
    const relation = model.relations.get(key);
    if (key === '_count') out[key] = scopedCount(organizationId, model, value);
    else if (relation && value !== false && value != null)
      out[key] = relationRead(organizationId, relation, value);
    else out[key] = value;
  }
  return out;
}

function relationRead(organizationId: OrganizationId, relation: Relation, value: unknown): unknown {
  const target = modelInfo(relation.target);
  if (!relation.isList && !isPlainObject(value)) return value;
  const args: Args = { ...(isPlainObject(value) ? value : {}) };
  if (relation.isList) args.where = scopedWhere(organizationId, target, args.where);
  return scopedProjection(organizationId, target, args);
}

function scopedCount(organizationId: OrganizationId, model: ModelInfo, value: unknown): unknown {
  const listRelations = [...model.relations.values()].filter((r) => r.isList);
  const requested: Args =
    value === true
      ? Object.fromEntries(listRelations.map((r) => [r.field, true]))
      : isPlainObject(value) && isPlainObject(value.select)
        ? value.select
        : {};
  const select: Args = {};
  for (const [field, spec] of Object.entries(requested)) {
    const relation = model.relations.get(field);
    if (!relation?.isList || spec === false || spec == null) {
      select[field] = spec;
      continue;
    }
    const where = isPlainObject(spec) ? spec.where : undefined;
    select[field] = {
      ...(isPlainObject(spec) ? spec : {}),
      where: scopedWhere(organizationId, modelInfo(relation.target), where),
    };
  }
  return { ...(isPlainObject(value) ? value : {}), select };
}
