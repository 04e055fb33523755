// Command-line flags and their defaults (full run and --quick).
export const CONTENDERS = [
  'scopegraph',
  'unscoped',
  'postgraphile',
  'raw',
  'raw-tx',
  'scopegraph-semi32',
  'scopegraph-semi64',
  'scopegraph-ordinary',
  'scopegraph-citus',
  'baseline',
] as const;
export type Contender = (typeof CONTENDERS)[number];
export const DEFAULT_CONTENDERS: readonly Contender[] = [
  'scopegraph',
  'unscoped',
  'postgraphile',
  'raw',
];

export const SCENARIOS = [1, 2, 3, 4, 5] as const;
export type Scenario = (typeof SCENARIOS)[number];
/** The scenarios autocannon measures on every contender; 5, the sign-in flood, is apart. */
export type LoadScenario = Exclude<Scenario, 5>;
export const FLOOD_SCENARIO = 5;

export type Options = Readonly<{
  quick: boolean;
  serverUrl: string;
  orgs: number;
  postsPerOrg: number;
  minPosts: number;
  zipf: number;
  bigPosts: number;
  /** Tenants the read scenarios rotate over (a spread across the sizes). */
  rotate: number;
  /** Seconds per measurement. */
  duration: number;
  /** Seconds of warm-up per scenario and contender before the first round (3× for the first). */
  warmup: number;
  connections: readonly number[];
  contenders: readonly Contender[];
  scenarios: readonly Scenario[];
  rounds: number;
  /** Scenario 5: concurrent clients flooding bad sign-ins, and signed-in clients measured. */
  flood: number;
  floodMembers: number;
  poolSize: number;
  logLevel: string;
  keep: boolean;
  scale: readonly number[] | null;
  scaleDuration: number;
  out: string | null;
  /** Another checkout of scopegraph whose server runs as the `baseline` contender. */
  baseline: string | null;
  /** A Citus coordinator: the same data there, served as the `scopegraph-citus` contender. */
  citusUrl: string | null;
}>;

export const USAGE = `npm run bench -- [flags]

  --quick                 smoke run: tiny data, 1 s per measurement, one round
  --orgs N                organizations with Zipf-distributed sizes (default 1000; quick 20)
  --posts-per-org N       average posts per organization (default 200: ~200k posts)
  --big-posts N           posts of the extra scenario-4 tenant (default 100000; quick 2000)
  --rotate N              tenants the read scenarios rotate over (default 100)
  --duration S            seconds per measurement (default 1.5; quick 1)
  --warmup S              warm-up seconds per scenario and contender (default 1; quick 0.3)
  --connections 1,8,32    concurrency levels
  --contenders LIST       scopegraph,unscoped,postgraphile,raw (also: raw-tx, scopegraph-semi32, scopegraph-semi64, scopegraph-ordinary, scopegraph-citus, baseline)
  --baseline DIR          another checkout of scopegraph (e.g. a git worktree of an earlier commit, with
                          node_modules and its generated client): its bench/servers/scopegraph.ts runs as
                          the contender \`baseline\`, beside this checkout's, to measure a change side by side
  --citus URL             a Citus coordinator (its maintenance database): the bench database is made and
                          seeded there too (every node), and scopegraph serves it as \`scopegraph-citus\`,
                          beside the others on DATABASE_URL; nothing of it runs without this flag
  --scenarios 1,2,3,4,5   1 nested list, 2 post by id, 3 createPost, 4 deep page of the big tenant,
                          5 sign-in flood (scopegraph contenders only: signed-in { viewer { id } } idle,
                          then while bad sign-ins flood from one address and from many)
  --flood N               scenario 5: concurrent clients sending bad sign-ins (default 16)
  --flood-members N       scenario 5: concurrent signed-in clients measured (default 4)
  --rounds N              alternating rounds (default 2; quick 1)
  --pool N                database pool size of every server (default 10)
  --log-level L           the GraphQL servers' pino level (default info, as shipped)
  --scale 10,1000,10000   tenant counts of the scale curve (quick 2,20,200)
  --scale-duration S      seconds per scale point and contender (default: --duration)
  --no-scale              skip the scale curve
  --keep                  keep the bench databases (their names are printed)
  --out FILE              report path (default bench/results/<date>.md; quick: <date>-quick.md)
  DATABASE_URL            the PostgreSQL server (default postgresql://postgres@127.0.0.1:5432/postgres)
`;

function list<T>(value: string, parse: (item: string) => T): T[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '')
    .map(parse);
}

function positive(flag: string, value: string | undefined, integer = true): number {
  const n = Number(value);
  if (!value || !Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new Error(`${flag} needs a positive ${integer ? 'integer' : 'number'}, got ${value}`);
  }
  return n;
}

