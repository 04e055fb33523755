import { execFileSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { killGroup, npmStart, waitForGroupExit } from '../support/npm-start.ts';

/**
 * `npm start` runs the built JavaScript with plain node, building dist/ first when it is missing
 * (scripts/start.sh); a new data directory starts from the prepared template. In a copy of the
 * repository (node_modules linked): removing this checkout's dist/ would pull it from under the
 * other tests that start the server meanwhile.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dataRoot = mkdtempSync(path.join(tmpdir(), 'scopegraph-build-'));
const checkout = path.join(dataRoot, 'checkout');
afterAll(() => rmSync(dataRoot, { recursive: true, force: true }));

/** The files a build and a start read, copied; node_modules linked, dist/ absent. */
function copyCheckout(): void {
  mkdirSync(checkout);
  for (const name of [
    'src',
    'scripts',
    'prisma',
    'package.json',
    'prisma.config.ts',
    'tsconfig.json',
    'tsconfig.build.json',
  ]) {
    cpSync(path.join(ROOT, name), path.join(checkout, name), { recursive: true });
  }
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(checkout, 'node_modules'));
}

/** The command line of the process npm started (scripts/start.sh execs into it). */
function serverCommand(npmPid: number): string {
  const pids = execFileSync('ps', ['-o', 'pid=', '--ppid', String(npmPid)], { encoding: 'utf8' })
    .trim()
    .split(/\s+/);
  return pids
    .map((pid) => execFileSync('ps', ['-o', 'args=', '-p', pid], { encoding: 'utf8' }).trim())
    .join('\n');
}

describe('npm start in production', () => {
  it('builds dist/ when it is missing, then runs dist/server.js with node', {
    timeout: 240_000,
  }, async () => {
    copyCheckout();
    expect(existsSync(path.join(checkout, 'dist'))).toBe(false);
    const server = npmStart(
      {
        NODE_ENV: 'production',
        JWT_SECRET: 'a-production-secret-of-at-least-32-chars',
        DATA_DIR: path.join(dataRoot, 'data'),
        HOST: '127.0.0.1',
      },
      checkout,
    );
    const pgid = server.child.pid as number;
    try {
      const url = await server.ready;
      const command = serverCommand(pgid);
      // scripts/node-flags, the production flags (GC settings measured by the bench).
      const flags = readFileSync(path.join(checkout, 'scripts', 'node-flags'), 'utf8')
        .split('\n')
        .filter((line) => line.trim() && !line.startsWith('#'));
      expect(flags.length).toBeGreaterThan(0);
      expect(command.split('\n')).toContain(['node', ...flags, 'dist/server.js'].join(' '));
      expect(command).not.toContain('tsx');
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ __typename }' }),
      });
      expect(await response.json()).toEqual({ data: { __typename: 'Query' } });
      expect(server.entries().find((e) => e.msg === 'database opened')).toMatchObject({
        origin: 'template',
      });
      process.kill(-pgid, 'SIGTERM');
      expect(await server.exited).toEqual({ code: 0, signal: null });
    } finally {
      await waitForGroupExit(pgid, 5_000);
      killGroup(pgid);
    }
  });

  it('in development too, with source maps; an up-to-date dist/ is not built again', {
    timeout: 120_000,
  }, async () => {
    const server = npmStart({ DATA_DIR: path.join(dataRoot, 'data-dev') }, checkout);
    const pgid = server.child.pid as number;
    try {
      await server.ready;
      expect(serverCommand(pgid)).toMatch(/^node --enable-source-maps dist\/server\.js$/m);
      expect(server.output.join('\n')).not.toContain('npm run build');
      process.kill(-pgid, 'SIGTERM');
      expect(await server.exited).toEqual({ code: 0, signal: null });
    } finally {
      await waitForGroupExit(pgid, 5_000);
      killGroup(pgid);
    }
  });
});
