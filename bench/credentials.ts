// `npm run bench:credentials`: does a flood of bad sign-ins slow down signed-in members?
//
// Starts one server per hashing cap (bench/servers/credentials.ts: rate limits and lockout off,
// so every bad sign-in hashes; only the cap differs), all on one fresh database, and measures
// each side by side in alternating rounds: a signed-in member's `{ viewer { id } }` latency,
// idle and then while `--flood` concurrent clients send bad sign-ins, as p50/p99 and as a ratio
// of the idle ones. Writes bench/results/<date>-credentials.md.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createBenchDatabase, dropBenchDatabase, uniqueDatabaseName } from './seed.ts';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    seconds: { type: 'string' },
    rounds: { type: 'string' },
    members: { type: 'string', default: '4' },
    flood: { type: 'string', default: '16' },
    caps: { type: 'string', default: 'off,2,1' },
    help: { type: 'boolean', default: false },
  },
});

if (flags.help) {
  console.log(`npm run bench:credentials [-- options]
  --quick          2 s per measurement, 1 round (~1 min)
  --seconds N      seconds per measurement (default 8)
  --rounds N       alternating rounds (default 2)
  --members N      concurrent signed-in clients (default 4)
  --flood N        concurrent clients sending bad sign-ins (default 16)
  --caps LIST      hashing caps to compare, \`off\` = none (default off,2,1)
  DATABASE_URL     PostgreSQL server (default postgresql://postgres@127.0.0.1:5432/postgres)`);
  process.exit(0);
}

const SECONDS = Number(flags.seconds ?? (flags.quick ? 2 : 8));
const ROUNDS = Number(flags.rounds ?? (flags.quick ? 1 : 2));
const MEMBERS = Number(flags.members);
const FLOOD = Number(flags.flood);
const CAPS = (flags.caps ?? '').split(',').filter(Boolean);
const SERVER_URL = process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const JWT_SECRET = randomBytes(32).toString('base64url');

type Server = Readonly<{ cap: string; url: string; child: ChildProcess }>;

function startServer(cap: string, databaseUrl: string): Promise<Server> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/servers/credentials.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      NODE_ENV: 'production',
      DATABASE_URL: databaseUrl,
      JWT_SECRET,
      POOL_SIZE: '10',
      LOG_LEVEL: 'warn',
      HASH_CAP: cap,
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.on('message', (message: { type: string; port?: number; message?: string }) => {
      if (message.type === 'ready') {
        resolve({ cap, url: `http://127.0.0.1:${message.port}/graphql`, child });
      } else reject(new Error(`server (cap ${cap}) failed: ${message.message}`));
    });
    child.once('exit', (code) => reject(new Error(`server (cap ${cap}) exited (${code})`)));
  });
}

async function post(url: string, body: unknown, token?: string): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify(body),
  });
}

async function signUp(url: string): Promise<string> {
  const response = await post(url, {
    query: 'mutation($input: SignUpInput!) { signUp(input: $input) { token } }',
    variables: {
      input: {
        organizationName: 'Bench',
        organizationSlug: `bench-${randomBytes(4).toString('hex')}`,
        email: 'owner@example.com',
        password: 'correct-horse-9',
        name: 'Bench Owner',
      },
    },
  });
  const body = (await response.json()) as { data?: { signUp?: { token: string } } };
  const token = body.data?.signUp?.token;
  if (!token) throw new Error(`sign-up failed: ${JSON.stringify(body)}`);
  return token;
}

type Phase = Readonly<{ latencies: number[]; errors: number; signIns: Map<number, number> }>;

