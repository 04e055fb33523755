// `npm run bench:startup`: time from `npm start` to the first GraphQL answer on the embedded
// database, cold (an empty DATA_DIR: PGlite creates its cluster, migrations and the demo seed
// run) and warm (the same directory again), in alternating rounds. The server logs each start-up
// phase at debug level (src/app.ts, `startup: …`); the median of each is reported beside the
// totals. Writes bench/results/<date>-startup.md.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: flags } = parseArgs({
  options: { rounds: { type: 'string', default: '5' }, help: { type: 'boolean', default: false } },
});
if (flags.help) {
  console.log('npm run bench:startup [-- --rounds N]   (default 5 cold + 5 warm, alternating)');
  process.exit(0);
}
const ROUNDS = Number(flags.rounds);
const root = fileURLToPath(new URL('..', import.meta.url));

type Run = Readonly<{ totalMs: number; readyMs: number; phases: Record<string, number> }>;

/** One start: spawn `npm start`, wait for the ready line, send one query, stop the server. */
async function start(dataDir: string): Promise<Run> {
  const began = performance.now();
  const child = spawn('npm', ['start', '--silent'], {
    cwd: root,
    env: {
      ...process.env,
      PORT: '0',
      DATA_DIR: dataDir,
      LOG_LEVEL: 'debug',
      LOG_FORMAT: 'json',
      NODE_ENV: 'development',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const phases: Record<string, number> = {};
  try {
    const url = await new Promise<string>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`server exited (${code}) before ready`)));
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
        let entry: { msg?: string; ms?: number; url?: string };
        try {
          entry = JSON.parse(line);
        } catch {
          return;
        }
        if (entry.msg?.startsWith('startup: ') && typeof entry.ms === 'number')
          phases[entry.msg.slice('startup: '.length)] = entry.ms;
        if (entry.msg === 'scopegraph is ready' && entry.url) resolve(entry.url);
      });
    });
    const readyMs = performance.now() - began;
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    const body = (await response.json()) as { data?: { __typename?: string } };
    if (body.data?.__typename !== 'Query') throw new Error(`bad answer: ${JSON.stringify(body)}`);
    return { totalMs: performance.now() - began, readyMs, phases };
  } finally {
    await stop(child);
  }
}

async function stop(child: ChildProcess) {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
};

const loadBefore = os.loadavg();
const runs: Record<'cold' | 'warm', Run[]> = { cold: [], warm: [] };
const scratch = mkdtempSync(path.join(os.tmpdir(), 'scopegraph-startup-'));
try {
  for (let round = 1; round <= ROUNDS; round++) {
    const dir = path.join(scratch, `round-${round}`);
    mkdirSync(dir);
    for (const kind of ['cold', 'warm'] as const) {
      const run = await start(dir);
      runs[kind].push(run);
      console.log(`round ${round} ${kind}: first answer ${Math.round(run.totalMs)} ms`);
    }
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
const loadAfter = os.loadavg();

const ms = (x: number) => `${Math.round(x)}`;
const phaseNames = [...new Set([...runs.cold, ...runs.warm].flatMap((r) => Object.keys(r.phases)))];
const lines = [
  `# Start-up to first answer (embedded database), ${new Date().toISOString().slice(0, 10)}`,
  '',
  `\`npm run bench:startup -- --rounds ${ROUNDS}\`: Node ${process.version}, ${os.cpus().length} CPUs,`,
  `load average ${loadBefore.map((x) => x.toFixed(2)).join(' ')} before, ${loadAfter.map((x) => x.toFixed(2)).join(' ')} after.`,
  'Time from spawning `npm start` to the answer of one `POST /graphql`; cold = empty DATA_DIR.',
  '',
  '| | cold median | cold min | warm median | warm min |',
  '|---|---:|---:|---:|---:|',
  ...(['totalMs', 'readyMs'] as const).map(
    (k) =>
      `| ${k === 'totalMs' ? 'first answer (ms)' : 'ready log line (ms)'} | ${ms(median(runs.cold.map((r) => r[k])))} | ${ms(Math.min(...runs.cold.map((r) => r[k])))} | ${ms(median(runs.warm.map((r) => r[k])))} | ${ms(Math.min(...runs.warm.map((r) => r[k])))} |`,
  ),
  '',
  'Phases (median ms, from the `startup: …` debug lines; "modules loaded" counts from process start):',
  '',
  '| phase | cold | warm |',
  '|---|---:|---:|',
  ...phaseNames.map(
    (p) =>
      `| ${p} | ${ms(median(runs.cold.flatMap((r) => r.phases[p] ?? [])))} | ${ms(median(runs.warm.flatMap((r) => r.phases[p] ?? [])))} |`,
  ),
  '',
];
const out = path.join(root, 'bench/results', `${new Date().toISOString().slice(0, 10)}-startup.md`);
writeFileSync(out, lines.join('\n'));
console.log(lines.join('\n'));
console.log(`written to ${out}`);
