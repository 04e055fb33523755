import { TenantViolation } from './errors.ts';
import type { OrganizationId } from './ids.ts';
import { type ModelInfo, modelInfo, type Relation, TENANT_KEY } from './models.ts';

/**
 * Rewrites the arguments of one model operation so that it can only reach the rows of one
 * organization: every filter is ANDed with the organization, every created row gets it,
 * nested reads and writes are walked through the data model, and anything that would name
 * another organization or change a row's organization throws TenantViolation.
 *
 * Row-level security in the database enforces the same boundary independently; this layer
 * makes mistakes fail loudly and early, with a clear message, instead of as empty results.
 */
export function scopeOperation(
  modelName: string,
  operation: string,
  args: unknown,
  organizationId: OrganizationId,
): Args {
  return new Scoper(organizationId).operation(modelInfo(modelName), operation, args);
}

type Args = Record<string, unknown>;

const READS = new Set([
  'findUnique',
  'findUniqueOrThrow',
  'findFirst',
  'findFirstOrThrow',
  'findMany',
]);
const AGGREGATES = new Set(['count', 'aggregate', 'groupBy']);
const CREATE_MANY = new Set(['createMany', 'createManyAndReturn']);
const UPDATES = new Set(['update', 'updateMany', 'updateManyAndReturn']);
const DELETES = new Set(['delete', 'deleteMany']);
const CREATES = new Set(['create', ...CREATE_MANY]);

class Scoper {
  constructor(private readonly organizationId: OrganizationId) {}

  operation(model: ModelInfo, operation: string, rawArgs: unknown): Args {
    const args: Args = { ...(isPlainObject(rawArgs) ? rawArgs : {}) };
    if (READS.has(operation) || AGGREGATES.has(operation)) {
      args.where = this.where(model, args.where);
      return this.projection(model, args);
    }
    if (model.global && !UPDATES.has(operation)) {
      throw new TenantViolation(
        `${model.name}.${operation} is not available through a tenant scope: ${model.name} rows are created and deleted by the platform`,
      );
    }
    if (model.appendOnly && !CREATES.has(operation)) {
      throw new TenantViolation(
        `${model.name}.${operation} is not available: ${model.name} rows are append-only`,
      );
    }
    if (operation === 'create') {
      args.data = this.createData(model, args.data, null);
      return this.projection(model, args);
    }
    if (CREATE_MANY.has(operation)) {
      args.data = mapOneOrMany(args.data, (row) => this.createManyRow(model, row, null));
      return this.projection(model, args);
    }
    if (UPDATES.has(operation)) {
      args.where = this.where(model, args.where);
      args.data = this.updateData(model, args.data);
      return this.projection(model, args);
    }
    if (operation === 'upsert') {
      args.where = this.where(model, args.where);
      args.create = this.createData(model, args.create, null);
      args.update = this.updateData(model, args.update);
      return this.projection(model, args);
    }
    if (DELETES.has(operation)) {
      args.where = this.where(model, args.where);
      return this.projection(model, args);
    }
    throw new TenantViolation(`${model.name}.${operation} is not supported through a tenant scope`);
  }

  /** ANDs the organization into a filter; keeps unique criteria at the top for findUnique. */
  private where(model: ModelInfo, where: unknown): Args {
    const base: Args = isPlainObject(where) ? where : {};
    const and = base.AND === undefined ? [] : Array.isArray(base.AND) ? base.AND : [base.AND];
    return { ...base, AND: [...and, model.visibleRows(this.organizationId)] };
  }

  // ---- reads -------------------------------------------------------------------------------

  private projection(model: ModelInfo, args: Args): Args {
    for (const key of ['select', 'include'] as const) {
      const selection = args[key];
      if (isPlainObject(selection)) args[key] = this.selection(model, selection);
    }
    return args;
  }

  private selection(model: ModelInfo, selection: Args): Args {
    const out: Args = {};
    for (const [key, value] of Object.entries(selection)) {
      const relation = model.relations.get(key);
      if (key === '_count') out[key] = this.count(model, value);
      else if (relation && value !== false && value != null)
        out[key] = this.relationRead(relation, value);
      else out[key] = value;
    }
    return out;
  }

  private relationRead(relation: Relation, value: unknown): unknown {
    const target = modelInfo(relation.target);
    if (!relation.isList && !isPlainObject(value)) return value;
    const args: Args = { ...(isPlainObject(value) ? value : {}) };
    if (relation.isList) args.where = this.where(target, args.where);
    return this.projection(target, args);
  }

