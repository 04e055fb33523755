import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DataDirLocked, lockDataDir } from '../../src/db/data-dir-lock.ts';
import { openDatabase } from '../../src/db/database.ts';
import { killGroup, npmStart } from '../support/npm-start.ts';

const root = mkdtempSync(path.join(tmpdir(), 'scopegraph-lock-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const ownerOf = (lockFile: string) =>
  JSON.parse(readFileSync(lockFile, 'utf8')) as { pid: number; startedAt: string };

/** A process that is running, for as long as the test needs it. */
function liveProcess() {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  return { pid: child.pid as number, stop: () => child.kill('SIGKILL') };
}

/** A pid that no process has now. */
const deadPid = () => spawnSync('true').pid as number;

function writeLock(lockFile: string, pid: number, extra: Record<string, unknown> = {}) {
  writeFileSync(
    lockFile,
    JSON.stringify({ pid, startedAt: '2026-01-01T00:00:00.000Z', host: 'h', ...extra }),
  );
}

/** The kernel's start time of a pid, as the lock records it (Linux). */
function startTicks(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] as string;
}
const hasProc = existsSync('/proc/self/stat');

describe('one process per data directory', () => {
  it('refuses a second open of one directory, naming the holder; open again once closed', async () => {
    const dataDir = path.join(root, 'twice');
    const first = await openDatabase({ dataDir });
    try {
      const second = openDatabase({ dataDir });
      await expect(second).rejects.toBeInstanceOf(DataDirLocked);
      await expect(second).rejects.toThrow(`pid ${process.pid}`);
    } finally {
      await first.close();
    }
    const again = await openDatabase({ dataDir });
    await again.close();
  });

  it('refuses a lock another running process holds, takes it over once that process is gone', () => {
    const dataDir = path.join(root, 'other');
    const other = liveProcess();
    try {
      writeLock(`${dataDir}.lock`, other.pid);
      expect(() => lockDataDir(dataDir)).toThrow(
        new RegExp(`in use by another scopegraph process \\(pid ${other.pid} .*started 2026-01-01`),
      );
      expect(ownerOf(`${dataDir}.lock`).pid).toBe(other.pid);
    } finally {
      other.stop();
    }
  });

  it('takes over a stale lock (its pid is not running)', () => {
    const dataDir = path.join(root, 'stale');
    writeLock(`${dataDir}.lock`, deadPid());
    const lock = lockDataDir(dataDir);
    expect(ownerOf(lock.file).pid).toBe(process.pid);
    lock.release();
    expect(() => readFileSync(lock.file)).toThrow(/ENOENT/);
  });

  it.runIf(hasProc)('a reused pid: the lock of a process that started earlier is stale', () => {
    const dataDir = path.join(root, 'reused');
    const other = liveProcess();
    try {
      // Its own start time: the lock is that process's, and holds.
      writeLock(`${dataDir}.lock`, other.pid, { startTicks: startTicks(other.pid) });
      expect(() => lockDataDir(dataDir)).toThrow(DataDirLocked);
      // Another start time: the pid now belongs to a later process, and the lock is stale.
      writeLock(`${dataDir}.lock`, other.pid, { startTicks: '1' });
      const lock = lockDataDir(dataDir);
      expect(ownerOf(lock.file)).toMatchObject({
        pid: process.pid,
        startTicks: startTicks(process.pid),
      });
      lock.release();
    } finally {
      other.stop();
    }
  });

  it('a stale lock another process is taking over right now is left to it', () => {
    const dataDir = path.join(root, 'racing');
    writeLock(`${dataDir}.lock`, deadPid());
    const other = liveProcess();
    try {
      writeLock(`${dataDir}.lock.takeover`, other.pid);
      expect(() => lockDataDir(dataDir)).toThrow(DataDirLocked);
      // That process finished (it removes the takeover file): the stale lock is taken over.
      rmSync(`${dataDir}.lock.takeover`);
      const lock = lockDataDir(dataDir);
      expect(ownerOf(lock.file).pid).toBe(process.pid);
      lock.release();
      expect(existsSync(`${dataDir}.lock.takeover`)).toBe(false);
    } finally {
      other.stop();
    }
  });

  it('a second npm start on a locked directory exits non-zero with the message', {
    timeout: 90_000,
  }, async () => {
    const dataDir = path.join(root, 'server');
    mkdirSync(dataDir, { recursive: true });
    const other = liveProcess();
    writeLock(path.join(dataDir, 'pglite.lock'), other.pid);
    const server = npmStart({ DATA_DIR: dataDir });
    try {
      server.ready.catch(() => {});
      // Bounded, so that a server that starts anyway fails here and is stopped below.
      const exit = await Promise.race([
        server.exited,
        new Promise<'still running'>((resolve) =>
          setTimeout(() => resolve('still running'), 45_000),
        ),
      ]);
      expect(exit).not.toBe('still running');
      expect(exit).not.toMatchObject({ code: 0 });
      expect(server.output.join('\n')).toContain(
        `Data directory is in use by another scopegraph process (pid ${other.pid}`,
      );
    } finally {
      killGroup(server.child.pid);
      other.stop();
    }
  });
});
