// Aggregation of the measurements, the stdout table and the Markdown report.
import { execFileSync } from 'node:child_process';
import { DEFAULT_CREDENTIAL_POLICY } from '../src/auth/credential-guard.ts';
import { DEFAULT_HASHING } from '../src/auth/passwords.ts';
import {
  type FloodSource,
  type FloodSummary,
  floodTable,
  RETRY_PAUSE_MS,
  SIGN_INS_PER_ADDRESS,
} from './flood.ts';
import { type LoadResult, merge, percentile } from './load.ts';
import type { Contender, LoadScenario, Options } from './options.ts';
import type { DataPlan } from './seed.ts';
import { SCENARIO_NAMES } from './workload.ts';

/** One measurement: one contender, scenario, concurrency and round (the load's result, plus). */
export type Cell = Omit<LoadResult, 'timeouts'> &
  Readonly<{
    scenario: LoadScenario;
    contender: Contender;
    connections: number;
    round: number;
    /** 2xx answers carrying GraphQL errors, and >= 400 answers, as the server counted them. */
    graphqlErrors: number;
    serverRequests: number;
    roundTrips: number;
    statements: number;
    /** Prisma query plans compiled (plan-cache misses); null for a server without Prisma. */
    plansCompiled: number | null;
    /** The server process's CPU time over the measurement (user + system). */
    cpuMicros: number;
    rss: number;
  }>;

export type Summary = Readonly<{
  scenario: LoadScenario;
  contender: Contender;
  connections: number;
  responses: number;
  rps: number;
  rpsMin: number;
  rpsMax: number;
  p50: number;
  p99: number;
  roundTripsPerRequest: number;
  statementsPerRequest: number;
  /** Prisma plans compiled per request: 0 means its plan cache served every operation. */
  plansPerRequest: number | null;
  cpuMsPerRequest: number;
  rss: number;
  errors: number;
}>;

export type ScalePoint = Readonly<{
  tenants: number;
  contender: Contender;
  responses: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}>;

/** Scenario 5: one scopegraph contender under one kind of flood, every round pooled. */
export type FloodRow = Readonly<{
  contender: Contender;
  source: FloodSource;
  summary: FloodSummary;
}>;

export type Trace = Readonly<{
  scenario: LoadScenario;
  contender: Contender;
  sql: readonly string[];
}>;

export type Machine = Readonly<{
  cpus: string;
  cores: number;
  memoryGb: number;
  node: string;
  postgres: string;
  loadBefore: readonly number[];
  loadAfter: readonly number[];
  os: string;
}>;

export type RunReport = Readonly<{
  startedAt: Date;
  options: Options;
  machine: Machine;
  plan: DataPlan;
  rotated: number;
  depths: readonly number[];
  database: string;
  timings: Readonly<Record<string, number>>;
  cells: readonly Cell[];
  floods: readonly FloodRow[];
  scale: readonly ScalePoint[];
  scaleShape: string;
  traces: readonly Trace[];
  problems: readonly string[];
  /** VmHWM of each server at the end of the main measurements, bytes. */
  peaks: Readonly<Partial<Record<Contender, number>>>;
}>;

export function summarize(cells: readonly Cell[]): Summary[] {
  const groups = new Map<string, Cell[]>();
  for (const cell of cells) {
    const key = `${cell.scenario}|${cell.contender}|${cell.connections}`;
    groups.set(key, [...(groups.get(key) ?? []), cell]);
  }
  return [...groups.values()].map((group) => {
    const first = group[0] as Cell;
    const sum = (f: (c: Cell) => number) => group.reduce((n, c) => n + f(c), 0);
    const latencies = merge(group.map((c) => c.latencies));
    const requests = Math.max(
      1,
      sum((c) => c.serverRequests),
    );
    return {
      scenario: first.scenario,
      contender: first.contender,
      connections: first.connections,
      responses: sum((c) => c.responses),
      rps: sum((c) => c.responses) / sum((c) => c.seconds),
      rpsMin: Math.min(...group.map((c) => c.rps)),
      rpsMax: Math.max(...group.map((c) => c.rps)),
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      roundTripsPerRequest: sum((c) => c.roundTrips) / requests,
      statementsPerRequest: sum((c) => c.statements) / requests,
      plansPerRequest: group.some((c) => c.plansCompiled === null)
        ? null
        : sum((c) => c.plansCompiled ?? 0) / requests,
      cpuMsPerRequest: sum((c) => c.cpuMicros) / 1000 / requests,
      rss: Math.max(...group.map((c) => c.rss)),
      errors: sum((c) => c.non2xx + c.errors + c.graphqlErrors),
    };
  });
}

