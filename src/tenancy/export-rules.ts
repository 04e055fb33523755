import { getDatamodel } from '../generated/pothos-types.ts';
import type { Datamodel } from './models.ts';

/**
 * What a data export leaves out, declared once beside the registry (src/tenancy/models.ts).
 * Every model the registry knows is exported, each row in full minus the fields named here: a
 * new model needs no entry unless it holds a secret.
 */
export const SECRET_FIELDS: Readonly<Record<string, readonly string[]>> = {
  User: ['passwordHash'],
  // The jti of the one download link still usable: a live credential for the export itself.
  DataExport: ['downloadTokenId'],
};

/**
 * Models whose rows are not exported at all: the chunks are the export's own text, so an export
 * holding the previous exports' chunks would grow with every export.
 */
export const UNEXPORTED_MODELS: ReadonlySet<string> = new Set(['DataExportChunk']);

export type ExportRule = Readonly<{ model: string; omit: Readonly<Record<string, true>> }>;

/** The rules for every model, and what is wrong with the declarations above. */
export function exportRules(
  dmmf: Datamodel,
  secrets: Readonly<Record<string, readonly string[]>> = SECRET_FIELDS,
  unexported: ReadonlySet<string> = UNEXPORTED_MODELS,
): { rules: readonly ExportRule[]; problems: string[] } {
  const problems: string[] = [];
  for (const [name, fields] of Object.entries(secrets)) {
    const model = dmmf[name];
    if (!model) {
      problems.push(`SECRET_FIELDS names ${name}, which is not a model`);
      continue;
    }
    for (const field of fields) {
      if (!model.fields.some((f) => f.name === field && f.kind === 'scalar')) {
        problems.push(`SECRET_FIELDS names ${name}.${field}, which is not a scalar field`);
      }
    }
  }
  for (const name of unexported) {
    if (!dmmf[name]) problems.push(`UNEXPORTED_MODELS names ${name}, which is not a model`);
  }
  const rules = Object.keys(dmmf)
    .filter((name) => !unexported.has(name))
    .map((model) => ({
      model,
      omit: Object.fromEntries((secrets[model] ?? []).map((f) => [f, true as const])),
    }));
  return { rules, problems };
}

function loadRules(): readonly ExportRule[] {
  const { rules, problems } = exportRules(getDatamodel().datamodel.models as Datamodel);
  if (problems.length > 0)
    throw new Error(`Export rules check failed:\n- ${problems.join('\n- ')}`);
  return rules;
}

/** In the data model's order: organizations first, then the tenant-owned models. */
export const EXPORT_RULES = loadRules();
