// npm run schema:check [-- --base <rev>] — is schema.graphql at HEAD compatible with the base
// revision's (default HEAD~1)? See scripts/schema-compat.ts for the rule and the marker.
// Whether schema.graphql matches the code is test/api/schema.test.ts's job (npm test).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { checkSchemaChange } from './schema-compat.ts';

const FILE = 'schema.graphql';
const args = process.argv.slice(2);
const baseAt = args.indexOf('--base');
const base = baseAt >= 0 ? args[baseAt + 1] : 'HEAD~1';
if (!base) throw new Error('--base needs a revision');

const git = (...gitArgs: string[]) =>
  execFileSync('git', gitArgs, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
const exists = (...gitArgs: string[]) => {
  try {
    git(...gitArgs);
    return true;
  } catch {
    return false;
  }
};

// A first commit or a shallow clone has no base to compare with: nothing can have broken.
if (!exists('rev-parse', '--verify', '--quiet', `${base}^{commit}`)) {
  console.log(`schema:check: no base commit ${base} (first commit or shallow clone); passing.`);
  process.exit(0);
}
if (!exists('cat-file', '-e', `${base}:${FILE}`)) {
  console.log(`schema:check: ${base} has no ${FILE}; passing.`);
  process.exit(0);
}

const newSdl = git('show', `HEAD:${FILE}`);
if (readFileSync(new URL(`../${FILE}`, import.meta.url), 'utf8') !== newSdl) {
  console.log(`schema:check: note: ${FILE} has uncommitted changes; checking HEAD's version.`);
}
const messages = git('log', '--format=%B%x00', `${base}..HEAD`).split('\0');
const result = await checkSchemaChange(git('show', `${base}:${FILE}`), newSdl, messages);
console.log(`schema:check: ${FILE} at ${base} -> HEAD`);
for (const line of result.lines) console.log(`  ${line}`);
process.exit(result.ok ? 0 : 1);
