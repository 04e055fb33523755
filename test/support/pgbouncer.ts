import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, chownSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort, isRoot, postgresUser } from './processes.ts';

/**
 * A PgBouncer of the test's own, in front of the PostgreSQL server a test already uses: a
 * generated ini and auth file in a temp dir, a free loopback port, no unix socket, run in the
 * foreground as a child process so that stopping it is killing our own pid.
 */
export type PgBouncer = Readonly<{
  port: number;
  /** `databaseUrl` (a database on the server) with PgBouncer's host and port instead. */
  through: (databaseUrl: string) => string;
  /** The last lines PgBouncer logged, for failure messages. */
  log: () => string;
  /** Stops it (SIGTERM, then SIGKILL) and deletes its directory; safe to call twice. */
  stop: () => Promise<void>;
}>;

export type PgBouncerOptions = Readonly<{
  /** The server, as in TEST_DATABASE_URL: PgBouncer logs in as its user, to its host and port. */
  serverUrl: string;
  poolMode?: 'session' | 'transaction' | 'statement';
  /** Server connections per database and user. */
  poolSize?: number;
  maxClientConnections?: number;
}>;

const BIN = process.env.PGBOUNCER_BIN ?? '/usr/sbin/pgbouncer';

/** Why PgBouncer cannot run here, or null when it can. */
export function pgbouncerUnavailableReason(): string | null {
  try {
    accessSync(BIN, constants.X_OK);
  } catch {
    return `PgBouncer is not installed (no ${BIN}; apt-get install -y pgbouncer, or set PGBOUNCER_BIN)`;
  }
  if (isRoot() && postgresUser() === null) {
    return 'running as root and there is no postgres user for PgBouncer to run as';
  }
  return null;
}

export async function startPgBouncer(options: PgBouncerOptions): Promise<PgBouncer> {
  const server = new URL(options.serverUrl);
  const user = decodeURIComponent(server.username || 'postgres');
  const dir = mkdtempSync(path.join(tmpdir(), 'scopegraph-pgbouncer-'));
  const port = await freePort();
  const ini = path.join(dir, 'pgbouncer.ini');
  const users = path.join(dir, 'users.txt');
  // server_reset_query is empty and never forced: a server connection goes to the next client
  // exactly as the last one left it, which is what the isolation checks need to observe.
  writeFileSync(
    ini,
    [
      '[databases]',
      // Any database name a client asks for goes to the same database on the server.
      `* = host=${server.hostname || '127.0.0.1'} port=${server.port || '5432'}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${users}`,
      `pool_mode = ${options.poolMode ?? 'transaction'}`,
      `default_pool_size = ${options.poolSize ?? 5}`,
      'min_pool_size = 0',
      'reserve_pool_size = 0',
      `max_client_conn = ${options.maxClientConnections ?? 500}`,
      'server_reset_query =',
      'server_reset_query_always = 0',
      'server_check_delay = 0',
      'ignore_startup_parameters = extra_float_digits,options',
      'logfile =',
      'pidfile =',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  // Trust on loopback: the auth file only has to name the user. Its password (if the URL has
  // one) is what PgBouncer logs in to the server with.
  const quoted = (value: string) => `"${value.replaceAll('"', '""')}"`;
  writeFileSync(users, `${quoted(user)} ${quoted(decodeURIComponent(server.password))}\n`, {
    mode: 0o600,
  });

  // PgBouncer refuses to run as root; as root it switches to the postgres user itself (-u)
  // after reading its files, so the directory must be that user's too.
  const runAs = isRoot() ? postgresUser() : null;
  if (runAs) {
    for (const file of [dir, ini, users]) chownSync(file, runAs.uid, runAs.gid);
  }
  const args = runAs ? ['-u', 'postgres', ini] : [ini];
  const lines: string[] = [];
  const child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const collect = (chunk: Buffer) => {
    lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    lines.splice(0, Math.max(0, lines.length - 50));
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Should the worker exit without running afterAll, PgBouncer must not outlive it.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const log = () => lines.slice(-20).join('\n');

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    process.removeListener('exit', killOnExit);
    try {
      await terminate(child, exited);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  const through = (databaseUrl: string) => {
    const url = new URL(databaseUrl);
    url.hostname = '127.0.0.1';
    url.port = String(port);
    return url.toString();
  };

  try {
    await waitUntilReady(through(options.serverUrl), child, log);
  } catch (error) {
    await stop();
    throw error;
  }
  return Object.freeze({ port, through, log, stop });
}

/** Polls with a real login and query until PgBouncer answers (it needs the server too). */
async function waitUntilReady(url: string, child: ChildProcess, log: () => string) {
  const deadline = Date.now() + 15_000;
  let last: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`PgBouncer exited (${child.exitCode ?? child.signalCode}):\n${log()}`);
    }
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return;
    } catch (error) {
      last = error;
    } finally {
      await client.end().catch(() => {});
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`PgBouncer did not accept connections: ${String(last)}\n${log()}`);
}

/** SIGTERM is PgBouncer's immediate shutdown; SIGKILL if it has not gone within 5 s. */
async function terminate(child: ChildProcess, exited: Promise<void>) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(resolve, 5_000, 'timeout');
  });
  try {
    if ((await Promise.race([exited, timeout])) === 'timeout') {
      child.kill('SIGKILL');
      await exited;
    }
  } finally {
    clearTimeout(timer);
  }
}
