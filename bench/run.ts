// `npm run bench`: seeds its own database, starts every contender as a child process, checks that
// they all return the same (predicted) data, measures them with autocannon in alternating rounds,
// draws the scale curve, prints a table and writes bench/results/<date>.md. See bench/README.md.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTokenService, type TokenService } from '../src/auth/tokens.ts';
import { encodeGlobalId } from '../src/schema/ids.ts';
import { type Child, type ServerSettings, startServer, stopAllServers } from './children.ts';
import {
  type FloodPhase,
  type FloodSource,
  type FloodSummary,
  measureFlood,
  summarizeFlood,
} from './flood.ts';
import { percentile, runLoad, stopLoad } from './load.ts';
import {
  type Contender,
  FLOOD_SCENARIO,
  type LoadScenario,
  type Options,
  parseOptions,
} from './options.ts';
import {
  type Cell,
  type FloodRow,
  type Machine,
  markdownReport,
  printSummary,
  type ScalePoint,
  type Trace,
} from './report.ts';
import {
  createBenchDatabase,
  createCitusBenchDatabase,
  type DataPlan,
  dropBenchDatabase,
  dropCitusBenchDatabase,
  planData,
  seedTenants,
  type TenantPlan,
  tenantPlan,
  totalsOf,
  uniqueDatabaseName,
  userId,
  withClient,
} from './seed.ts';
import type { ServerStats } from './servers/common.ts';
import {
  expectedFeed,
  expectedPost,
  type HttpRequest,
  type Normalized,
  normalize,
  postgraphileCursor,
  requestFor,
  SCENARIO_NAMES,
  scopegraphCursor,
  type Target,
  tokenFor,
  WRITE_MARKER,
} from './workload.ts';

const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));
/** Posts of every scale-curve tenant (small, like the smallest Zipf tenants). */
const SCALE_POSTS = 25;

// --- Clean-up that runs once, on success, failure or a signal --------------------------------

const cleanups: (() => Promise<void>)[] = [];
let cleaning: Promise<void> | null = null;
let aborted = false;

function cleanUp(): Promise<void> {
  cleaning ??= (async () => {
    for (const task of cleanups.reverse()) {
      try {
        await task();
      } catch (error) {
        console.error('clean-up:', error instanceof Error ? error.message : error);
      }
    }
  })();
  return cleaning;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (aborted) return;
    aborted = true;
    console.error(`\n${signal}: stopping the servers and dropping the bench databases…`);
    stopLoad();
    void cleanUp().finally(() => process.exit(130));
  });
}

function log(message: string): void {
  const at = ((performance.now() - startedAt) / 1000).toFixed(1).padStart(6);
  console.log(`[${at}s] ${message}`);
}

function checkAborted(): void {
  if (aborted) throw new Error('aborted');
}

const startedAt = performance.now();
const timings: Record<string, number> = {};
async function timed<T>(label: string, work: () => Promise<T>): Promise<T> {
  const t = performance.now();
  try {
    return await work();
  } finally {
    timings[label] = (timings[label] ?? 0) + (performance.now() - t) / 1000;
  }
}

// --- Servers ---------------------------------------------------------------------------------

async function startServers(
  contenders: readonly Contender[],
  settings: ServerSettings,
): Promise<Map<Contender, Child>> {
  checkAborted();
  // In parallel: start-up order has no bearing on the measurements, and it saves seconds.
  const started = await Promise.allSettled(contenders.map((name) => startServer(name, settings)));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  const servers = new Map<Contender, Child>();
  for (const result of started) {
    if (result.status !== 'fulfilled') continue;
    servers.set(result.value.name, result.value);
    log(`  ${result.value.name} ready on ${result.value.url} (pid ${result.value.pid})`);
  }
  return servers;
}

async function stopServers(servers: Map<Contender, Child>): Promise<void> {
  await Promise.all([...servers.values()].map((s) => s.stop()));
}

// --- Correctness ------------------------------------------------------------------------------