const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '–');
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : '–');
const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(0);

/** The first `labels` columns are left-aligned labels, the rest right-aligned numbers. */
function table(
  head: readonly string[],
  rows: readonly (readonly string[])[],
  markdown: boolean,
  labels = 2,
) {
  if (markdown) {
    const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
    return [
      line(head),
      line(head.map((_, i) => (i < labels ? '---' : '---:'))),
      ...rows.map(line),
    ].join('\n');
  }
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const pad = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i < labels ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ');
  return [pad(head), ...rows.map(pad)].join('\n');
}

export function resultsTable(summaries: readonly Summary[], markdown: boolean): string {
  const head = [
    'scenario',
    'contender',
    'conn',
    'req/s',
    'min–max req/s',
    'p50 ms',
    'p99 ms',
    'SQL/req',
    'RT/req',
    'plans/req',
    'CPU ms/req',
    'RSS MB',
    'errors',
  ];
  const rows = [...summaries]
    .sort((a, b) => a.scenario - b.scenario || a.connections - b.connections)
    .map((s) => [
      String(s.scenario),
      s.contender,
      String(s.connections),
      s.rps.toFixed(0),
      `${s.rpsMin.toFixed(0)}–${s.rpsMax.toFixed(0)}`,
      f2(s.p50),
      f2(s.p99),
      f1(s.statementsPerRequest),
      f1(s.roundTripsPerRequest),
      s.plansPerRequest === null ? '–' : f2(s.plansPerRequest),
      f2(s.cpuMsPerRequest),
      mb(s.rss),
      String(s.errors),
    ]);
  return table(head, rows, markdown);
}

/** scopegraph ÷ each other contender: throughput (req/s) and median latency. */
export function ratiosTable(summaries: readonly Summary[], markdown: boolean): string {
  const find = (s: LoadScenario, c: Contender, n: number) =>
    summaries.find((x) => x.scenario === s && x.contender === c && x.connections === n);
  const others = [...new Set(summaries.map((s) => s.contender))].filter((c) => c !== 'scopegraph');
  const head = ['scenario', 'conn', ...others.flatMap((o) => [`req/s ÷ ${o}`, `p50 ÷ ${o}`])];
  const rows: string[][] = [];
  const keys = [...new Set(summaries.map((s) => `${s.scenario}|${s.connections}`))];
  for (const key of keys) {
    const [scenario, connections] = key.split('|').map(Number) as [LoadScenario, number];
    const mine = find(scenario, 'scopegraph', connections);
    if (!mine) continue;
    rows.push([
      String(scenario),
      String(connections),
      ...others.flatMap((o) => {
        const theirs = find(scenario, o, connections);
        return theirs ? [f2(mine.rps / theirs.rps), f2(mine.p50 / theirs.p50)] : ['–', '–'];
      }),
    ]);
  }
  rows.sort((a, b) => Number(a[0]) - Number(b[0]) || Number(a[1]) - Number(b[1]));
  return table(head, rows, markdown);
}

