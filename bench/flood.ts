// The sign-in flood, shared by `npm run bench` (scenario 5, the shipped server) and
// `npm run bench:credentials` (its own servers, limits off, hashing caps varied): signed-in
// members asking `{ viewer { id } }` back to back, idle or while clients flood bad sign-ins, and
// how those sign-ins were answered.
//
// Plain node:http with a keep-alive agent rather than fetch: a request can name the local address
// its connection comes from. All of 127.0.0.0/8 is loopback on Linux, so a flood can come from
// many client addresses that the server sees as socket peers, without the server trusting
// X-Forwarded-For (which it does only from TRUST_PROXY's proxies; the bench servers set none).
import { Agent, request } from 'node:http';
import { merge, percentile } from './load.ts';

export type FloodSource =
  /** Every flooding client from 127.0.0.1, like the members: one address. */
  | 'one address'
  /** Each flooding client moves to a fresh loopback address every SIGN_INS_PER_ADDRESS sign-ins. */
  | 'many addresses';

export type FloodLoad = Readonly<{
  url: string;
  /** A valid token of a member; its viewer id must be `viewerId` (when given). */
  token: string;
  viewerId?: string;
  /** Concurrent signed-in clients. */
  members: number;
  /** Concurrent clients sending bad sign-ins; 0: the idle measurement. */
  flood: number;
  source?: FloodSource;
  seconds: number;
}>;

export type FloodPhase = Readonly<{
  /** Each member request's latency, ms. */
  latencies: Float64Array;
  /** Member requests without the member's viewer id (must be 0). */
  errors: number;
  /** The bad sign-ins by answer: `<HTTP status> <first error code>`, e.g. `429 RATE_LIMITED`. */
  signIns: ReadonlyMap<string, number>;
}>;

/** Fewer than the shipped per-address limit (30 in 5 minutes) and the lockouts' thresholds. */
export const SIGN_INS_PER_ADDRESS = 4;
/** A refused sign-in is retried after this pause: a flood, not a busy loop. */
export const RETRY_PAUSE_MS = 20;
/** Time the flood gets to fill the server before the members are measured. */
const FILL_MS = 500;

const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
const SIGN_IN = 'mutation($input: SignInInput!) { signIn(input: $input) { token } }';

type Answer = Readonly<{ status: number; body: string }>;

function post(url: string, body: unknown, token?: string, localAddress?: string): Promise<Answer> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        localAddress,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** `<status> <code>` of an answer: its first GraphQL error's code, or `ok` without errors. */
function answerOf(answer: Answer | null): string {
  if (!answer) return 'connection error';
  let code = 'ok';
  try {
    const json = JSON.parse(answer.body) as {
      errors?: { extensions?: { code?: string } }[];
    };
    if (json.errors) code = json.errors[0]?.extensions?.code ?? 'error without code';
  } catch {
    code = 'not JSON';
  }
  return `${answer.status} ${code}`;
}

/** Loopback addresses from 127.1.0.0 on (never 127.0.0.1), a fresh one each call, run-wide. */
let nextAddress = 0;
function freshAddress(): string {
  const n = (1 << 16) + (nextAddress++ % ((1 << 24) - (1 << 17)));
  return `127.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

/** One phase: `members` clients for `seconds`, with `flood` clients flooding bad sign-ins. */
export async function measureFlood(load: FloodLoad): Promise<FloodPhase> {
  const signIns = new Map<string, number>();
  const latencies: number[] = [];
  let errors = 0;
  let stop = false;
  const floods = Array.from({ length: load.flood }, async (_, i) => {
    let address = load.source === 'many addresses' ? freshAddress() : undefined;
    for (let n = 0; !stop; n++) {
      if (address && n > 0 && n % SIGN_INS_PER_ADDRESS === 0) address = freshAddress();
      const input = {
        organizationSlug: 'nowhere',
        email: `x${i}-${n}-${Math.random().toString(36).slice(2)}@example.com`,
        password: 'guess-123',
      };
      const answer = await post(
        load.url,
        { query: SIGN_IN, variables: { input } },
        undefined,
        address,
      ).catch(() => null);
      const key = answerOf(answer);
      signIns.set(key, (signIns.get(key) ?? 0) + 1);
      // A refusal (429 rate limited, 503 hashing busy) comes back at once: a real attacker
      // retries, and so do these, after a breath, so that the flood stays a flood.
      if (!answer || answer.status === 429 || answer.status === 503) {
        await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS));
      }
    }
  });
  if (load.flood > 0) await new Promise((resolve) => setTimeout(resolve, FILL_MS));
  const until = performance.now() + load.seconds * 1000;
  const members = Array.from({ length: load.members }, async () => {
    while (performance.now() < until) {
      const started = performance.now();
      const answer = await post(load.url, { query: '{ viewer { id } }' }, load.token).catch(
        () => null,
      );
      latencies.push(performance.now() - started);
      let id: string | undefined;
      try {
        id = (JSON.parse(answer?.body ?? '') as { data?: { viewer?: { id?: string } } }).data
          ?.viewer?.id;
      } catch {}
      if (answer?.status !== 200 || !id || (load.viewerId && id !== load.viewerId)) errors++;
    }
  });
  await Promise.all(members);
  stop = true;
  await Promise.all(floods);
  return { latencies: Float64Array.from(latencies), errors, signIns };
}

export type FloodSummary = Readonly<{
  idleP50: number;
  idleP99: number;
  floodP50: number;
  floodP99: number;
  idleRequests: number;
  floodRequests: number;
  /** Member requests that failed, idle and flooded. */
  errors: number;
  signIns: ReadonlyMap<string, number>;
}>;

/** Idle and flooded phases (every round of one server and flood), pooled. */
export function summarizeFlood(
  idle: readonly FloodPhase[],
  flood: readonly FloodPhase[],
): FloodSummary {
  const i = merge(idle.map((p) => p.latencies));
  const f = merge(flood.map((p) => p.latencies));
  const signIns = new Map<string, number>();
  for (const phase of flood) {
    for (const [key, n] of phase.signIns) signIns.set(key, (signIns.get(key) ?? 0) + n);
  }
  return {
    idleP50: percentile(i, 50),
    idleP99: percentile(i, 99),
    floodP50: percentile(f, 50),
    floodP99: percentile(f, 99),
    idleRequests: i.length,
    floodRequests: f.length,
    errors: [...idle, ...flood].reduce((n, p) => n + p.errors, 0),
    signIns: new Map([...signIns].sort((a, b) => b[1] - a[1])),
  };
}

/** One Markdown table, a row per flooded server: `label` names the first column. */
export function floodTable(label: string, rows: readonly (readonly [string, FloodSummary])[]) {
  const f = (ms: number) => (Number.isFinite(ms) ? ms.toFixed(2) : '–');
  const ratio = (a: number, b: number) => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}×` : '–');
  const lines = [
    `| ${label} | idle p50 ms | idle p99 ms | flood p50 ms | flood p99 ms | p50 flood ÷ idle | p99 flood ÷ idle | member requests (idle / flood) | member errors | bad sign-ins answered |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const [name, s] of rows) {
    const answers = [...s.signIns].map(([key, n]) => `${key}: ${n}`).join(', ') || '–';
    lines.push(
      `| ${name} | ${f(s.idleP50)} | ${f(s.idleP99)} | ${f(s.floodP50)} | ${f(s.floodP99)} | ${ratio(s.floodP50, s.idleP50)} | ${ratio(s.floodP99, s.idleP99)} | ${s.idleRequests} / ${s.floodRequests} | ${s.errors} | ${answers} |`,
    );
  }
  return lines.join('\n');
}
