import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export type SecretSource = 'environment' | 'generated' | 'stored';

/**
 * JWT_SECRET when set. In production there is no fallback: the server refuses to start. In
 * development a secret is generated once and kept in the data directory (never in the repo),
 * so tokens survive restarts.
 */
export function resolveJwtSecret(options: {
  secret: string | undefined;
  production: boolean;
  dataDir: string;
}): { secret: string; source: SecretSource } {
  if (options.secret) {
    if (options.secret.length < 32) throw new Error('JWT_SECRET must be at least 32 characters');
    return { secret: options.secret, source: 'environment' };
  }
  if (options.production) {
    throw new Error('JWT_SECRET is required when NODE_ENV=production');
  }
  const file = path.join(options.dataDir, 'jwt-secret');
  if (existsSync(file)) return { secret: readFileSync(file, 'utf8').trim(), source: 'stored' };
  mkdirSync(options.dataDir, { recursive: true });
  const secret = randomBytes(48).toString('base64url');
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  return { secret, source: 'generated' };
}
