// npm run admin:token -- ops@example.com — prints a platform-admin token (one hour) for
// /admin/graphql, signed with ADMIN_JWT_SECRET, else JWT_SECRET, else the development secret the
// server generated.
import { createAdminCredentials, isAdminName } from '../src/admin/credential.ts';
import { resolveJwtSecret } from '../src/auth/secret.ts';
import { loadConfig } from '../src/config.ts';

const name = process.argv[2];
if (!isAdminName(name)) {
  console.error('Usage: npm run admin:token -- <your name, e.g. ops@example.com>');
  process.exit(2);
}
const config = loadConfig();
const { secret, source } = resolveJwtSecret({
  secret: config.jwtSecret,
  production: config.production,
  dataDir: config.dataDir,
});
if (source === 'generated' && !config.adminJwtSecret) {
  console.error(`No JWT_SECRET set: generated a development secret in ${config.dataDir}`);
}
console.log(await createAdminCredentials(config.adminJwtSecret ?? secret).issue(name));