export function scaleTable(points: readonly ScalePoint[], markdown: boolean): string {
  const contenders = [...new Set(points.map((p) => p.contender))];
  const tenants = [...new Set(points.map((p) => p.tenants))].sort((a, b) => a - b);
  const head = ['tenants', ...contenders.map((c) => `${c} p50 (p99) ms`)];
  const rows = tenants.map((n) => [
    String(n),
    ...contenders.map((c) => {
      const p = points.find((x) => x.tenants === n && x.contender === c);
      return p ? `${f2(p.p50)} (${f2(p.p99)})${p.errors ? ` ${p.errors} err` : ''}` : '–';
    }),
  ]);
  return table(head, rows, markdown, 1);
}

export function printSummary(report: RunReport): string {
  const summaries = summarize(report.cells);
  const parts: string[] = [];
  if (summaries.length > 0) {
    parts.push(
      'Results (req/s over all rounds; p50/p99 over all responses; SQL and RT = statements and round trips per request; RSS after the run)',
      resultsTable(summaries, false),
      '',
      'Ratios: scopegraph ÷ contender (req/s < 1: scopegraph is slower; p50 > 1: scopegraph is slower)',
      ratiosTable(summaries, false),
    );
  }
  if (report.floods.length > 0) {
    parts.push(
      '',
      "Scenario 5, sign-in flood (scopegraph contenders only): a signed-in member's { viewer { id } } latency, idle and flooded",
      signInFloodTable(report.floods),
    );
  }
  if (report.scale.length > 0) {
    parts.push('', `Scale curve: scenario 1, one connection, small tenants (${report.scaleShape})`);
    parts.push(scaleTable(report.scale, false));
  }
  return parts.join('\n');
}

const FLOOD_LABELS: Record<FloodSource, string> = {
  'one address': 'from 127.0.0.1',
  'many addresses': 'from many loopback addresses',
};

function signInFloodTable(rows: readonly FloodRow[]): string {
  return floodTable(
    'contender, flood',
    rows.map((r) => [`${r.contender}, ${FLOOD_LABELS[r.source]}`, r.summary] as const),
  );
}