async function send(child: Child, request: HttpRequest): Promise<unknown> {
  const response = await fetch(child.url, { method: 'POST', ...request });
  const text = await response.text();
  if (response.status !== 200) {
    throw new Error(`${child.name}: HTTP ${response.status}: ${text.slice(0, 500)}`);
  }
  return JSON.parse(text) as unknown;
}

/** JSON with sorted keys: contenders may order an object's fields differently. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
}

function firstDifference(actual: Normalized, expected: Normalized): string {
  if (Array.isArray(actual) && Array.isArray(expected)) {
    if (actual.length !== expected.length) {
      return `${actual.length} items instead of ${expected.length}`;
    }
    const i = actual.findIndex((item, k) => canonical(item) !== canonical(expected[k]));
    return `item ${i}: ${JSON.stringify(actual[i])}\n  expected ${JSON.stringify(expected[i])}`;
  }
  return `${JSON.stringify(actual)}\n  expected ${JSON.stringify(expected)}`;
}

/**
 * Every contender answers `targets` and must return exactly the data the seed predicts (for the
 * write, the title it sent and its own name). The first request per contender is traced.
 */
async function checkScenario(
  scenario: LoadScenario,
  servers: Map<Contender, Child>,
  targets: readonly Target[],
  traces: Trace[] | null,
): Promise<void> {
  for (const [name, child] of servers) {
    for (const [k, target] of targets.entries()) {
      const request = requestFor(name, scenario, target);
      if (k === 0 && traces) await child.traceStart();
      const json = await send(child, request);
      if (k === 0 && traces)
        traces.push({ scenario, contender: name, sql: await child.traceStop() });
      let actual: Normalized;
      try {
        actual = normalize(name, scenario, json);
      } catch (error) {
        throw new Error(`scenario ${scenario}, ${name}: ${(error as Error).message}`);
      }
      const expected = expectedAnswer(scenario, target, request);
      if (canonical(actual) !== canonical(expected)) {
        throw new Error(
          `scenario ${scenario}, ${name}, tenant o${target.tenant.idx}: wrong data\n  ${firstDifference(actual, expected)}`,
        );
      }
      if (Array.isArray(actual) && actual.length === 0) {
        throw new Error(`scenario ${scenario}, ${name}: an empty page proves nothing`);
      }
    }
  }
}

function expectedAnswer(scenario: LoadScenario, target: Target, request: HttpRequest): Normalized {
  const { tenant } = target;
  if (scenario === 1) return expectedFeed(tenant);
  if (scenario === 4) return expectedFeed(tenant, target.depth ?? 0);
  if (scenario === 2) return expectedPost(tenant, target.post ?? 0);
  const variables = (
    JSON.parse(request.body) as {
      variables: { input: { title?: string; post?: { title: string } } };
    }
  ).variables.input;
  return {
    title: variables.title ?? variables.post?.title ?? '',
    author: `User 0 [o${tenant.idx}]`,
  };
}

async function deleteWrites(url: string): Promise<number> {
  return withClient(url, async (c) => {
    const { rowCount } = await c.query('DELETE FROM posts WHERE title LIKE $1', [
      `${WRITE_MARKER}%`,
    ]);
    return rowCount ?? 0;
  });
}

// --- Measuring -------------------------------------------------------------------------------

function rotation(contender: Contender, scenario: LoadScenario, targets: readonly Target[]) {
  if (scenario === 3) {
    let i = 0;
    return () => requestFor(contender, scenario, targets[i++ % targets.length] as Target);
  }
  const requests = targets.map((t) => requestFor(contender, scenario, t));
  let i = 0;
  return () => requests[i++ % requests.length] as HttpRequest;
}

/**
 * The server's counters once it is idle: nothing in flight and no statement sent for a while
 * (autocannon abandons requests at the end of a run; the server still finishes their SQL).
 */
async function idleStats(child: Child): Promise<ServerStats> {
  let last = await child.stats();
  // Unchanged since it was last seen idle (other servers ran meanwhile): no need to wait.
  if (last.inFlight === 0 && last.roundTrips === lastIdle.get(child)) return last;
  const deadline = performance.now() + 15_000;
  while (performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const now = await child.stats();
    if (now.inFlight === 0 && last.inFlight === 0 && now.roundTrips === last.roundTrips) {
      lastIdle.set(child, now.roundTrips);
      return now;
    }
    last = now;
  }
  return last;
}
const lastIdle = new WeakMap<Child, number>();

