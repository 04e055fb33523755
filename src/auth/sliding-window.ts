import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { ServiceUnavailable } from '../errors.ts';

/**
 * Sliding-window logs: per key, the times (ms) of the events of the last `windowMs`. Used for
 * the credential rate limits and the sign-in failure counts (src/auth/credential-guard.ts).
 * A log, not a counter per fixed window: a client cannot send twice the limit across a window
 * boundary. In memory for one instance; in Redis (sorted sets, one Lua script per call, so a
 * check-and-add is atomic across instances) when several share the limits.
 */
export type WindowLogs = Readonly<{
  kind: 'memory' | 'redis';
  /**
   * Adds an event at `now` unless `limit` events are already in the window. Refused: in how
   * many ms the oldest event that keeps it full leaves the window.
   */
  take: (key: string, limit: number, windowMs: number, now: number) => Promise<Take>;
  /** Adds an event at `now` (when `add`), and tells how many are in the window and the newest. */
  note: (key: string, windowMs: number, now: number, add: boolean) => Promise<Tally>;
  clear: (keys: readonly string[]) => Promise<void>;
  close: () => Promise<void>;
}>;

export type Take = Readonly<{ allowed: boolean; retryAfterMs: number }>;
export type Tally = Readonly<{ count: number; newest: number | null }>;

type Log = { times: number[]; windowMs: number };

/** One process: a Map of arrays, pruned on access and swept every few thousand calls. */
export function memoryWindowLogs(): WindowLogs {
  const logs = new Map<string, Log>();
  let calls = 0;
  const prune = (key: string, windowMs: number, now: number): Log => {
    if (++calls % 4096 === 0) sweep(now);
    const log = logs.get(key) ?? { times: [], windowMs };
    log.windowMs = Math.max(log.windowMs, windowMs);
    const from = now - windowMs;
    let drop = 0;
    while (drop < log.times.length && (log.times[drop] ?? 0) <= from) drop++;
    if (drop > 0) log.times.splice(0, drop);
    logs.set(key, log);
    return log;
  };
  const sweep = (now: number) => {
    for (const [key, log] of logs) {
      const newest = log.times.at(-1);
      if (newest === undefined || newest <= now - log.windowMs) logs.delete(key);
    }
  };
  return Object.freeze({
    kind: 'memory',
    take: async (key, limit, windowMs, now) => {
      const log = prune(key, windowMs, now);
      if (log.times.length >= limit) {
        const blocking = log.times[log.times.length - limit] ?? now;
        return { allowed: false, retryAfterMs: Math.max(1, blocking + windowMs - now) };
      }
      log.times.push(now);
      return { allowed: true, retryAfterMs: 0 };
    },
    note: async (key, windowMs, now, add) => {
      const log = prune(key, windowMs, now);
      if (add) log.times.push(now);
      return { count: log.times.length, newest: log.times.at(-1) ?? null };
    },
    clear: async (keys) => {
      for (const key of keys) logs.delete(key);
    },
    close: async () => logs.clear(),
  });
}

// Members are `<now>:<random>`, so two events in the same millisecond are two entries.
const TAKE = `
local key, now, window, limit = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
if count >= limit then
  local at = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
  return {0, tonumber(at[2]) + window - now}
end
redis.call('ZADD', key, now, ARGV[4])
redis.call('PEXPIRE', key, window)
return {1, 0}`;

const NOTE = `
local key, now, window = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if ARGV[3] == '1' then
  redis.call('ZADD', key, now, ARGV[4])
  redis.call('PEXPIRE', key, window)
end
local count = redis.call('ZCARD', key)
if count == 0 then return {0, -1} end
local newest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
return {count, tonumber(newest[2])}`;

/**
 * Shared by every instance on one Redis. Times come from the instances' clocks (kept in sync by
 * NTP), so the same code paths and tests serve both stores. `prefix` keeps deployments (and
 * test runs) sharing a Redis apart.
 */
export function redisWindowLogs(redis: Redis, prefix = 'scopegraph:limits:'): WindowLogs {
  const member = (now: number) => `${now}:${randomBytes(6).toString('base64url')}`;
  // Closed, not open, while Redis is unreachable: no credential operation runs unlimited.
  const unavailable = (): never => {
    throw new ServiceUnavailable();
  };
  return Object.freeze({
    kind: 'redis',
    take: async (key, limit, windowMs, now) => {
      const [allowed, retryAfterMs] = (await redis.eval(
        TAKE,
        1,
        prefix + key,
        now,
        windowMs,
        limit,
        member(now),
      )) as [number, number];
      return {
        allowed: allowed === 1,
        retryAfterMs: allowed === 1 ? 0 : Math.max(1, retryAfterMs),
      };
    },
    note: async (key, windowMs, now, add) => {
      const [count, newest] = (await redis
        .eval(NOTE, 1, prefix + key, now, windowMs, add ? '1' : '0', member(now))
        .catch(unavailable)) as [number, number];
      return { count, newest: newest < 0 ? null : newest };
    },
    clear: async (keys) => {
      if (keys.length > 0) await redis.del(...keys.map((key) => prefix + key)).catch(unavailable);
    },
    close: async () => {
      redis.disconnect();
    },
  });
}

/** Its own connection to `url`; connection errors go to `onError` (ioredis retries). */
export function connectWindowLogs(url: string, onError: (error: unknown) => void): WindowLogs {
  const redis = new Redis(url, { maxRetriesPerRequest: 2 });
  redis.on('error', onError);
  return redisWindowLogs(redis);
}