/** Scenario 5's section: what was sent, from where, what the shipped policy is, the table. */
function floodSection(report: RunReport): string[] {
  const o = report.options;
  const p = DEFAULT_CREDENTIAL_POLICY;
  const skipped = o.contenders.filter((c) => !report.floods.some((r) => r.contender === c));
  return [
    '## Scenario 5: sign-in flood',
    '',
    `- Every scopegraph contender as bench/servers/scopegraph.ts starts it, i.e. with the shipped credential policy: sign-ins limited to ${p.signInPerAddress.limit} per ${p.signInPerAddress.windowSeconds} s per client address and ${p.signInPerAccount.limit} per ${p.signInPerAccount.windowSeconds} s per account, lockout after ${p.lockout.fromAddress.after} failures from one address (${p.lockout.anyAddress.after} from all), and the password-hashing cap (${DEFAULT_HASHING.concurrency} concurrent on this machine, ${DEFAULT_HASHING.queue} waiting, beyond that 503 PASSWORD_HASHING_BUSY); limits in memory, as \`createApi\` defaults. Nothing is turned off (\`npm run bench:credentials\` is the one that turns the limits off to compare hashing caps).`,
    `- ${o.floodMembers} signed-in clients send \`{ viewer { id } }\` back to back (node:http, keep-alive, from 127.0.0.1) with the OWNER token of a seeded tenant; an answer without that member's id is an error (must be 0). Per round and contender: ${o.duration} s idle, then, for each of the two floods below, ${o.duration} s while ${o.flood} clients send bad sign-ins (organization \`nowhere\`, a new email every time, so no account limit or lockout applies), the flood given 0.5 s to fill the server first. ${o.rounds} round(s), alternating the contender order and the order of the two floods; the ratios are flood ÷ the same server's idle, p50 and p99 over every round. A refused sign-in (429, 503, connection error) is retried after ${RETRY_PAUSE_MS} ms. Warm-up per contender: ${Math.max(0.3, o.warmup)} s idle, then floods from 127.0.0.1 until its limit answers 429 (the sign-ins before it hash; their answers are not counted). A flood phase ends when its last sign-in is answered: with ${o.flood} clients and ${DEFAULT_HASHING.concurrency} hash(es) at a time, the server's hashing queue drains for seconds, and the next phase starts on a drained server.`,
    `- **From 127.0.0.1**: every flooding client comes from the one address the members use too. The per-address limit kicks in after the first ${p.signInPerAddress.limit} sign-ins (the warm-up spends them) and holds for its sliding ${p.signInPerAddress.windowSeconds} s window (a few get through again as old ones age out: the 401s), so nearly every bad sign-in is answered 429 RATE_LIMITED before any hashing: that is the shipped behaviour, and what a flood from one address meets.`,
    `- **From many loopback addresses**: the server names the client by the socket's peer and walks X-Forwarded-For only across the proxies TRUST_PROXY names (src/http/client-address.ts); the bench servers set none, so a forged header would change nothing, and the server is not weakened to trust it. Instead each flooding client connects from a real, different source address (all of 127.0.0.0/8 is loopback on Linux) and moves to a fresh one every ${SIGN_INS_PER_ADDRESS} sign-ins, below every per-address limit and lockout: every bad sign-in reaches password hashing, and the hashing cap is what stands between the flood and the members, as for a flood from many addresses (a botnet). Up to ${DEFAULT_HASHING.concurrency + DEFAULT_HASHING.queue} sign-ins hash or wait their turn (answered 401 UNAUTHENTICATED, late); a flood of more clients than that gets the rest refused at once (503 PASSWORD_HASHING_BUSY).`,
    `- Scenario 5 applies to scopegraph's own server only (scopegraph, its variants, baseline): PostGraphile and raw have no sign-in, and unscoped serves the schema without accounts. Flooded: ${[...new Set(report.floods.map((r) => r.contender))].join(', ')}; not flooded: ${skipped.length > 0 ? skipped.join(', ') : 'none in this run'}.`,
    '- Bad sign-ins answered: count by `<HTTP status> <first GraphQL error code>` over the measured floods (not the warm-up). The generator shares the machine with the servers and PostgreSQL: compare the ratios.',
    '',
    signInFloodTable(report.floods),
    '',
  ];
}

/** Where the Citus coordinator is, without credentials. */
function citusShape(url: string): string {
  const location = new URL(url);
  return `coordinator ${location.host}`;
}

/** The commit a baseline checkout is at, for the report (empty if git cannot say). */
function baselineCommit(dir: string): string {
  try {
    const commit = execFileSync('git', ['-C', dir, 'log', '-1', '--format=%h %s'], {
      encoding: 'utf8',
    }).trim();
    return commit ? `, at ${commit.slice(0, 100)}` : '';
  } catch {
    return '';
  }
}

