import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';

/**
 * One process per embedded data directory: two PGlite instances on one directory do not see each
 * other's writes and can corrupt it. The lock is a file beside the directory, created with
 * O_EXCL (`wx`) and holding the owner's pid and start time. A lock whose pid is not running (a
 * crash, a kill -9) is stale and taken over. A plain file rather than proper-lockfile: that
 * library's locks go stale by mtime (a running owner must keep touching it) and record no owner,
 * so it could neither name the other process nor tell a dead owner at once.
 */
export type LockOwner = Readonly<{ pid: number; startedAt: string; host: string }>;

export class DataDirLocked extends Error {
  constructor(
    readonly lockFile: string,
    readonly owner: LockOwner,
  ) {
    super(
      `Data directory is in use by another scopegraph process (pid ${owner.pid} on ${owner.host}, ` +
        `started ${owner.startedAt}); lock file ${lockFile}. Stop that process, or set DATA_DIR to ` +
        'another directory. If that pid is not scopegraph, delete the lock file.',
    );
    this.name = 'DataDirLocked';
  }
}

/** Locks this process holds: the same pid in a lock file is only stale if not among them. */
const held = new Set<string>();

export type DataDirLock = Readonly<{ file: string; release: () => void }>;

export function lockDataDir(dataDir: string): DataDirLock {
  const file = `${dataDir}.lock`;
  const owner: LockOwner = {
    pid: process.pid,
    startedAt: new Date(Date.now() - process.uptime() * 1000).toISOString(),
    host: hostname(),
  };
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      try {
        writeSync(fd, `${JSON.stringify(owner)}\n`);
      } finally {
        closeSync(fd);
      }
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const current = readOwner(file);
      if (current && (attempt > 0 || isRunning(current.pid, file))) {
        throw new DataDirLocked(file, current);
      }
      if (attempt > 0) throw error;
      // Stale: its owner is gone. Removed once; a second EEXIST means another process took it.
      unlinkSync(file);
    }
  }
  held.add(file);
  let released = false;
  return Object.freeze({
    file,
    release: () => {
      if (released) return;
      released = true;
      held.delete(file);
      try {
        unlinkSync(file);
      } catch {
        // Already gone: nothing to release.
      }
    },
  });
}

function readOwner(file: string): LockOwner | null {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<LockOwner>;
    if (!Number.isInteger(parsed.pid)) return null;
    return {
      pid: Number(parsed.pid),
      startedAt: String(parsed.startedAt),
      host: String(parsed.host),
    };
  } catch {
    // Unreadable or half-written (a crash between create and write): no owner to honour.
    return null;
  }
}

function isRunning(pid: number, file: string): boolean {
  // Our own pid: held by this process, or left by an earlier process that had the same pid
  // (a container's pid 1 after a restart).
  if (pid === process.pid) return held.has(file);
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
