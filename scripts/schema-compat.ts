import { type Change, CriticalityLevel, diff } from '@graphql-inspector/core';
import { buildSchema } from 'graphql';

/**
 * A line in a commit message (a git trailer) that says a breaking schema change is on purpose.
 * Any commit between the base and HEAD may carry it, the merge commit included.
 */
export const BREAKING_MARKER = 'Schema-Breaking: intended';
const MARKER_LINE = /^\s*Schema-Breaking:\s*intended\s*$/im;

export type SchemaCheck = Readonly<{
  ok: boolean;
  changes: readonly Change[];
  breaking: number;
  dangerous: number;
  intended: boolean;
  /** What to print, one line per change, then the verdict. */
  lines: readonly string[];
}>;

const LABEL = {
  [CriticalityLevel.Breaking]: 'BREAKING ',
  [CriticalityLevel.Dangerous]: 'warning  ',
  [CriticalityLevel.NonBreaking]: 'ok       ',
} as const;

/** Compares two SDLs: fails on a breaking change unless a commit message carries the marker. */
export async function checkSchemaChange(
  oldSdl: string,
  newSdl: string,
  commitMessages: readonly string[],
): Promise<SchemaCheck> {
  const changes = await diff(buildSchema(oldSdl), buildSchema(newSdl));
  const count = (level: CriticalityLevel) =>
    changes.filter((change) => change.criticality.level === level).length;
  const breaking = count(CriticalityLevel.Breaking);
  const dangerous = count(CriticalityLevel.Dangerous);
  const intended = commitMessages.some((message) => MARKER_LINE.test(message));
  const ok = breaking === 0 || intended;
  const lines = changes.map((change) => {
    const reason = change.criticality.reason ? ` (${change.criticality.reason})` : '';
    return `${LABEL[change.criticality.level]}${change.message}${reason}`;
  });
  if (changes.length === 0) lines.push('No schema changes.');
  if (breaking === 0) {
    lines.push(`${changes.length} change(s), none breaking (${dangerous} dangerous).`);
  } else if (intended) {
    lines.push(`${breaking} breaking change(s), marked intended by "${BREAKING_MARKER}".`);
  } else {
    lines.push(
      `${breaking} breaking change(s). If they are intended, add the line "${BREAKING_MARKER}" ` +
        'to a commit message (e.g. `git commit --allow-empty --trailer "Schema-Breaking: intended"`).',
    );
  }
  return Object.freeze({ ok, changes, breaking, dangerous, intended, lines });
}