export function markdownReport(report: RunReport): string {
  const { options: o, machine: m, plan } = report;
  const summaries = summarize(report.cells);
  const t = plan.totals;
  const big = plan.big;
  const sizes = plan.tenants.map((x) => x.posts);
  const timings = Object.entries(report.timings)
    .map(([k, v]) => `${k} ${v.toFixed(1)} s`)
    .join(' · ');
  const lines = [
    `# scopegraph benchmark — ${report.startedAt.toISOString().slice(0, 10)}${o.quick ? ' (quick smoke run)' : ''}`,
    '',
    `Command: \`npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\``,
    '',
    '## Machine',
    '',
    `- ${m.cpus}, ${m.cores} cores, ${m.memoryGb.toFixed(0)} GB RAM, ${m.os}`,
    `- Node ${m.node}; ${m.postgres}`,
    `- load average before ${m.loadBefore.map((x) => x.toFixed(2)).join(', ')}; after ${m.loadAfter.map((x) => x.toFixed(2)).join(', ')}`,
    '- Servers, autocannon and PostgreSQL share the machine: the load generator takes CPU from the servers, so compare ratios, not absolute numbers.',
    '',
    '## Data',
    '',
    `- ${t.organizations.toLocaleString('en')} organizations (Zipf s=${o.zipf} beyond ${o.minPosts} posts each: largest ${Math.max(...sizes).toLocaleString('en')} posts, median ${median(sizes)}, smallest ${Math.min(...sizes)}), ${t.users.toLocaleString('en')} users, ${t.posts.toLocaleString('en')} posts, ${t.comments.toLocaleString('en')} comments (0–10 per post, 5 on average).`,
    big
      ? `- Plus, on top of those totals, the scenario-4 tenant: ${big.posts.toLocaleString('en')} posts, ${big.users} users, ~${(big.posts * 5).toLocaleString('en')} comments. Scenario 4 pages after cursors at depths ${report.depths.map((d) => d.toLocaleString('en')).join(', ')} (newest first).`
      : '- No scenario-4 tenant.',
    `- Read scenarios rotate over ${report.rotated} tenants spread across the sizes (a token each, OWNER). Seeded with INSERT … SELECT generate_series as the owner (FK triggers off, secondary indexes rebuilt, VACUUM ANALYZE). Database \`${report.database}\`${o.keep ? ' (kept)' : ' (dropped)'}.`,
    '',
    '## Method',
    '',
    `- autocannon, ${o.duration} s per measurement, concurrency ${o.connections.join(', ')}, ${o.rounds} round(s) alternating the contender order (forward, then reversed), ${o.warmup} s warm-up (at 8 connections) per scenario and contender, three times that for the first scenario. Every server: its own child process on 127.0.0.1, pool of ${o.poolSize} connections, NODE_ENV=production, GraphQL servers logging at \`${o.logLevel}\` (to a file).`,
    '- Before measuring, each scenario is answered by every contender for a few tenants and compared with the data the seed formulas predict (same data from all of them).',
    "- SQL/req and RT/req: statements and round trips counted in each server process (wrapping pg's Client#query), divided by the requests it served. plans/req: query plans Prisma's compiler built per request (wrapping its QueryCompiler), each a miss of Prisma's plan cache: 0.00 means every Prisma operation was a hit ('–': no Prisma). CPU ms/req: the server process's user + system CPU time (process.cpuUsage) over the measurement, divided by the requests it served. RSS: /proc/<pid>/status VmRSS after each run (max over rounds).",
    '- Contenders:',
    '  - **scopegraph**: `createApi` as shipped (src/http/yoga.ts) over `openDatabase`: a query operation is one read-only unit of work in which every statement (the member lookup, then the operation) travels behind the binding in one message, with no BEGIN or COMMIT; a mutation operation is one transaction: BEGIN and the binding in the message of its first statement, then its statements, then COMMIT.',
    "  - **unscoped**: the same schema and plugins (bench/servers/unscoped.ts), a plain PrismaClient on the owner connection (superuser, so no RLS), no transaction or bind. It keeps the scoped client's WHERE rewriting, which the resolvers need for the same answers. The difference to scopegraph is the binding.",
    '  - **postgraphile**: PostGraphile 5 Amber preset, grafserv on node http, `pgSettings` role scopegraph_app + app.organization_id from the same token (BEGIN, set_config, query, COMMIT). It does not look the user up per request.',
    '  - **raw**: node http + pg: one hand-written SQL statement builds the whole JSON answer; bind and query in ONE round trip (a simple-protocol message of two statements = one implicit transaction); the user check is inside the statement.',
    ...(o.contenders.includes('raw-tx')
      ? [
          '  - **raw-tx**: the same SQL with parameters, sent BEGIN, bind, query, COMMIT (4 round trips).',
        ]
      : []),
    ...(['scopegraph-semi32', 'scopegraph-semi64'] as const)
      .filter((c) => o.contenders.includes(c))
      .map(
        (c) =>
          `  - **${c}**: scopegraph under \`node --max-semi-space-size=${c.slice(-2)}\` alone (V8 semi-spaces of ${c.slice(-2)} MB; the other scopegraph contenders run with \`npm start\`'s production flags, scripts/node-flags).`,
      ),
    ...(o.contenders.includes('scopegraph-ordinary')
      ? [
          "  - **scopegraph-ordinary**: scopegraph with the compiled path off (`createApi({ compiledExecution: false })`): every document runs on graphql-js execution through every field's resolver, as before src/execution/.",
        ]
      : []),
    ...(o.citusUrl
      ? [
          `  - **scopegraph-citus**: scopegraph as shipped over the same rows on a Citus coordinator (\`--citus\`; ${citusShape(o.citusUrl)}), tenant tables distributed by organization_id and organizations a reference table (the migrations): the binding as BEGIN and SET LOCALs in every statement's message, relations loaded by a statement each, each routed to the organization's shard. The coordinator, its workers, the servers and autocannon share this machine; the scale curve is PostgreSQL's only.`,
        ]
      : []),
    ...(o.baseline
      ? [
          `  - **baseline**: bench/servers/scopegraph.ts of another checkout (\`--baseline ${o.baseline}\`${baselineCommit(o.baseline)}), run beside this one: the change between the two, measured side by side.`,
        ]
      : []),
    '',
    '## Results',
    '',
    ...o.scenarios.map((s) => `- Scenario ${s}: ${SCENARIO_NAMES[s]}`),
    '',
    ...(summaries.length > 0
      ? [
          resultsTable(summaries, true),
          '',
          'Ratios scopegraph ÷ contender (req/s below 1 and p50 above 1 mean scopegraph is slower):',
          '',
          ratiosTable(summaries, true),
          '',
        ]
      : ['(No autocannon scenario in this run: scenario 5 has its own section below.)', '']),
    `Peak RSS (VmHWM) over the whole run: ${Object.entries(report.peaks)
      .map(([name, bytes]) => `${name} ${mb(bytes ?? 0)} MB`)
      .join(', ')}.`,
    '',
  ];
  if (report.floods.length > 0) lines.push(...floodSection(report));
  if (report.scale.length > 0) {
    lines.push(
      '## Scale curve',
      '',
      `Scenario 1, one connection, rotating over the same small tenants at every point (${report.scaleShape}); p50 (p99) in ms.`,
      '',
      scaleTable(report.scale, true),
      '',
    );
  }
  lines.push('## Timings', '', timings, '');
  if (report.problems.length > 0) {
    lines.push('## Problems', '', ...report.problems.map((p) => `- ${p}`), '');
  }
  if (report.cells.length === 0) return lines.join('\n');
  lines.push('## SQL per request (one traced request per scenario and contender)', '');
  for (const trace of report.traces) {
    lines.push(
      `### Scenario ${trace.scenario}, ${trace.contender}: ${trace.sql.length} round trips`,
      '',
    );
    lines.push(
      '```sql',
      ...trace.sql.map((s) => (s.length > 400 ? `${s.slice(0, 400)} …` : s)),
      '```',
      '',
    );
  }
  lines.push('## Raw measurements', '');
  lines.push(
    table(
      [
        'scenario',
        'contender',
        'conn',
        'round',
        'responses',
        's',
        'req/s',
        'p50',
        'p99',
        'RT',
        'SQL',
        'RSS MB',
        'non2xx',
        'conn err',
        'gql err',
      ],
      report.cells.map((c) => {
        const sorted = Float64Array.from(c.latencies).sort();
        return [
          String(c.scenario),
          c.contender,
          String(c.connections),
          String(c.round),
          String(c.responses),
          c.seconds.toFixed(2),
          c.rps.toFixed(0),
          f2(percentile(sorted, 50)),
          f2(percentile(sorted, 99)),
          String(c.roundTrips),
          String(c.statements),
          mb(c.rss),
          String(c.non2xx),
          String(c.errors),
          String(c.graphqlErrors),
        ];
      }),
      true,
    ),
    '',
  );
  return lines.join('\n');
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}