async function measure(
  child: Child,
  scenario: LoadScenario,
  targets: readonly Target[],
  connections: number,
  seconds: number,
  round: number,
): Promise<Cell> {
  const before = await idleStats(child);
  const result = await runLoad(
    child.url,
    connections,
    seconds,
    rotation(child.name, scenario, targets),
  );
  const after = await idleStats(child);
  return {
    scenario,
    contender: child.name,
    connections,
    round,
    responses: result.responses,
    seconds: result.seconds,
    rps: result.rps,
    latencies: result.latencies,
    non2xx: result.non2xx,
    errors: result.errors,
    graphqlErrors:
      after.graphqlErrors - before.graphqlErrors + (after.errorResponses - before.errorResponses),
    serverRequests: after.requests - before.requests,
    roundTrips: after.roundTrips - before.roundTrips,
    statements: after.statements - before.statements,
    // `== null`: a baseline checkout from before these counters answers without them.
    plansCompiled:
      after.plansCompiled == null || before.plansCompiled == null
        ? null
        : after.plansCompiled - before.plansCompiled,
    cpuMicros: (after.cpuMicros ?? Number.NaN) - (before.cpuMicros ?? Number.NaN),
    rss: child.memory().rss,
  };
}

function p50of(latencies: Float64Array): number {
  return percentile(Float64Array.from(latencies).sort(), 50);
}

// --- Scenario 5: the sign-in flood -----------------------------------------------------------

/** The contenders that run scopegraph's own server, sign-in included: the only ones flooded. */
const SIGN_IN_CONTENDERS: readonly Contender[] = [
  'scopegraph',
  'scopegraph-semi32',
  'scopegraph-semi64',
  'scopegraph-ordinary',
  'baseline',
];
const FLOOD_SOURCES: readonly FloodSource[] = ['one address', 'many addresses'];

/**
 * Each scopegraph contender, as shipped (rate limits, lockout and hashing cap on): a member's
 * `{ viewer { id } }` idle, then while bad sign-ins flood from one address and from many, in
 * alternating rounds. The rows pool every round; the ratios are to the same server's idle.
 */
