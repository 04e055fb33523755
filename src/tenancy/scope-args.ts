import { TenantViolation } from './errors.ts';
import type { OrganizationId } from './ids.ts';
import { type ModelInfo, modelInfo } from './models.ts';
import { type Args, isPlainObject, mapOneOrMany } from './plain-args.ts';
import { scopedProjection, scopedWhere } from './scope-reads.ts';
import { scopedCreateData, scopedCreateManyRow, scopedUpdateData } from './scope-writes.ts';

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
  return scopeArgs(organizationId, modelInfo(modelName), operation, args);
}

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

function scopeArgs(
  organizationId: OrganizationId,
  model: ModelInfo,
  operation: string,
  rawArgs: unknown,
): Args {
  const args: Args = { ...(isPlainObject(rawArgs) ? rawArgs : {}) };
  if (READS.has(operation) || AGGREGATES.has(operation)) {
    args.where = scopedWhere(organizationId, model, args.where);
    return scopedProjection(organizationId, model, args);
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
    args.data = scopedCreateData(organizationId, model, args.data, null);
    return scopedProjection(organizationId, model, args);
  }
  if (CREATE_MANY.has(operation)) {
    args.data = mapOneOrMany(args.data, (row) =>
      scopedCreateManyRow(organizationId, model, row, null),
    );
    return scopedProjection(organizationId, model, args);
  }
  if (UPDATES.has(operation)) {
    args.where = scopedWhere(organizationId, model, args.where);
    args.data = scopedUpdateData(organizationId, model, args.data);
    return scopedProjection(organizationId, model, args);
  }
  if (operation === 'upsert') {
    args.where = scopedWhere(organizationId, model, args.where);
    args.create = scopedCreateData(organizationId, model, args.create, null);
    args.update = scopedUpdateData(organizationId, model, args.update);
    return scopedProjection(organizationId, model, args);
  }
  if (DELETES.has(operation)) {
    args.where = scopedWhere(organizationId, model, args.where);
    return scopedProjection(organizationId, model, args);
  }
  throw new TenantViolation(`${model.name}.${operation} is not supported through a tenant scope`);
}