/** `MEMBERS` clients asking `{ viewer { id } }` back to back for `seconds`, with or without the flood. */
async function measure(server: Server, token: string, flood: boolean): Promise<Phase> {
  const latencies: number[] = [];
  const signIns = new Map<number, number>();
  let errors = 0;
  const until = performance.now() + SECONDS * 1000;
  let stop = false;
  const floods = flood
    ? Array.from({ length: FLOOD }, async (_, i) => {
        for (let n = 0; !stop; n++) {
          const response = await post(server.url, {
            query: 'mutation($input: SignInInput!) { signIn(input: $input) { token } }',
            variables: {
              input: {
                organizationSlug: 'nowhere',
                email: `x${i}-${n}@example.com`,
                password: 'guess-123',
              },
            },
          }).catch(() => null);
          await response?.arrayBuffer();
          const status = response?.status ?? 0;
          signIns.set(status, (signIns.get(status) ?? 0) + 1);
          // A refused (503 busy) sign-in comes back at once: a real attacker retries, and so do
          // these, after a breath, so that the flood stays a flood and not a busy loop.
          if (status === 503) await new Promise((resolve) => setTimeout(resolve, 20));
        }
      })
    : [];
  // Let the flood fill the pool before measuring.
  if (flood) await new Promise((resolve) => setTimeout(resolve, 500));
  const members = Array.from({ length: MEMBERS }, async () => {
    while (performance.now() < until) {
      const started = performance.now();
      const response = await post(server.url, { query: '{ viewer { id } }' }, token);
      const body = (await response.json()) as { data?: { viewer?: { id: string } } };
      if (!body.data?.viewer?.id) errors++;
      latencies.push(performance.now() - started);
    }
  });
  await Promise.all(members);
  stop = true;
  await Promise.all(floods);
  return { latencies, errors, signIns };
}

const percentile = (values: readonly number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
};

type Row = {
  cap: string;
  idle: number[];
  flood: number[];
  errors: number;
  signIns: Map<number, number>;
};

const name = uniqueDatabaseName();
const servers: Server[] = [];
let exitCode = 0;
try {
  const databaseUrl = await createBenchDatabase(SERVER_URL, name);
  for (const cap of CAPS) servers.push(await startServer(cap, databaseUrl));
  const first = servers[0];
  if (!first) throw new Error('no --caps');
  const token = await signUp(first.url);
  const rows = new Map<string, Row>(
    CAPS.map((cap) => [cap, { cap, idle: [], flood: [], errors: 0, signIns: new Map() }]),
  );
  // Warm-up: JIT, connections, caches.
  for (const server of servers) await measure(server, token, false);
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? servers : [...servers].reverse();
    for (const server of order) {
      const row = rows.get(server.cap) as Row;
      const idle = await measure(server, token, false);
      const flood = await measure(server, token, true);
      row.idle.push(...idle.latencies);
      row.flood.push(...flood.latencies);
      row.errors += idle.errors + flood.errors;
      for (const [status, n] of flood.signIns)
        row.signIns.set(status, (row.signIns.get(status) ?? 0) + n);
      console.error(`round ${round + 1}: cap ${server.cap} done`);
    }
  }
  const f = (ms: number) => ms.toFixed(1);
  const lines = [
    `# Credentials benchmark, ${new Date().toISOString().slice(0, 10)}`,
    '',
    `${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), Node ${process.version}, ` +
      `UV_THREADPOOL_SIZE ${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}; ${MEMBERS} signed-in clients, ` +
      `${FLOOD} flooding clients, ${SECONDS} s per measurement, ${ROUNDS} round(s). Rate limits and lockout off.`,
    '',
    '| hashing cap | idle p50 ms | idle p99 ms | flood p50 ms | flood p99 ms | p50 ratio | p99 ratio | viewer requests (idle / flood) | bad sign-ins answered (by status) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const row of rows.values()) {
    const [i50, i99, f50, f99] = [
      percentile(row.idle, 50),
      percentile(row.idle, 99),
      percentile(row.flood, 50),
      percentile(row.flood, 99),
    ];
    const statuses = [...row.signIns].map(([status, n]) => `${status}: ${n}`).join(', ');
    lines.push(
      `| ${row.cap} | ${f(i50)} | ${f(i99)} | ${f(f50)} | ${f(f99)} | ${(f50 / i50).toFixed(1)}× | ${(f99 / i99).toFixed(1)}× | ${row.idle.length} / ${row.flood.length} | ${statuses} |`,
    );
    if (row.errors > 0) exitCode = 1;
  }
  const report = `${lines.join('\n')}\n`;
  console.log(report);
  const dir = fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = `${dir}${new Date().toISOString().slice(0, 10)}-credentials${flags.quick ? '-quick' : ''}.md`;
  writeFileSync(file, report);
  console.error(`wrote ${file}`);
} catch (error) {
  console.error(error);
  exitCode = 1;
} finally {
  for (const server of servers) server.child.kill('SIGTERM');
  await new Promise((resolve) => setTimeout(resolve, 1000));
  await dropBenchDatabase(SERVER_URL, name).catch((error: unknown) => console.error(error));
}
process.exit(exitCode);
