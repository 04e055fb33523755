// One measurement: autocannon (programmatic) against one server at one concurrency for a fixed
// time, rotating over precomputed (or freshly made) requests.
import autocannon from 'autocannon';
import type { HttpRequest } from './workload.ts';

export type LoadResult = Readonly<{
  /** Responses received within the run. */
  responses: number;
  seconds: number;
  rps: number;
  /** Exact latencies of every response, in ms (autocannon's histogram rounds to 1 ms). */
  latencies: Float64Array;
  non2xx: number;
  /** Connection errors and timeouts. */
  errors: number;
  timeouts: number;
}>;

let current: autocannon.Instance | null = null;

/** Stops the run in progress (Ctrl-C): its promise still settles. */
export function stopLoad(): void {
  current?.stop();
}

export function runLoad(
  url: string,
  connections: number,
  seconds: number,
  next: () => HttpRequest,
): Promise<LoadResult> {
  const latencies: number[] = [];
  let non2xx = 0;
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url,
        connections,
        duration: seconds,
        method: 'POST',
        timeout: 30,
        // autocannon checks for the end of the run once per sample (1 s by default): a 1.5 s
        // run would last 2 s. Sampling every 50 ms ends it within 50 ms of `duration`.
        sampleInt: 50,
        // One request template whose headers and body change every time: requests rotate over
        // tenants (and scenario 3 makes a fresh body per request).
        requests: [
          {
            method: 'POST',
            setupRequest: (request) => {
              const { headers, body } = next();
              return { ...request, headers, body };
            },
          },
        ],
      },
      (error: unknown, result: autocannon.Result) => {
        current = null;
        if (error) return reject(error);
        // autocannon's own clock (seconds, from its start to its stop); ours as a fallback.
        const secondsRun =
          result.duration > 0 ? result.duration : (performance.now() - started) / 1000;
        resolve({
          responses: latencies.length,
          seconds: secondsRun,
          rps: latencies.length / secondsRun,
          latencies: Float64Array.from(latencies),
          non2xx,
          errors: result.errors,
          timeouts: result.timeouts,
        });
      },
    );
    current = instance;
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      latencies.push(responseTime);
      if (statusCode < 200 || statusCode >= 300) non2xx++;
    });
  });
}

/** Percentile by the nearest-rank method over sorted samples. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))] ?? Number.NaN;
}

export function merge(parts: readonly Float64Array[]): Float64Array {
  const all = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return all.sort();
}