async function floodScenario(
  servers: Map<Contender, Child>,
  target: Target,
  options: Options,
  problems: string[],
): Promise<FloodRow[]> {
  const flooded = [...servers.values()].filter((c) => SIGN_IN_CONTENDERS.includes(c.name));
  const viewerId = encodeGlobalId('User', userId(target.tenant.idx, 0));
  const request = {
    headers: { 'content-type': 'application/json', authorization: `Bearer ${target.token}` },
    body: JSON.stringify({ query: '{ viewer { id } }' }),
  };
  for (const child of flooded) {
    const json = (await send(child, request)) as { data?: { viewer?: { id?: string } } };
    if (json.data?.viewer?.id !== viewerId) {
      throw new Error(`scenario 5, ${child.name}: viewer ${JSON.stringify(json)}, not ${viewerId}`);
    }
  }
  log('  every scopegraph contender returned the member as viewer');
  const phase = (child: Child, flood: number, source: FloodSource, seconds = options.duration) =>
    measureFlood({
      url: child.url,
      token: target.token,
      viewerId,
      members: options.floodMembers,
      flood,
      source,
      seconds,
    });
  const p50 = (p: FloodPhase) => p50of(p.latencies).toFixed(2);
  // Warm-up: the member's path, then the sign-in path from 127.0.0.1 until its limit answers
  // 429: the measured flood from one address meets the limit a sustained flood keeps meeting,
  // not the first window's budget (each of those sign-ins hashes, so this takes seconds).
  for (const child of flooded) {
    await phase(child, 0, 'one address', Math.max(0.3, options.warmup));
    for (let k = 0; k < 10; k++) {
      const warm = await phase(child, options.flood, 'one address', 0.2);
      if ([...warm.signIns.keys()].some((key) => key.startsWith('429 '))) break;
    }
  }
  const idle = new Map<Contender, FloodPhase[]>();
  const floods = new Map<string, FloodPhase[]>();
  const push = <K>(map: Map<K, FloodPhase[]>, key: K, p: FloodPhase) =>
    map.set(key, [...(map.get(key) ?? []), p]);
  for (let round = 1; round <= options.rounds; round++) {
    const order = round % 2 === 1 ? flooded : [...flooded].reverse();
    const sources = round % 2 === 1 ? FLOOD_SOURCES : [...FLOOD_SOURCES].reverse();
    for (const child of order) {
      checkAborted();
      const still = await phase(child, 0, 'one address');
      push(idle, child.name, still);
      const parts = [`idle p50 ${p50(still)} ms`];
      for (const source of sources) {
        checkAborted();
        const flood = await phase(child, options.flood, source);
        push(floods, `${child.name}|${source}`, flood);
        parts.push(`${source} p50 ${p50(flood)} ms`);
      }
      log(`  round ${round} ${child.name.padEnd(12)} ${parts.join(', ')}`);
    }
  }
  const rows: FloodRow[] = [];
  for (const child of flooded) {
    for (const source of FLOOD_SOURCES) {
      const summary: FloodSummary = summarizeFlood(
        idle.get(child.name) ?? [],
        floods.get(`${child.name}|${source}`) ?? [],
      );
      rows.push({ contender: child.name, source, summary });
      if (summary.errors > 0) {
        problems.push(
          `scenario 5, ${child.name}, flood from ${source}: ${summary.errors} signed-in requests failed (log: ${child.logFile})`,
        );
      }
      const admitted = [...summary.signIns.keys()].filter((k) => k.endsWith(' ok'));
      if (admitted.length > 0) {
        problems.push(`scenario 5, ${child.name}: a bad sign-in was answered ${admitted[0]}`);
      }
    }
  }
  return rows;
}

// --- The run ---------------------------------------------------------------------------------

/** `count` tenants spread evenly over the ranks (big and small ones alike). */
function spread(tenants: readonly TenantPlan[], count: number): TenantPlan[] {
  if (tenants.length <= count) return [...tenants];
  if (count === 1) return tenants.slice(0, 1);
  return Array.from(
    { length: count },
    (_, j) => tenants[Math.round((j * (tenants.length - 1)) / (count - 1))] as TenantPlan,
  );
}

async function buildTargets(
  plan: DataPlan,
  options: Options,
  tokens: TokenService,
  servers: Map<Contender, Child>,
): Promise<{ targets: Record<LoadScenario, Target[]>; rotated: number; depths: number[] }> {
  const rotated = spread(plan.tenants, options.rotate);
  const base = await Promise.all(
    rotated.map(async (tenant) => ({ tenant, token: await tokenFor(tokens, tenant) })),
  );
  const targets: Record<LoadScenario, Target[]> = {
    1: base,
    2: base.map((t) => ({ ...t, post: Math.floor(t.tenant.posts / 2) })),
    3: base,
    4: [],
  };
  const depths: number[] = [];
  const big = plan.big;
  if (big && options.scenarios.includes(4)) {
    const token = await tokenFor(tokens, big);
    const pgl = servers.get('postgraphile');
    for (let k = 0; k < 8; k++) {
      const depth = Math.floor(big.posts * (0.8 + 0.02 * k));
      depths.push(depth);
      // Row `depth` (1-based, newest first) is post number posts - depth.
      targets[4].push({
        tenant: big,
        token,
        depth,
        cursors: {
          scopegraph: scopegraphCursor(big, big.posts - depth),
          postgraphile: pgl ? await postgraphileCursor(pgl.url, token, depth) : null,
        },
      });
    }
  }
  return { targets, rotated: rotated.length, depths };
}

