// `npm run bench:startup`: time from `npm start` to the first GraphQL answer on the embedded
// database, cold (an empty DATA_DIR: PGlite's cluster is copied from the prepared template, or
// created by initdb; migrations and the demo seed run) and warm (the same directory again), in
// alternating rounds, for each way of starting side by side:
// - development: `npm start` as the README's first command runs it (node dist/server.js with
//   source maps; dist/ built by npm install, and before timing here);
// - production: `npm start` with NODE_ENV=production (node dist/server.js);
// - sources: the TypeScript through tsx, as `npm run dev` runs it (and `npm start` did until
//   2026-12-03): what compiling every module at start costs;
// - development without the template (moved aside for those starts): what initdb costs.
// The server logs each start-up phase at debug level (src/app.ts, `startup: …`); the median of
// each is reported beside the totals. Writes bench/results/<date>-startup.md.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { prepareTemplate } from '../src/db/pglite-template.ts';

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

type Variant = 'development' | 'production' | 'sources' | 'no template';
const VARIANTS: readonly Variant[] = ['development', 'production', 'sources', 'no template'];

/** One start: spawn `npm start`, wait for the ready line, send one query, stop the server. */
async function start(dataDir: string, variant: Variant): Promise<Run> {
  const began = performance.now();
  const [command, args] =
    variant === 'sources'
      ? ['node', ['--import', 'tsx', 'src/server.ts']]
      : ['npm', ['start', '--silent']];
  const child = spawn(command, args, {
    cwd: root,
    env: {
      ...process.env,
      PORT: '0',
      DATA_DIR: dataDir,
      LOG_LEVEL: 'debug',
      LOG_FORMAT: 'json',
      NODE_ENV: variant === 'production' ? 'production' : 'development',
      // The same work in production: the demo seed, a secret, the loopback address.
      ...(variant === 'production'
        ? {
            SEED_DEMO: 'true',
            JWT_SECRET: 'bench-secret-of-at-least-32-characters',
            HOST: '127.0.0.1',
          }
        : {}),
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

// Built once before timing anything (production starts would otherwise build on the first one).
execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
const template = await prepareTemplate();
const loadBefore = os.loadavg();
const runs = Object.fromEntries(VARIANTS.map((v) => [v, { cold: [] as Run[], warm: [] as Run[] }]));
const scratch = mkdtempSync(path.join(os.tmpdir(), 'scopegraph-startup-'));
try {
  for (let round = 1; round <= ROUNDS; round++) {
    for (const variant of VARIANTS) {
      const dir = path.join(scratch, `round-${round}-${variant.replace(' ', '-')}`);
      mkdirSync(dir);
      const aside = `${template}.aside`;
      if (variant === 'no template') renameSync(template, aside);
      try {
        for (const kind of ['cold', 'warm'] as const) {
          const run = await start(dir, variant);
          runs[variant]?.[kind].push(run);
          console.log(
            `round ${round} ${variant} ${kind}: first answer ${Math.round(run.totalMs)} ms`,
          );
        }
      } finally {
        if (existsSync(aside)) renameSync(aside, template);
      }
    }
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
const loadAfter = os.loadavg();

const ms = (x: number) => `${Math.round(x)}`;
const all = VARIANTS.flatMap((v) => [...(runs[v]?.cold ?? []), ...(runs[v]?.warm ?? [])]);
const phaseNames = [...new Set(all.flatMap((r) => Object.keys(r.phases)))];
const column = (variant: Variant, kind: 'cold' | 'warm') => runs[variant]?.[kind] ?? [];
const lines = [
  `# Start-up to first answer (embedded database), ${new Date().toISOString().slice(0, 10)}`,
  '',
  `\`npm run bench:startup -- --rounds ${ROUNDS}\`: Node ${process.version}, ${os.cpus().length} CPUs,`,
  `load average ${loadBefore.map((x) => x.toFixed(2)).join(' ')} before, ${loadAfter.map((x) => x.toFixed(2)).join(' ')} after.`,
  'Time from spawning `npm start` to the answer of one `POST /graphql`; cold = empty DATA_DIR.',
  'Variants in alternating rounds: development (`npm start` as the README runs it: node',
  'dist/server.js with source maps), production (NODE_ENV=production: node dist/server.js, the',
  'demo seed on), sources (`node --import tsx src/server.ts`, as `npm run dev` runs it), and',
  'development with the prepared PGlite template moved aside (initdb makes the new directory).',
  '',
  '| variant | cold median | cold min | warm median | warm min |',
  '|---|---:|---:|---:|---:|',
  ...VARIANTS.map(
    (v) =>
      `| ${v} | ${ms(median(column(v, 'cold').map((r) => r.totalMs)))} | ${ms(Math.min(...column(v, 'cold').map((r) => r.totalMs)))} | ${ms(median(column(v, 'warm').map((r) => r.totalMs)))} | ${ms(Math.min(...column(v, 'warm').map((r) => r.totalMs)))} |`,
  ),
  '',
  'Phases (median ms, from the `startup: …` debug lines; "modules loaded" counts from process start):',
  '',
  `| phase | ${VARIANTS.flatMap((v) => [`${v} cold`, `${v} warm`]).join(' | ')} |`,
  `|---|${VARIANTS.map(() => '---:|---:').join('|')}|`,
  ...phaseNames.map(
    (p) =>
      `| ${p} | ${VARIANTS.flatMap((v) => (['cold', 'warm'] as const).map((k) => ms(median(column(v, k).flatMap((r) => r.phases[p] ?? []))))).join(' | ')} |`,
  ),
  '',
];
const out = path.join(root, 'bench/results', `${new Date().toISOString().slice(0, 10)}-startup.md`);
writeFileSync(out, lines.join('\n'));
console.log(lines.join('\n'));
console.log(`written to ${out}`);
