import path from 'node:path';
import { defineConfig } from 'prisma/config';

// `prisma generate` refuses to run unless the native schema-engine binary exists, and it
// cannot be downloaded offline. Generation never runs it, so point at a stub that explains
// itself; a developer with the real binary can still override this variable.
process.env.PRISMA_SCHEMA_ENGINE_BINARY ??= path.resolve('scripts/no-schema-engine.sh');

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
});