function checkTargets(scenario: LoadScenario, targets: readonly Target[]): Target[] {
  if (scenario === 4) return targets.slice(0, 2);
  if (scenario === 3) return targets.slice(0, 1);
  const picks = [0, Math.floor(targets.length / 2), targets.length - 1];
  return [...new Set(picks)].map((i) => targets[i] as Target);
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  const startDate = new Date();
  const problems: string[] = [];
  const loadBefore = os.loadavg();
  log(
    `scopegraph bench${options.quick ? ' (quick)' : ''}: ${options.contenders.join(', ')}; scenarios ${options.scenarios.join(', ')}; connections ${options.connections.join(', ')}; ${options.duration} s × ${options.rounds} round(s); load average ${loadBefore.map((x) => x.toFixed(2)).join(' ')} on ${os.cpus().length} cores`,
  );
  if (loadBefore[0] !== undefined && loadBefore[0] > os.cpus().length * 0.5) {
    log('  warning: the machine is busy; numbers will be noisy (ratios hold up better)');
  }

  cleanups.push(stopAllServers);
  const secret = randomBytes(32).toString('hex');
  const tokens = createTokenService({ secret });
  const logDir = mkdtempSync(path.join(os.tmpdir(), 'scopegraph-bench-'));
  const name = uniqueDatabaseName();
  const scaleName = `${name}_scale`;
  let finished = false;
  cleanups.push(async () => {
    // Server logs stay for a kept or failed run (the error names the file); else they go.
    if (finished && !options.keep) rmSync(logDir, { recursive: true, force: true });
    else log(`server logs in ${logDir}`);
  });
  cleanups.push(async () => {
    if (options.keep) {
      log(`kept databases ${name}${options.scale ? `, ${scaleName}` : ''}`);
      return;
    }
    await dropBenchDatabase(options.serverUrl, name);
    if (options.scale) await dropBenchDatabase(options.serverUrl, scaleName);
    if (options.citusUrl) await dropCitusBenchDatabase(options.citusUrl, name);
  });

  const postgres = await withClient(options.serverUrl, async (c) => {
    const { rows } = await c.query<{ v: string }>("SELECT split_part(version(), ' on ', 1) AS v");
    return rows[0]?.v ?? 'PostgreSQL';
  });

  // 1. The database.
  // The big tenant only serves scenario 4: without it, it is not worth its seeding time.
  const plan = planData({
    ...options,
    bigPosts: options.scenarios.includes(4) ? options.bigPosts : 0,
  });
  const t = plan.totals;
  log(
    `seeding ${name}: ${t.organizations} orgs, ${t.users} users, ${t.posts} posts, ${t.comments} comments` +
      (plan.big ? ` + big tenant ${plan.big.posts} posts` : ''),
  );
  const url = await timed('create+migrate', () => createBenchDatabase(options.serverUrl, name));
  const everyone = plan.big ? [plan.big, ...plan.tenants] : [...plan.tenants];
  await timed('seed', () => seedTenants(url, everyone, { parallel: 2, rebuildIndexes: true }));
  log(`  seeded in ${timings.seed?.toFixed(1)} s`);
  // The same rows (deterministic ids) on the Citus coordinator, for scopegraph-citus.
  const citusUrl = options.citusUrl
    ? await timed('citus create+migrate+seed', async () => {
        const citus = await createCitusBenchDatabase(options.citusUrl ?? '', name);
        // One connection: Citus checks foreign keys on the workers, so rows go in in order.
        await seedTenants(citus, everyone, { parallel: 1, rebuildIndexes: true });
        return citus;
      })
    : null;
  if (citusUrl) log(`  seeded on Citus in ${timings['citus create+migrate+seed']?.toFixed(1)} s`);
  checkAborted();

  // 2. The servers.
  const settings: ServerSettings = {
    databaseUrl: url,
    jwtSecret: secret,
    poolSize: options.poolSize,
    logLevel: options.logLevel,
    logDir,
    baselineDir: options.baseline,
    citusDatabaseUrl: citusUrl,
  };
  log('starting servers');
  const servers = await timed('start servers', () => startServers(options.contenders, settings));
  const { targets, rotated, depths } = await buildTargets(plan, options, tokens, servers);

  // 3. Every scenario: check, warm up, measure in alternating rounds.
  const cells: Cell[] = [];
  const traces: Trace[] = [];
  const contenders = [...servers.keys()];
  const floods: FloodRow[] = [];
  for (const scenario of options.scenarios) {
    checkAborted();
    if (scenario === FLOOD_SCENARIO) {
      log(`scenario ${scenario}: ${SCENARIO_NAMES[scenario]}`);
      const target = targets[1][0];
      if (!contenders.some((c) => SIGN_IN_CONTENDERS.includes(c)) || !target) {
        problems.push('scenario 5 skipped: no scopegraph contender (only they have sign-in)');
        continue;
      }
      await timed(`scenario ${scenario}`, async () => {
        floods.push(...(await floodScenario(servers, target, options, problems)));
      });
      continue;
    }
    const list = targets[scenario];
    if (list.length === 0) {
      problems.push(`scenario ${scenario} skipped: no targets (no big tenant?)`);
      continue;
    }
    log(`scenario ${scenario}: ${SCENARIO_NAMES[scenario]}`);
    await timed('checks', () =>
      checkScenario(scenario, servers, checkTargets(scenario, list), traces),
    );
    if (scenario === 3) await deleteWrites(url);
    log('  every contender returned the expected data');
    // The first scenario's warm-up is three times longer: it also warms freshly started
    // servers (V8's JIT, Prisma's query compiler, PostGraphile's plan cache).
    const warmup = options.warmup * (scenario === options.scenarios[0] ? 3 : 1);
    await timed(`scenario ${scenario}`, async () => {
      if (warmup > 0) {
        for (const child of servers.values()) {
          const warm = await runLoad(child.url, 8, warmup, rotation(child.name, scenario, list));
          if (warm.non2xx + warm.errors > 0) {
            problems.push(
              `scenario ${scenario}, ${child.name}: ${warm.non2xx + warm.errors} errors in warm-up`,
            );
          }
          if (scenario === 3) await deleteWrites(url);
        }
      }
      for (let round = 1; round <= options.rounds; round++) {
        const order = round % 2 === 1 ? contenders : [...contenders].reverse();
        for (const connections of options.connections) {
          for (const contender of order) {
            checkAborted();
            const child = servers.get(contender) as Child;
            const cell = await measure(child, scenario, list, connections, options.duration, round);
            cells.push(cell);
            if (scenario === 3) await deleteWrites(url);
            const errors = cell.non2xx + cell.errors + cell.graphqlErrors;
            log(
              `  round ${round} c=${String(connections).padStart(2)} ${contender.padEnd(12)} ${cell.rps.toFixed(0).padStart(6)} req/s  p50 ${p50of(cell.latencies).toFixed(2)} ms  ${(cell.roundTrips / Math.max(1, cell.serverRequests)).toFixed(1)} RT/req${errors ? `  ${errors} ERRORS` : ''}`,
            );
            if (errors > 0) {
              problems.push(
                `scenario ${scenario}, ${contender}, c=${connections}, round ${round}: ${cell.non2xx} non-2xx, ${cell.errors} connection errors/timeouts, ${cell.graphqlErrors} GraphQL errors (log: ${child.logFile})`,
              );
            }
          }
        }
      }
    });
  }
  const peaks = Object.fromEntries([...servers.values()].map((s) => [s.name, s.memory().peak]));
  const peakList = Object.entries(peaks).map(([n, b]) => `${n} ${(b / 2 ** 20).toFixed(0)} MB`);
  log(`peak RSS: ${peakList.join(', ')}`);
  await stopServers(servers);

  // 4. The scale curve: the same small tenants, ever more tenants around them.
  const scale: ScalePoint[] = [];
  let scaleShape = '';
  if (options.scale) {
    const points = [...options.scale].sort((a, b) => a - b);
    const sample = tenantPlan(1, SCALE_POSTS);
    scaleShape = `${SCALE_POSTS} posts, ${sample.users} users and ~${totalsOf([sample]).comments} comments per tenant, at ${points.join(', ')} tenants`;
    log(`scale curve: ${scaleShape}`);
    const scaleUrl = await timed('scale seed', () =>
      createBenchDatabase(options.serverUrl, scaleName),
    );
    const small = Array.from({ length: Math.min(10, points[0] ?? 1) }, (_, k) =>
      tenantPlan(k + 1, SCALE_POSTS),
    );
    const smallTargets = await Promise.all(
      small.map(async (tenant) => ({ tenant, token: await tokenFor(tokens, tenant) })),
    );
    let seeded = 0;
    let scaleServers: Map<Contender, Child> | null = null;
    for (const [k, n] of points.entries()) {
      checkAborted();
      const added = Array.from({ length: n - seeded }, (_, j) =>
        tenantPlan(seeded + j + 1, SCALE_POSTS),
      );
      await timed('scale seed', () =>
        seedTenants(scaleUrl, added, { parallel: 2, rebuildIndexes: true }),
      );
      seeded = n;
      log(`  ${n} tenants seeded`);
      scaleServers ??= await timed('start servers', () =>
        // The scale curve is PostgreSQL's: the Citus contender has no scale database.
        startServers(
          options.contenders.filter((c) => c !== 'scopegraph-citus'),
          { ...settings, databaseUrl: scaleUrl },
        ),
      );
      await checkScenario(1, scaleServers, smallTargets.slice(0, 1), null);
      const order = k % 2 === 0 ? [...scaleServers.values()] : [...scaleServers.values()].reverse();
      await timed('scale measure', async () => {
        for (const child of order) {
          checkAborted();
          // Freshly started servers need a real warm-up at the first point; later a short one.
          const warmup =
            k === 0 ? Math.max(0.5, 2 * options.warmup) : Math.max(0.3, options.warmup / 2);
          await runLoad(child.url, 8, warmup, rotation(child.name, 1, smallTargets));
          const cell = await measure(child, 1, smallTargets, 1, options.scaleDuration, 1);
          const sorted = Float64Array.from(cell.latencies).sort();
          const errors = cell.non2xx + cell.errors + cell.graphqlErrors;
          scale.push({
            tenants: n,
            contender: child.name,
            responses: cell.responses,
            rps: cell.rps,
            p50: percentile(sorted, 50),
            p99: percentile(sorted, 99),
            errors,
          });
          if (errors > 0) problems.push(`scale ${n}, ${child.name}: ${errors} errors`);
          log(
            `  ${String(n).padStart(6)} tenants ${child.name.padEnd(12)} p50 ${p50of(cell.latencies).toFixed(2)} ms`,
          );
        }
      });
    }
    if (scaleServers) await stopServers(scaleServers);
  }

  // 5. The report.
  const machine: Machine = {
    cpus: os.cpus()[0]?.model ?? 'unknown CPU',
    cores: os.cpus().length,
    memoryGb: os.totalmem() / 2 ** 30,
    node: process.versions.node,
    postgres,
    loadBefore,
    loadAfter: os.loadavg(),
    os: `${os.type()} ${os.release()}`,
  };
  timings.total = (performance.now() - startedAt) / 1000;
  const report = {
    startedAt: startDate,
    options,
    machine,
    plan,
    rotated,
    depths,
    database: name,
    timings,
    cells,
    floods,
    scale,
    scaleShape,
    traces,
    problems,
    peaks,
  };
  console.log(`\n${printSummary(report)}\n`);
  const day = startDate.toISOString().slice(0, 10);
  const out = options.out ?? path.join(RESULTS_DIR, `${day}${options.quick ? '-quick' : ''}.md`);
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, markdownReport(report));
  log(
    `report written to ${path.relative(process.cwd(), out)}; total ${timings.total.toFixed(1)} s`,
  );
  finished = problems.length === 0;
  if (problems.length > 0) {
    console.error(`\n${problems.length} problem(s):\n- ${problems.join('\n- ')}`);
    return 1;
  }
  return 0;
}

let code = 1;
try {
  code = await main();
} catch (error) {
  if (!aborted) {
    console.error(
      `\nbench failed: ${error instanceof Error ? (error.stack ?? error.message) : error}`,
    );
  }
} finally {
  await cleanUp();
}
// Prisma's schema engine leaves a timer behind after migrations: exit explicitly.
process.exit(aborted ? 130 : code);
