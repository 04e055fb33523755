import { TenantViolation } from './errors.ts';
import type { OrganizationId } from './ids.ts';
import { type ModelInfo, modelInfo, type Relation, TENANT_KEY } from './models.ts';
import { type Args, isPlainObject, mapOneOrMany, requireObject } from './plain-args.ts';
import { scopedWhere } from './scope-reads.ts';

// Create, update and nested-write data live together: each can contain the others.

/**
 * Prisma takes create data in two forms: "unchecked" (foreign keys as scalars, e.g.
 * authorId) and "checked" (relations, e.g. author: { connect }), and refuses a mix. The
 * organization is injected in the form the data already uses. Under a parent relation
 * whose foreign key includes organizationId, an unchecked row inherits it from the parent.
 */
export function scopedCreateData(
  organizationId: OrganizationId,
  model: ModelInfo,
  data: unknown,
  parent: Relation | null,
): Args {
  if (model.global) {
    throw new TenantViolation(`${model.name} rows cannot be created through a tenant scope`);
  }
  const out: Args = { ...requireObject(data, `${model.name} create data`) };
  assertNoForeignOrganization(organizationId, out);
  const orgRelation = model.organizationRelation ?? '';
  const viaOrganization = parent !== null && parent.backField === orgRelation;
  const checked = [...model.relations.values()].some(
    (r) => r.fromFields.length > 0 && out[r.field] !== undefined,
  );
  if (viaOrganization) {
    // Created through the organization itself: Prisma takes the key from the parent row.
  } else if (checked) {
    out[orgRelation] = organizationConnect(organizationId, out[orgRelation]);
  } else if (!inheritsOrganization(parent)) {
    out[TENANT_KEY] = organizationId;
  }
  for (const [key, value] of Object.entries(out)) {
    const relation = model.relations.get(key);
    if (relation && key !== orgRelation && value !== undefined) {
      out[key] = nestedWrite(organizationId, relation, value);
    }
  }
  return out;
}

export function scopedCreateManyRow(
  organizationId: OrganizationId,
  model: ModelInfo,
  row: unknown,
  parent: Relation | null,
): Args {
  if (model.global) {
    throw new TenantViolation(`${model.name} rows cannot be created through a tenant scope`);
  }
  const out: Args = { ...requireObject(row, `${model.name} createMany row`) };
  assertNoForeignOrganization(organizationId, out);
  if (!inheritsOrganization(parent)) out[TENANT_KEY] = organizationId;
  return out;
}

export function scopedUpdateData(
  organizationId: OrganizationId,
  model: ModelInfo,
  data: unknown,
): Args {
  const out: Args = { ...requireObject(data, `${model.name} update data`) };
  if (TENANT_KEY in out || (model.global && 'id' in out)) {
    throw new TenantViolation(`The organization of a ${model.name} row cannot be changed`);
  }
  if (model.organizationRelation && model.organizationRelation in out) {
    throw new TenantViolation(`The organization of a ${model.name} row cannot be changed`);
  }
  assertNoForeignOrganization(organizationId, out);
  for (const [key, value] of Object.entries(out)) {
    const relation = model.relations.get(key);
    if (relation && value !== undefined) out[key] = nestedWrite(organizationId, relation, value);
  }
  return out;
}

/** The only organization a tenant row may be connected to is the scope's own. */
function organizationConnect(organizationId: OrganizationId, value: unknown): Args {
  if (value === undefined) return { connect: { id: organizationId } };
  const connect = isPlainObject(value) ? value.connect : undefined;
  if (
    isPlainObject(value) &&
    Object.keys(value).length === 1 &&
    isPlainObject(connect) &&
    connect.id === organizationId
  ) {
    return value;
  }
  throw new TenantViolation("A row's organization comes from the scope and cannot be chosen");
}

function nestedWrite(organizationId: OrganizationId, relation: Relation, value: unknown): Args {
  const target = modelInfo(relation.target);
  const ops = requireObject(value, `nested write on ${relation.field}`);
  const where = (w: unknown) => scopedWhere(organizationId, target, w);
  const whereMaybe = (w: unknown) => (isPlainObject(w) ? where(w) : w);
  const create = (d: unknown) => scopedCreateData(organizationId, target, d, relation);
  const out: Args = {};
  for (const [op, arg] of Object.entries(ops)) {
    switch (op) {
      case 'create':
        out[op] = mapOneOrMany(arg, create);
        break;
      case 'createMany': {
        const envelope = requireObject(arg, 'createMany');
        out[op] = {
          ...envelope,
          data: mapOneOrMany(envelope.data, (d) =>
            scopedCreateManyRow(organizationId, target, d, relation),
          ),
        };
        break;
      }
      case 'connectOrCreate':
        out[op] = mapOneOrMany(arg, (c) => {
          const { where: w, create: data } = requireObject(c, 'connectOrCreate');
          return { where: where(w), create: create(data) };
        });
        break;
      case 'connect':
      case 'set':
        out[op] = mapOneOrMany(arg, where);
        break;
      case 'disconnect':
      case 'delete':
        out[op] = relation.isList ? mapOneOrMany(arg, where) : whereMaybe(arg);
        break;
      case 'deleteMany':
        out[op] = mapOneOrMany(arg, where);
        break;
      case 'update':
      case 'updateMany':
        out[op] = mapOneOrMany(arg, (u) => nestedUpdate(organizationId, target, relation, u));
        break;
      case 'upsert':
        out[op] = mapOneOrMany(arg, (u) => {
          const { where: w, create: data, update, ...rest } = requireObject(u, 'upsert');
          return {
            ...rest,
            ...(w === undefined && !relation.isList ? {} : { where: where(w) }),
            create: create(data),
            update: scopedUpdateData(organizationId, target, update),
          };
        });
        break;
      default:
        throw new TenantViolation(`Nested write "${op}" on ${relation.field} is not supported`);
    }
  }
  if (target.global && Object.keys(out).some((op) => op !== 'connect')) {
    throw new TenantViolation(`${target.name} rows cannot be written through a tenant scope`);
  }
  return out;
}

/** `{ where, data }`, or for a to-one relation the update data itself. */
function nestedUpdate(
  organizationId: OrganizationId,
  target: ModelInfo,
  relation: Relation,
  value: unknown,
): Args {
  const update = requireObject(value, 'update');
  if (relation.isList || 'data' in update) {
    const { where, data, ...rest } = update;
    return {
      ...rest,
      ...(where === undefined && !relation.isList
        ? {}
        : { where: scopedWhere(organizationId, target, where) }),
      data: scopedUpdateData(organizationId, target, data),
    };
  }
  return scopedUpdateData(organizationId, target, update);
}

/** Any organizationId named anywhere in write data must be the scope's own. */
function assertNoForeignOrganization(organizationId: OrganizationId, value: unknown): void {
  if (Array.isArray(value)) {
    for (const item of value) assertNoForeignOrganization(organizationId, item);
    return;
  }
  if (!isPlainObject(value)) return;
  for (const [key, item] of Object.entries(value)) {
    if (key === TENANT_KEY && typeof item === 'string' && item !== organizationId) {
      throw new TenantViolation('Data names another organization');
    }
    assertNoForeignOrganization(organizationId, item);
  }
}

function inheritsOrganization(parent: Relation | null): boolean {
  if (!parent) return false;
  const back = modelInfo(parent.target).relations.get(parent.backField);
  return back?.fromFields.includes(TENANT_KEY) ?? false;
}
