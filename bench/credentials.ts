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
import { type FloodPhase, floodTable, measureFlood, summarizeFlood } from './flood.ts';
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

async function signUp(url: string): Promise<string> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
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
    }),
  });
  const body = (await response.json()) as { data?: { signUp?: { token: string } } };
  const token = body.data?.signUp?.token;
  if (!token) throw new Error(`sign-up failed: ${JSON.stringify(body)}`);
  return token;
}

const name = uniqueDatabaseName();
const servers: Server[] = [];
let exitCode = 0;
try {
  const databaseUrl = await createBenchDatabase(SERVER_URL, name);
  for (const cap of CAPS) servers.push(await startServer(cap, databaseUrl));
  const first = servers[0];
  if (!first) throw new Error('no --caps');
  const token = await signUp(first.url);
  const rows = new Map(
    CAPS.map((cap) => [cap, { idle: [] as FloodPhase[], flood: [] as FloodPhase[] }]),
  );
  const measure = (server: Server, flood: boolean) =>
    measureFlood({
      url: server.url,
      token,
      members: MEMBERS,
      flood: flood ? FLOOD : 0,
      seconds: SECONDS,
    });
  // Warm-up: JIT, connections, caches.
  for (const server of servers) await measure(server, false);
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? servers : [...servers].reverse();
    for (const server of order) {
      const row = rows.get(server.cap) as { idle: FloodPhase[]; flood: FloodPhase[] };
      row.idle.push(await measure(server, false));
      row.flood.push(await measure(server, true));
      console.error(`round ${round + 1}: cap ${server.cap} done`);
    }
  }
  const summaries = [...rows].map(
    ([cap, row]) => [cap, summarizeFlood(row.idle, row.flood)] as const,
  );
  if (summaries.some(([, s]) => s.errors > 0)) exitCode = 1;
  const lines = [
    `# Credentials benchmark, ${new Date().toISOString().slice(0, 10)}`,
    '',
    `${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), Node ${process.version}, ` +
      `UV_THREADPOOL_SIZE ${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}; ${MEMBERS} signed-in clients, ` +
      `${FLOOD} flooding clients, ${SECONDS} s per measurement, ${ROUNDS} round(s). Rate limits and lockout off.`,
    '',
    floodTable('hashing cap', summaries),
  ];
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
