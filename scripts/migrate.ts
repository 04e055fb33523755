// npm run db:migrate | db:migration -- <name> | db:status | db:distribute
// Target: DATABASE_URL when set (environment or .env, checked as at start-up), else the embedded
// PGlite database in ./.data/pglite.
import path from 'node:path';
import { loadConfig } from '../src/config.ts';
import { openDatabase } from '../src/db/database.ts';
import {
  applyMigrations,
  createMigration,
  migrationStatus,
} from '../src/db/migrations/commands.ts';
import { distributeTenantTables } from '../src/db/migrations/distribution.ts';
import { APPEND_ONLY_MODELS } from '../src/tenancy/models.ts';

const usage = `Usage:
  npm run db:migrate               apply pending migrations
  npm run db:migration -- <name>   write the next migration from prisma/schema.prisma
  npm run db:status                show applied, pending and failed migrations
  npm run db:distribute            on Citus: shard the tenant tables of a migrated database`;

async function run(command: string | undefined, args: string[]): Promise<number> {
  if (!['deploy', 'create', 'status', 'distribute'].includes(command ?? '')) {
    console.error(usage);
    return 2;
  }
  if (command === 'create' && !args[0]) {
    console.error(`Name the migration.\n${usage}`);
    return 2;
  }
  const target = await openDatabase({ url: loadConfig().databaseUrl, poolSize: 2 });
  console.log(`Database: ${target.location}`);
  const started = performance.now();
  const elapsed = () => `${Math.round(performance.now() - started)} ms`;
  try {
    if (command === 'deploy') {
      const { applied } = await applyMigrations(target.adapter);
      if (applied.length === 0) console.log(`No pending migrations (${elapsed()}).`);
      else console.log(`Applied (${elapsed()}):\n${applied.map((name) => `  ${name}`).join('\n')}`);
      return 0;
    }
    if (command === 'create') {
      const created = await createMigration(target.adapter, args[0] ?? '', {
        appendOnlyModels: APPEND_ONLY_MODELS,
      });
      if (!created) {
        console.log('No changes: prisma/schema.prisma matches the migrations. Nothing written.');
        return 0;
      }
      console.log(`Wrote ${path.relative(process.cwd(), created.path)} (${elapsed()}).`);
      console.log(
        'Row-level security for its new tenant tables is written for you (enable_tenant_isolation).\n' +
          'Review it, add any other hand-written SQL, then run: npm run db:migrate',
      );
      return 0;
    }
    if (command === 'distribute') {
      const { distributed } = await distributeTenantTables(target.adapter);
      console.log(
        distributed
          ? `Distributed by organization_id on Citus, organizations a reference table (${elapsed()}).`
          : 'Not a Citus database (no citus extension): nothing to distribute.',
      );
      return 0;
    }
    const status = await migrationStatus(target.adapter);
    console.log(status.summary);
    // Like `prisma migrate status`: non-zero unless the database is up to date.
    return status.upToDate ? 0 : 1;
  } finally {
    await target.close();
  }
}

let exitCode: number;
try {
  exitCode = await run(process.argv[2], process.argv.slice(3));
} catch (error) {
  console.error(`Migration command failed:\n${error instanceof Error ? error.message : error}`);
  exitCode = 1;
}
// The schema engine leaves a ~10 s timer behind; do not wait for it.
process.exit(exitCode);
