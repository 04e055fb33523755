// npm run db:template (run by postinstall and by npm run build): prepares the migrated PGlite
// cluster that new embedded data directories start from (src/db/pglite-template.ts). Never fails
// the install: without a template, a new data directory is created the slow way.
import { prepareTemplate } from '../src/db/pglite-template.ts';

const started = performance.now();
try {
  const file = await prepareTemplate();
  console.log(`PGlite template ready (${Math.round(performance.now() - started)} ms): ${file}`);
} catch (error) {
  console.warn(`PGlite template not prepared (new data directories take longer): ${error}`);
}
