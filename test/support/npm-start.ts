import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** `npm start`, the command the README documents, as a test starts it. */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BOOT_TIMEOUT = 90_000;

export type NpmStart = Readonly<{
  /** The npm process, in a process group of its own (its pid is the group's id). */
  child: ChildProcess;
  /** The GraphQL URL from the ready line. */
  ready: Promise<string>;
  /** Settles when npm exits: its exit code, or the signal that ended it. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Every stdout/stderr line, for the failure messages. */
  output: string[];
  /** Log entries (JSON lines) so far. */
  entries: () => Record<string, unknown>[];
}>;

/** `cwd`: another checkout (the build test starts a copy of the repository). */
export function npmStart(env: Readonly<Record<string, string>>, cwd = ROOT): NpmStart {
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: '0',
    // vitest sets NODE_ENV=test, under which the app logs nothing (no ready line to wait for).
    NODE_ENV: 'development',
    LOG_LEVEL: 'info',
  };
  // Whatever the outer shell points at must not reach the app: embedded database, own secret.
  for (const name of ['DATABASE_URL', 'JWT_SECRET', 'JWKS_URL', 'SEED_DEMO', 'REDIS_URL']) {
    delete childEnv[name];
  }
  Object.assign(childEnv, env);
  const child = spawn('npm', ['run', 'start', '--silent'], {
    cwd,
    env: childEnv,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const parsed: Record<string, unknown>[] = [];
  let buffered = { stdout: '', stderr: '' };
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let onLine: (entry: Record<string, unknown>) => void = () => {};
  for (const stream of ['stdout', 'stderr'] as const) {
    child[stream]?.on('data', (chunk: Buffer) => {
      const text = buffered[stream] + chunk.toString('utf8');
      const lines = text.split('\n');
      buffered = { ...buffered, [stream]: lines.pop() ?? '' };
      for (const line of lines) {
        output.push(line);
        const entry = parseLogLine(line);
        if (entry) {
          parsed.push(entry);
          onLine(entry);
        }
      }
    });
  }
  const ready = new Promise<string>((resolve, reject) => {
    const fail = (why: string) =>
      reject(new Error(`${why}; server output:\n${output.slice(-40).join('\n')}`));
    const timer = setTimeout(() => fail(`not ready within ${BOOT_TIMEOUT} ms`), BOOT_TIMEOUT);
    child.once('error', (error) => fail(`could not spawn npm: ${error.message}`));
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      fail(`exited before ready (${signal ?? code})`);
    });
    onLine = (entry) => {
      if (entry.msg === 'scopegraph is ready' && typeof entry.url === 'string') {
        clearTimeout(timer);
        resolve(entry.url);
      }
    };
  });
  return { child, ready, exited, output, entries: () => [...parsed] };
}

function parseLogLine(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function waitForGroupExit(pgid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (groupAlive(pgid)) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return true;
}

/** For clean-up: SIGKILL to whatever is left of the group. */
export function killGroup(pgid: number | undefined): void {
  if (pgid !== undefined && groupAlive(pgid)) process.kill(-pgid, 'SIGKILL');
}
