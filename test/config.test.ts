import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, ConfigError, loadConfig } from '../src/config.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const TSX = path.join(ROOT, 'node_modules/tsx/dist/cli.mjs');

/**
 * Runs a TypeScript entry point in `cwd` with only `env` (and PATH) as its environment, in its
 * own process group: a server that starts after all (the check removed) is killed with tsx's
 * child after 20 s instead of outliving the test.
 */
function run(entry: string, cwd: string, env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [TSX, path.join(ROOT, entry)], {
      cwd,
      env: { PATH: process.env.PATH ?? '', ...env },
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.pid && process.kill(-child.pid, 'SIGKILL'), 20_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const bad = (env: NodeJS.ProcessEnv) => () => loadConfig(env);

describe('configuration: every value checked, the message names the variable and the expected form', () => {
  it('integers: not a number, out of range', () => {
    expect(bad({ PORT: '80a' })).toThrow(
      'PORT: "80a" is not an integer; expected a port from 0 to 65535',
    );
    expect(bad({ PORT: '65536' })).toThrow('PORT: 65536 is out of range; expected a port');
    expect(bad({ PASSWORD_HASH_CONCURRENCY: '0' })).toThrow(
      'PASSWORD_HASH_CONCURRENCY: 0 is out of range; expected a positive integer',
    );
    expect(bad({ PASSWORD_HASH_CONCURRENCY: '1.5' })).toThrow(/"1.5" is not an integer/);
    expect(loadConfig({ PORT: '0', PASSWORD_HASH_CONCURRENCY: '3' })).toMatchObject({
      port: 0,
      passwordHashConcurrency: 3,
    });
  });

  it('switches: true/false/1/0 only', () => {
    for (const name of ['SEED_DEMO', 'GRAPHQL_INTROSPECTION', 'JOB_WORKERS']) {
      expect(bad({ [name]: 'yes' })).toThrow(
        `${name}: "yes" is not a boolean; expected true or false`,
      );
    }
    expect(
      loadConfig({ SEED_DEMO: '0', GRAPHQL_INTROSPECTION: '1', JOB_WORKERS: 'false' }),
    ).toMatchObject({ seedDemo: false, introspection: true, jobWorkers: false });
  });

  it('choices: NODE_ENV and LOG_LEVEL', () => {
    expect(bad({ NODE_ENV: 'staging' })).toThrow(
      'NODE_ENV: "staging" is not allowed; expected development, production or test',
    );
    expect(bad({ LOG_LEVEL: 'verbose' })).toThrow(
      'LOG_LEVEL: "verbose" is not allowed; expected one of trace, debug, info, warn, error, fatal, silent',
    );
    expect(loadConfig({ LOG_LEVEL: 'debug' }).logLevel).toBe('debug');
  });

  it('URLs: the scheme each service speaks, and the value (it may hold a password) never echoed', () => {
    const cases: [name: string, value: string, message: string][] = [
      [
        'DATABASE_URL',
        'mysql://app:hunter2@db/app',
        'the scheme is "mysql:"; expected a postgresql:// URL',
      ],
      [
        'DATABASE_URL',
        'hunter2 at db',
        'the value (not shown) is not a URL; expected a postgresql://',
      ],
      [
        'REDIS_URL',
        'http://:hunter2@cache',
        'the scheme is "http:"; expected a redis:// or rediss://',
      ],
      ['ELECTRIC_URL', 'hunter2', 'the value (not shown) is not a URL; expected an http://'],
    ];
    for (const [name, value, message] of cases) {
      const error = catchError(bad({ [name]: value }));
      expect(error.message).toContain(`${name}: ${message}`);
      expect(error.message).not.toContain('hunter2');
    }
    expect(
      loadConfig({ DATABASE_URL: 'postgres://u:p@db/app', REDIS_URL: 'rediss://cache' }),
    ).toMatchObject({ databaseUrl: 'postgres://u:p@db/app', redisUrl: 'rediss://cache' });
  });

  it('secrets: at least 32 characters, never echoed', () => {
    for (const name of ['JWT_SECRET', 'ADMIN_JWT_SECRET']) {
      const error = catchError(bad({ [name]: 'hunter2-hunter2' }));
      expect(error.message).toContain(
        `${name}: the value (not shown) has 15 characters; expected at least 32 characters`,
      );
      expect(error.message).not.toContain('hunter2');
    }
    expect(loadConfig({ JWT_SECRET: ` ${'s'.repeat(31)}` }).jwtSecret).toBe(` ${'s'.repeat(31)}`);
  });

  it('HOST, TRUST_PROXY and CORS_ORIGINS: what each entry is', () => {
    expect(bad({ HOST: 'http://0.0.0.0' })).toThrow('HOST: "http://0.0.0.0" is not a host');
    expect(loadConfig({ HOST: '::' }).host).toBe('::');
    expect(bad({ TRUST_PROXY: 'everyone' })).toThrow(
      /^Invalid configuration[\s\S]*TRUST_PROXY: invalid IP address: everyone; expected a hop count/,
    );
    expect(bad({ CORS_ORIGINS: 'a.example' })).toThrow(
      'CORS_ORIGINS: "a.example" is not an origin; expected origins (scheme://host[:port])',
    );
  });

  it('an identity provider whole or not at all', () => {
    expect(bad({ JWT_ISSUER: 'https://idp.example/' })).toThrow(
      'JWKS_URL: only JWT_ISSUER set; expected JWKS_URL, JWT_ISSUER and JWT_AUDIENCE together',
    );
    expect(bad({ JWKS_URL: 'https://idp.example/jwks', JWT_AUDIENCE: 'api' })).toThrow(
      /only JWKS_URL and JWT_AUDIENCE set/,
    );
  });

  it('every bad variable at once, empty meaning unset', () => {
    const error = catchError(bad({ PORT: 'x', SEED_DEMO: 'maybe', HOST: '' }));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message.split('\n')).toEqual([
      'Invalid configuration (environment or .env):',
      '  PORT: "x" is not an integer; expected a port from 0 to 65535 (0: any free port)',
      '  SEED_DEMO: "maybe" is not a boolean; expected true or false',
    ]);
    expect(loadConfig({ PORT: '', LOG_LEVEL: ' ' })).toMatchObject({
      port: 4000,
      logLevel: 'info',
    });
  });
});

describe('configuration at start-up: .env under the real environment', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'scopegraph-config-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('.env is read, and a variable set in the environment wins over it', async () => {
    writeFileSync(path.join(dir, '.env'), 'PORT=4321\nLOG_LEVEL=debug\n# SEED_DEMO=false\n');
    const { code, stdout, stderr } = await run('test/support/print-config.ts', dir, {
      LOG_LEVEL: 'warn',
    });
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(stdout)).toMatchObject({ port: 4321, logLevel: 'warn', seedDemo: true });
  });

  it('no .env: the defaults', async () => {
    const { code, stdout } = await run('test/support/print-config.ts', dir);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ port: 4000, logLevel: 'info' });
  });

  it('a bad value stops the server with exit code 1 and the message, before anything else', async () => {
    writeFileSync(path.join(dir, '.env'), 'PORT=80a\n');
    const { code, stdout, stderr } = await run('src/server.ts', dir);
    expect(code).toBe(1);
    expect(stderr).toBe(
      'Invalid configuration (environment or .env):\n' +
        '  PORT: "80a" is not an integer; expected a port from 0 to 65535 (0: any free port)\n',
    );
    expect(stdout).toBe('');
    // No database opened, no development secret generated.
    expect(existsSync(path.join(dir, '.data'))).toBe(false);
  });
});