  private count(model: ModelInfo, value: unknown): unknown {
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
        where: this.where(modelInfo(relation.target), where),
      };
    }
    return { ...(isPlainObject(value) ? value : {}), select };
  }

  // ---- creates -----------------------------------------------------------------------------

  /**
   * Prisma takes create data in two forms: "unchecked" (foreign keys as scalars, e.g.
   * authorId) and "checked" (relations, e.g. author: { connect }), and refuses a mix. The
   * organization is injected in the form the data already uses. Under a parent relation
   * whose foreign key includes organizationId, an unchecked row inherits it from the parent.
   */
  private createData(model: ModelInfo, data: unknown, parent: Relation | null): Args {
    if (model.global) {
      throw new TenantViolation(`${model.name} rows cannot be created through a tenant scope`);
    }
    const out: Args = { ...requireObject(data, `${model.name} create data`) };
    this.assertNoForeignOrganization(out);
    const orgRelation = model.organizationRelation ?? '';
    const viaOrganization = parent !== null && parent.backField === orgRelation;
    const checked = [...model.relations.values()].some(
      (r) => r.fromFields.length > 0 && out[r.field] !== undefined,
    );
    if (viaOrganization) {
      // Created through the organization itself: Prisma takes the key from the parent row.
    } else if (checked) {
      out[orgRelation] = this.organizationConnect(out[orgRelation]);
    } else if (!inheritsOrganization(parent)) {
      out[TENANT_KEY] = this.organizationId;
    }
    for (const [key, value] of Object.entries(out)) {
      const relation = model.relations.get(key);
      if (relation && key !== orgRelation && value !== undefined) {
        out[key] = this.nestedWrite(relation, value);
      }
    }
    return out;
  }

  private createManyRow(model: ModelInfo, row: unknown, parent: Relation | null): Args {
    if (model.global) {
      throw new TenantViolation(`${model.name} rows cannot be created through a tenant scope`);
    }
    const out: Args = { ...requireObject(row, `${model.name} createMany row`) };
    this.assertNoForeignOrganization(out);
    if (!inheritsOrganization(parent)) out[TENANT_KEY] = this.organizationId;
    return out;
  }

  /** The only organization a tenant row may be connected to is the scope's own. */
  private organizationConnect(value: unknown): Args {
    if (value === undefined) return { connect: { id: this.organizationId } };
    const connect = isPlainObject(value) ? value.connect : undefined;
    if (
      isPlainObject(value) &&
      Object.keys(value).length === 1 &&
      isPlainObject(connect) &&
      connect.id === this.organizationId
    ) {
      return value;
    }
    throw new TenantViolation("A row's organization comes from the scope and cannot be chosen");
  }

  // ---- updates -----------------------------------------------------------------------------

  private updateData(model: ModelInfo, data: unknown): Args {
    const out: Args = { ...requireObject(data, `${model.name} update data`) };
    if (TENANT_KEY in out || (model.global && 'id' in out)) {
      throw new TenantViolation(`The organization of a ${model.name} row cannot be changed`);
    }
    if (model.organizationRelation && model.organizationRelation in out) {
      throw new TenantViolation(`The organization of a ${model.name} row cannot be changed`);
    }
    this.assertNoForeignOrganization(out);
    for (const [key, value] of Object.entries(out)) {
      const relation = model.relations.get(key);
      if (relation && value !== undefined) out[key] = this.nestedWrite(relation, value);
    }
    return out;
  }

  // ---- nested writes -----------------------------------------------------------------------

  private nestedWrite(relation: Relation, value: unknown): Args {
    const target = modelInfo(relation.target);
    const ops = requireObject(value, `nested write on ${relation.field}`);
    const where = (w: unknown) => this.where(target, w);
    const whereMaybe = (w: unknown) => (isPlainObject(w) ? where(w) : w);
    const out: Args = {};
    for (const [op, arg] of Object.entries(ops)) {
      switch (op) {
        case 'create':
          out[op] = mapOneOrMany(arg, (d) => this.createData(target, d, relation));
          break;
        case 'createMany': {
          const envelope = requireObject(arg, 'createMany');
          out[op] = {
            ...envelope,
            data: mapOneOrMany(envelope.data, (d) => this.createManyRow(target, d, relation)),
          };
          break;
        }
        case 'connectOrCreate':
          out[op] = mapOneOrMany(arg, (c) => {
            const { where: w, create } = requireObject(c, 'connectOrCreate');
            return { where: where(w), create: this.createData(target, create, relation) };
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
          out[op] = mapOneOrMany(arg, (u) => this.nestedUpdate(target, relation, u));
          break;
        case 'upsert':
          out[op] = mapOneOrMany(arg, (u) => {
            const { where: w, create, update, ...rest } = requireObject(u, 'upsert');
            return {
              ...rest,
              ...(w === undefined && !relation.isList ? {} : { where: where(w) }),
              create: this.createData(target, create, relation),
              update: this.updateData(target, update),
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
  private nestedUpdate(target: ModelInfo, relation: Relation, value: unknown): Args {
    const update = requireObject(value, 'update');
    if (relation.isList || 'data' in update) {
      const { where, data, ...rest } = update;
      return {
        ...rest,
        ...(where === undefined && !relation.isList ? {} : { where: this.where(target, where) }),
        data: this.updateData(target, data),
      };
    }
    return this.updateData(target, update);
  }

  /** Any organizationId named anywhere in write data must be the scope's own. */
  private assertNoForeignOrganization(value: unknown): void {
    if (Array.isArray(value)) {
      for (const item of value) this.assertNoForeignOrganization(item);
      return;
    }
    if (!isPlainObject(value)) return;
    for (const [key, item] of Object.entries(value)) {
      if (key === TENANT_KEY && typeof item === 'string' && item !== this.organizationId) {
        throw new TenantViolation('Data names another organization');
      }
      this.assertNoForeignOrganization(item);
    }
  }
}

function inheritsOrganization(parent: Relation | null): boolean {
  if (!parent) return false;
  const back = modelInfo(parent.target).relations.get(parent.backField);
  return back?.fromFields.includes(TENANT_KEY) ?? false;
}

function mapOneOrMany<T>(value: unknown, fn: (item: unknown) => T): T | T[] {
  return Array.isArray(value) ? value.map(fn) : fn(value);
}

function isPlainObject(value: unknown): value is Args {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function requireObject(value: unknown, what: string): Args {
  if (!isPlainObject(value)) throw new TenantViolation(`Expected an object for ${what}`);
  return value;
}
