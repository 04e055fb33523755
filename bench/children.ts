// The contenders' servers as child processes: their own event loops (not autocannon's), their own
// RSS, and no orphans — they stop on SIGTERM, and by themselves when the runner's IPC channel
// closes (even if the runner was SIGKILLed).
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Contender } from './options.ts';
import type { ServerStats } from './servers/common.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SERVERS = fileURLToPath(new URL('./servers/', import.meta.url));

export type ServerSettings = Readonly<{
  databaseUrl: string;
  jwtSecret: string;
  poolSize: number;
  logLevel: string;
  logDir: string;
  /** The checkout the `baseline` contender runs from (--baseline). */
  baselineDir: string | null;
  /** The same data on a Citus coordinator, for `scopegraph-citus` (--citus). */
  citusDatabaseUrl: string | null;
}>;

export type Child = Readonly<{
  name: Contender;
  pid: number;
  url: string;
  logFile: string;
  stats: () => Promise<ServerStats>;
  /** Sends one request's worth of SQL tracing: start, then stop returns the statements. */
  traceStart: () => Promise<void>;
  traceStop: () => Promise<string[]>;
  /** From /proc/<pid>/status, in bytes: the resident set now and its peak. */
  memory: () => { rss: number; peak: number };
  stop: () => Promise<void>;
}>;

const live = new Set<ChildProcess>();

/** Contenders that run another's server: raw's SQL sent in a transaction, a V8 flag. */
const SAME_SERVER: Partial<Record<Contender, Contender>> = {
  'raw-tx': 'raw',
  'scopegraph-semi32': 'scopegraph',
  'scopegraph-semi64': 'scopegraph',
  'scopegraph-ordinary': 'scopegraph',
  'scopegraph-citus': 'scopegraph',
  baseline: 'scopegraph',
};
/**
 * V8's young generation with 32 or 64 MB semi-spaces, and no other flag: measured against
 * `scopegraph` (which runs with the production flags) in the same run.
 */
const NODE_FLAGS: Partial<Record<Contender, string[]>> = {
  'scopegraph-semi32': ['--max-semi-space-size=32'],
  'scopegraph-semi64': ['--max-semi-space-size=64'],
};

/** `npm start`'s production flags (scripts/node-flags): scopegraph as shipped, and its kin. */
const PRODUCTION_FLAGS = readFileSync(path.join(ROOT, 'scripts', 'node-flags'), 'utf8')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line && !line.startsWith('#'));
const SHIPPED: readonly Contender[] = [
  'scopegraph',
  'scopegraph-ordinary',
  'scopegraph-citus',
  'unscoped',
  'baseline',
];

type ChildMessage = { type: 'ready'; port: number } | { type: 'failed'; message: string };

export async function startServer(name: Contender, settings: ServerSettings): Promise<Child> {
  const logFile = path.join(settings.logDir, `${name}-${Date.now()}.log`);
  const log = openSync(logFile, 'a');
  // The baseline contender: the same server file, of another checkout, run from there.
  const root = name === 'baseline' ? path.resolve(settings.baselineDir ?? ROOT) : ROOT;
  const entry = path.join(
    name === 'baseline' ? path.join(root, 'bench', 'servers') : SERVERS,
    `${SAME_SERVER[name] ?? name}.ts`,
  );
  // process.execPath is the Node 24 that npm put on PATH; `--import tsx` runs TypeScript in this
  // very process (the tsx CLI would add a parent process and hide the server's RSS behind it).
  const child = spawn(
    process.execPath,
    [
      ...(process.env.BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? []),
      ...(SHIPPED.includes(name) ? PRODUCTION_FLAGS : []),
      ...(NODE_FLAGS[name] ?? []),
      '--import',
      'tsx',
      entry,
    ],
    {
      cwd: root,
      env: {
        ...process.env,
        NODE_ENV: 'production',
        GRAPHILE_ENV: 'production',
        DATABASE_URL:
          name === 'scopegraph-citus' ? (settings.citusDatabaseUrl ?? '') : settings.databaseUrl,
        JWT_SECRET: settings.jwtSecret,
        POOL_SIZE: String(settings.poolSize),
        LOG_LEVEL: settings.logLevel,
        RAW_MODE: name === 'raw-tx' ? 'tx' : 'single',
        // scopegraph with every document on graphql-js's ordinary execution (src/execution/).
        COMPILED_EXECUTION: name === 'scopegraph-ordinary' ? 'off' : 'on',
      },
      stdio: ['ignore', log, log, 'ipc'],
    },
  );
  closeSync(log);
  live.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => live.delete(child));

  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 90 s`)), 90_000);
    child.on('message', (message: ChildMessage) => {
      if (message.type === 'ready') {
        clearTimeout(timer);
        resolve(message.port);
      } else if (message.type === 'failed') {
        clearTimeout(timer);
        reject(new Error(`${name} failed to start: ${message.message}`));
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited during start-up (${code ?? signal}):\n${tail(logFile)}`));
    });
  }).catch(async (error: unknown) => {
    await stopChild(child, exited);
    throw error;
  });

  const base = `http://127.0.0.1:${port}`;
  const pid = child.pid ?? 0;
  const call = async <T>(route: string, method = 'GET'): Promise<T> => {
    const response = await fetch(`${base}/__bench/${route}`, { method });
    if (!response.ok) throw new Error(`${name} ${route}: HTTP ${response.status}`);
    return (await response.json()) as T;
  };
  return Object.freeze({
    name,
    pid,
    url: `${base}/graphql`,
    logFile,
    stats: () => call<ServerStats>('stats'),
    traceStart: async () => {
      await call('trace/start', 'POST');
    },
    traceStop: async () => (await call<{ sql: string[] }>('trace/stop', 'POST')).sql,
    memory: () => memoryOf(pid),
    stop: () => stopChild(child, exited),
  });
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const killed = setTimeout(() => child.kill('SIGKILL'), 8_000);
  await exited;
  clearTimeout(killed);
}

/** Every server still running (on failure, Ctrl-C, or at the end). */
export async function stopAllServers(): Promise<void> {
  await Promise.all(
    [...live].map((child) => {
      const exited = new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) resolve();
        else child.once('exit', () => resolve());
      });
      return stopChild(child, exited);
    }),
  );
}

function memoryOf(pid: number): { rss: number; peak: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) =>
      Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
    return { rss: kb('VmRSS') * 1024, peak: kb('VmHWM') * 1024 };
  } catch {
    return { rss: 0, peak: 0 };
  }
}

export function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
