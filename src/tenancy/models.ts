import { getDatamodel } from '../generated/pothos-types.ts';
import type { OrganizationId } from './ids.ts';

/** The column every tenant-owned model carries. */
export const TENANT_KEY = 'organizationId';

/**
 * Models without an organizationId, each with the rows a scope may see. Every other model
 * must be tenant-owned; a model that is neither is refused when this module loads.
 */
export const GLOBAL_MODELS: Readonly<Record<string, GlobalModelRule>> = {
  // The tenant itself: a scope sees and may rename its own organization, nothing more.
  Organization: { visibleRows: (organizationId) => ({ id: organizationId }) },
};

type GlobalModelRule = Readonly<{ visibleRows: (organizationId: OrganizationId) => object }>;

/**
 * Tenant-owned models whose rows, once written, never change: a scope may create and read them,
 * nothing else (the database agrees: no UPDATE or DELETE grant, and a trigger). They may have no
 * relation to Organization, so that they outlive it: the audit log keeps the record of an
 * organization's deletion.
 */
export const APPEND_ONLY_MODELS: ReadonlySet<string> = new Set(['AuditEntry']);

export type Relation = Readonly<{
  field: string;
  target: string;
  isList: boolean;
  /** The foreign-key columns this model holds for the relation (empty on the other side). */
  fromFields: readonly string[];
  /** The field on the target that names the same relation from the other side. */
  backField: string;
}>;

export type ModelInfo = Readonly<{
  name: string;
  /** null for tenant-owned models. */
  global: GlobalModelRule | null;
  relations: ReadonlyMap<string, Relation>;
  /** The to-one relation to Organization over organizationId (tenant-owned models only). */
  organizationRelation: string | null;
  /** Created and read, never updated or deleted (APPEND_ONLY_MODELS). */
  appendOnly: boolean;
  /** A filter that keeps only the rows the organization may see. */
  visibleRows: (organizationId: OrganizationId) => Record<string, unknown>;
}>;

export type DmmfField = Readonly<{
  name: string;
  kind: string;
  type: string;
  isList: boolean;
  relationName?: string;
  relationFromFields?: readonly string[];
}>;

export type Datamodel = Readonly<Record<string, { fields: readonly DmmfField[] }>>;

/**
 * Reads the data model into what the scoped client needs, and lists what is wrong with it:
 * a model that is neither tenant-owned nor declared global, or a tenant-owned model with no
 * relation to Organization over organizationId.
 */
export function classifyModels(
  dmmf: Datamodel,
  globals: Readonly<Record<string, GlobalModelRule>> = GLOBAL_MODELS,
  appendOnlyModels: ReadonlySet<string> = APPEND_ONLY_MODELS,
): { models: ReadonlyMap<string, ModelInfo>; problems: string[] } {
  const models = new Map<string, ModelInfo>();
  const problems: string[] = [];
  for (const [name, { fields }] of Object.entries(dmmf)) {
    const tenantOwned = fields.some((f) => f.name === TENANT_KEY && f.kind === 'scalar');
    const global = globals[name] ?? null;
    if (tenantOwned === (global !== null)) {
      problems.push(
        tenantOwned
          ? `${name} has ${TENANT_KEY} but is declared global`
          : `${name} has no ${TENANT_KEY} and is not declared in GLOBAL_MODELS`,
      );
    }
    const relations = new Map<string, Relation>();
    for (const field of fields) {
      if (field.kind !== 'object') continue;
      const back = dmmf[field.type]?.fields.find(
        (f) => f.relationName === field.relationName && f.type === name && f !== field,
      );
      relations.set(field.name, {
        field: field.name,
        target: field.type,
        isList: field.isList,
        fromFields: field.relationFromFields ?? [],
        backField: back?.name ?? '',
      });
    }
    const organizationRelation = tenantOwned
      ? ([...relations.values()].find(
          (r) => r.target === 'Organization' && r.fromFields.join() === TENANT_KEY,
        )?.field ?? null)
      : null;
    const appendOnly = appendOnlyModels.has(name);
    if (appendOnly && !tenantOwned) problems.push(`${name} is append-only but not tenant-owned`);
    if (tenantOwned && !organizationRelation && !appendOnly) {
      problems.push(`${name} needs a relation to Organization over ${TENANT_KEY}`);
    }
    models.set(name, {
      name,
      global,
      relations,
      organizationRelation,
      appendOnly,
      visibleRows: (organizationId) =>
        global ? { ...global.visibleRows(organizationId) } : { [TENANT_KEY]: organizationId },
    });
  }
  for (const name of Object.keys(globals)) {
    if (!models.has(name)) problems.push(`GLOBAL_MODELS names ${name}, which is not a model`);
  }
  for (const name of appendOnlyModels) {
    if (!models.has(name)) problems.push(`APPEND_ONLY_MODELS names ${name}, which is not a model`);
  }
  return { models, problems };
}

function loadModels(): ReadonlyMap<string, ModelInfo> {
  const { models, problems } = classifyModels(getDatamodel().datamodel.models as Datamodel);
  if (problems.length > 0) {
    throw new Error(`Tenancy model check failed:\n- ${problems.join('\n- ')}`);
  }
  return models;
}

export const models = loadModels();

export function modelInfo(name: string): ModelInfo {
  const model = models.get(name);
  if (!model) throw new Error(`Unknown model ${name}`);
  return model;
}
