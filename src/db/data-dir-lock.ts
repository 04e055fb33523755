import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';

/**
 * One process per embedded data directory: two PGlite instances on one directory do not see each
 * other's writes and can corrupt it. The lock is a file beside the directory, created with
 * O_EXCL (`wx`) and holding the owner's pid and start time. A lock whose pid is not running (a
 * crash, a kill -9), or runs a process that started after the lock's owner (the pid was reused:
 * on Linux the kernel's start time of the pid, in /proc, is kept in the lock), is stale and
 * taken over. Two processes taking over one stale lock at once cannot both win: the takeover
 * runs under a second O_EXCL file (`<lock>.takeover`), and the lock is checked again under it.
 * A plain file rather than proper-lockfile: that
 * library's locks go stale by mtime (a running owner must keep touching it) and record no owner,
 * so it could neither name the other process nor tell a dead owner at once.
 */
export type LockOwner = Readonly<{
  pid: number;
  startedAt: string;
  host: string;
  /** The kernel's start time of the pid (Linux, /proc/<pid>/stat), to tell a reused pid. */
  startTicks?: string;
}>;

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
  const owner: { -readonly [K in keyof LockOwner]: LockOwner[K] } = {
    pid: process.pid,
    startedAt: new Date(Date.now() - process.uptime() * 1000).toISOString(),
    host: hostname(),
  };
  const startTicks = startTicksOf(process.pid);
  if (startTicks) Object.assign(owner, { startTicks });
  if (!createLock(file, owner)) takeOver(file, owner);
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

/** Creates the lock file holding `owner`; false if it exists. */
function createLock(file: string, owner: LockOwner): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'wx');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    writeSync(fd, `${JSON.stringify(owner)}\n`);
  } finally {
    closeSync(fd);
  }
  return true;
}

/**
 * A takeover file left by a process that died in the microseconds between creating and
 * removing it: after this long it no longer stops anyone.
 */
const TAKEOVER_STALE_MS = 10_000;

/** Takes the lock from a stale owner, or throws DataDirLocked naming the live one. */
function takeOver(file: string, owner: LockOwner): void {
  const guard = `${file}.takeover`;
  if (!createLock(guard, owner)) {
    const age = Date.now() - mtimeOf(guard);
    // Another process is taking it over right now: it, not this one, gets the lock.
    if (age < TAKEOVER_STALE_MS) throw new DataDirLocked(file, readOwner(guard) ?? owner);
    unlinkSync(guard);
    if (!createLock(guard, owner)) throw new DataDirLocked(file, readOwner(guard) ?? owner);
  }
  try {
    // Checked again under the guard: another process may have taken it over just before.
    const current = readOwner(file);
    if (current && isRunning(current, file)) throw new DataDirLocked(file, current);
    try {
      unlinkSync(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (!createLock(file, owner)) throw new DataDirLocked(file, readOwner(file) ?? owner);
  } finally {
    unlinkSync(guard);
  }
}

function mtimeOf(file: string): number {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

function readOwner(file: string): LockOwner | null {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<LockOwner>;
    if (!Number.isInteger(parsed.pid)) return null;
    return {
      pid: Number(parsed.pid),
      startedAt: String(parsed.startedAt),
      host: String(parsed.host),
      ...(typeof parsed.startTicks === 'string' ? { startTicks: parsed.startTicks } : {}),
    };
  } catch {
    // Unreadable or half-written (a crash between create and write): no owner to honour.
    return null;
  }
}

function isRunning(owner: LockOwner, file: string): boolean {
  const { pid } = owner;
  // Our own pid: held by this process, or left by an earlier process that had the same pid
  // (a container's pid 1 after a restart).
  if (pid === process.pid) return held.has(file);
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  // Running: the lock's owner, unless that pid now belongs to a process that started later.
  const now = startTicksOf(pid);
  return !owner.startTicks || !now || now === owner.startTicks;
}

/**
 * The kernel's start time of `pid` (field 22 of /proc/<pid>/stat, clock ticks since boot), or
 * null where there is no /proc. The fields are counted after the command name's closing
 * parenthesis: the name itself may hold spaces and parentheses.
 */
function startTicksOf(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}
