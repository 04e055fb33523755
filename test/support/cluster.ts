import { execFile, execFileSync } from 'node:child_process';
import {
  accessSync,
  chownSync,
  constants,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort, isRoot, postgresUser } from './processes.ts';

/**
 * A throw-away PostgreSQL cluster of the test's own (initdb into a temp dir, trust auth, a free
 * loopback port, its socket in the temp dir), so a test can stop and start a server without
 * going anywhere near the shared one on 5432. Everything goes through `pg_ctl -D <our dir>`:
 * nothing here can address another cluster.
 */
export type Cluster = Readonly<{
  url: string;
  port: number;
  /** `pg_ctl stop -m fast`: sessions are terminated, the port closes. */
  stop: () => Promise<void>;
  start: () => Promise<void>;
  /**
   * SIGSTOP to the postmaster: the port still accepts TCP connections (the kernel does that) but
   * no new session ever starts, like a hung or overloaded server. Open sessions are processes of
   * their own and keep working. `thaw()` sends SIGCONT.
   */
  freeze: () => void;
  thaw: () => void;
  /** Stops the server if it runs and deletes the directory; safe to call twice. */
  destroy: () => Promise<void>;
}>;

const BIN = process.env.PG_BIN_DIR ?? '/usr/lib/postgresql/15/bin';
const RUNUSER = '/usr/sbin/runuser';
const run = promisify(execFile);

/** Why a cluster cannot be made on this machine, or null when it can. */
export function clusterUnavailableReason(): string | null {
  for (const tool of ['initdb', 'pg_ctl', 'postgres']) {
    try {
      accessSync(path.join(BIN, tool), constants.X_OK);
    } catch {
      return `no PostgreSQL binaries in ${BIN} (set PG_BIN_DIR)`;
    }
  }
  if (!isRoot()) return null;
  // initdb refuses to run as root: as root, everything runs as the postgres user.
  try {
    accessSync(RUNUSER, constants.X_OK);
  } catch {
    return `running as root and ${RUNUSER} is missing (initdb refuses root)`;
  }
  if (postgresUser() === null) return 'running as root and there is no postgres user';
  return null;
}

export async function createCluster(): Promise<Cluster> {
  const dir = mkdtempSync(path.join(tmpdir(), 'scopegraph-cluster-'));
  const data = path.join(dir, 'data');
  const log = path.join(dir, 'server.log');
  const user = isRoot() ? postgresUser() : null;
  if (user) chownSync(dir, user.uid, user.gid);
  let frozen = false;
  let destroyed = false;

  // As root, every tool runs as the postgres user (initdb refuses root; the data is theirs).
  const command = (tool: string, args: string[]): [string, string[]] =>
    user
      ? [RUNUSER, ['-u', 'postgres', '--', path.join(BIN, tool), ...args]]
      : [path.join(BIN, tool), args];
  const pg = async (tool: string, args: string[]) => {
    try {
      await run(...command(tool, args), { timeout: 30_000 });
    } catch (error) {
      throw new Error(`${tool} failed: ${String(error)}\n${tail(log)}`);
    }
  };
  // Whether a server runs on our directory, by its own account (survives a failed pg_ctl).
  const running = () => existsSync(path.join(data, 'postmaster.pid'));
  const postmaster = () => {
    const pid = Number(readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    if (!Number.isInteger(pid) || pid <= 0) throw new Error('no postmaster.pid');
    return pid;
  };
  const thaw = () => {
    if (!frozen) return;
    process.kill(postmaster(), 'SIGCONT');
    frozen = false;
  };
  // A worker that exits without running afterAll (a crash, a timeout) must not leave a server
  // behind: the last chance, synchronous as exit handlers must be.
  const onExit = () => {
    if (destroyed) return;
    try {
      if (frozen) process.kill(postmaster(), 'SIGCONT');
      if (running()) execFileSync(...command('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']));
    } catch {
      // Nothing more can be done while exiting.
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  const destroy = async () => {
    if (destroyed) return;
    process.off('exit', onExit);
    destroyed = true;
    try {
      // A stopped postmaster would not act on pg_ctl's signal: pg_ctl would wait out its timeout.
      thaw();
      // Immediate: nothing to keep, and a hung test must not wait for its sessions.
      if (running()) await pg('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  try {
    // No fsync: the cluster dies with the test, and a clean stop still writes everything out.
    await pg('initdb', [
      ...['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C'],
      ...['--no-sync', '--no-instructions'],
    ]);
    const port = await freePort();
    const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
    const start = async () => {
      await pg('pg_ctl', ['-D', data, '-l', log, '-o', options, '-w', '-t', '30', 'start']);
    };
    const stop = async () => {
      await pg('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '30', 'stop']);
    };
    await start();
    return Object.freeze({
      url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
      port,
      start,
      stop,
      freeze: () => {
        process.kill(postmaster(), 'SIGSTOP');
        frozen = true;
      },
      thaw,
      destroy,
    });
  } catch (error) {
    await destroy();
    throw error;
  }
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-20).join('\n');
  } catch {
    return '(no server log)';
  }
}