export function parseOptions(argv: readonly string[], env = process.env): Options {
  const quick = argv.includes('--quick');
  const o = {
    quick,
    serverUrl: env.DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/postgres',
    orgs: quick ? 20 : 1000,
    postsPerOrg: quick ? 60 : 200,
    minPosts: 25,
    zipf: 1,
    bigPosts: quick ? 2000 : 100_000,
    rotate: 100,
    duration: quick ? 1 : 1.5,
    warmup: quick ? 0.3 : 1,
    connections: [1, 8, 32] as readonly number[],
    contenders: DEFAULT_CONTENDERS,
    scenarios: SCENARIOS as readonly Scenario[],
    rounds: quick ? 1 : 2,
    flood: 16,
    floodMembers: 4,
    poolSize: 10,
    logLevel: 'info',
    keep: false,
    scale: (quick ? [2, 20, 200] : [10, 1000, 10_000]) as readonly number[] | null,
    scaleDuration: 0,
    out: null as string | null,
    baseline: null as string | null,
    citusUrl: null as string | null,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] ?? '';
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--quick':
        break;
      case '--orgs':
        o.orgs = positive(flag, value());
        break;
      case '--posts-per-org':
        o.postsPerOrg = positive(flag, value());
        break;
      case '--big-posts':
        o.bigPosts = positive(flag, value());
        break;
      case '--rotate':
        o.rotate = positive(flag, value());
        break;
      case '--duration':
        o.duration = positive(flag, value(), false);
        break;
      case '--warmup':
        o.warmup = Number(value());
        break;
      case '--connections':
        o.connections = list(value(), (c) => positive(flag, c));
        break;
      case '--contenders':
        o.contenders = list(value(), (c) => {
          if (!(CONTENDERS as readonly string[]).includes(c)) {
            throw new Error(`unknown contender ${c} (${CONTENDERS.join(', ')})`);
          }
          return c as Contender;
        });
        break;
      case '--scenarios':
        o.scenarios = list(value(), (s) => {
          const n = Number(s);
          if (!(SCENARIOS as readonly number[]).includes(n))
            throw new Error(`unknown scenario ${s}`);
          return n as Scenario;
        });
        break;
      case '--rounds':
        o.rounds = positive(flag, value());
        break;
      case '--flood':
        o.flood = positive(flag, value());
        break;
      case '--flood-members':
        o.floodMembers = positive(flag, value());
        break;
      case '--pool':
        o.poolSize = positive(flag, value());
        break;
      case '--log-level':
        o.logLevel = value();
        break;
      case '--scale':
        o.scale = list(value(), (n) => positive(flag, n));
        break;
      case '--scale-duration':
        o.scaleDuration = positive(flag, value(), false);
        break;
      case '--no-scale':
        o.scale = null;
        break;
      case '--keep':
        o.keep = true;
        break;
      case '--out':
        o.out = value();
        break;
      case '--baseline':
        o.baseline = value();
        break;
      case '--citus':
        o.citusUrl = value();
        break;
      case '--help':
      case '-h':
        console.log(USAGE);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown flag ${flag}\n\n${USAGE}`);
    }
  }
  if (o.contenders.length === 0) throw new Error('--contenders is empty');
  if (o.scenarios.length === 0) throw new Error('--scenarios is empty');
  if (o.connections.length === 0) throw new Error('--connections is empty');
  if (o.warmup < 0 || !Number.isFinite(o.warmup)) throw new Error('--warmup needs a number >= 0');
  // Writes run after the reads, so the read scenarios always see the seeded data (and its
  // oracle); the sign-in flood runs last, so its load and the limits it trips touch nothing else.
  const rank = (s: Scenario) => (s === 5 ? 7 : s === 3 ? 6 : s);
  o.scenarios = [...new Set(o.scenarios)].sort((a, b) => rank(a) - rank(b));
  o.contenders = [...new Set(o.contenders)];
  if (o.baseline && !o.contenders.includes('baseline'))
    o.contenders = [...o.contenders, 'baseline'];
  if (o.contenders.includes('baseline') && !o.baseline) {
    throw new Error('the baseline contender needs --baseline DIR');
  }
  if (o.citusUrl && !o.contenders.includes('scopegraph-citus'))
    o.contenders = [...o.contenders, 'scopegraph-citus'];
  if (o.contenders.includes('scopegraph-citus') && !o.citusUrl) {
    throw new Error('the scopegraph-citus contender needs --citus URL (a Citus coordinator)');
  }
  if (o.scaleDuration === 0) o.scaleDuration = o.duration;
  return Object.freeze(o);
}