describe('the documented variables are exactly the ones the configuration reads', () => {
  const documented = (names: Iterable<string>) => [...new Set(names)].sort();

  it("the README's configuration table", () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8').split('\n');
    const start = readme.findIndex((line) => /^\| variable\s*\|/.test(line));
    expect(start).toBeGreaterThan(0);
    const rows = readme.slice(start + 2);
    const table = rows.slice(
      0,
      rows.findIndex((line) => !line.startsWith('|')),
    );
    const names = table.flatMap((row) =>
      [...(row.split('|')[1] ?? '').matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((m) => m[1] ?? ''),
    );
    expect(documented(names)).toEqual(documented(CONFIG_VARIABLES));
  });

  it('.env.example, each with its default', () => {
    const example = readFileSync(path.join(ROOT, '.env.example'), 'utf8');
    const names = [...example.matchAll(/^#? ?([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1] ?? '');
    expect(documented(names)).toEqual(documented(CONFIG_VARIABLES));
    // What .env.example shows passes the check (secrets are left empty: generated in development).
    const shown = Object.fromEntries(
      [...example.matchAll(/^#? ?([A-Z][A-Z0-9_]*)=(.*)$/gm)].map((m) => [m[1], m[2]]),
    );
    expect(() => loadConfig(shown)).not.toThrow();
  });
});

function catchError(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a throw');
}
