import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { PasswordHashingBusy } from '../errors.ts';

// OWASP's scrypt floor: N=2^17, r=8, p=1 (128 MiB of work memory per hash).
const PARAMS = { N: 2 ** 17, r: 8, p: 1, maxmem: 256 * 1024 * 1024 } as const;
const KEY_LENGTH = 32;

function derive(password: string, salt: Buffer, params: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFKC'), salt, KEY_LENGTH, params, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}

/** `scrypt$N$r$p$salt$hash`, base64url: the parameters travel with the hash. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, PARAMS);
  return [
    'scrypt',
    PARAMS.N,
    PARAMS.r,
    PARAMS.p,
    salt.toString('base64url'),
    key.toString('base64url'),
  ].join('$');
}

/**
 * Constant-time comparison. With no stored hash (unknown user) it still does the full work
 * against a dummy, so response times do not tell whether an account exists.
 */
export async function verifyPassword(password: string, stored: string | null): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = (stored ?? DUMMY).split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const actual = await derive(password, Buffer.from(salt, 'base64url'), {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    maxmem: PARAMS.maxmem,
  });
  return stored !== null && actual.length === expected.length && timingSafeEqual(actual, expected);
}

const DUMMY = `scrypt$${PARAMS.N}$${PARAMS.r}$${PARAMS.p}$${'A'.repeat(22)}$${'A'.repeat(43)}`;

export type HashingLimits = Readonly<{
  /** Hashes running at once. Each holds one of libuv's 4 threads (and 128 MiB) for ~250 ms. */
  concurrency: number;
  /** Hashes waiting for a slot; beyond that a request is refused (PASSWORD_HASHING_BUSY). */
  queue: number;
}>;

/**
 * scrypt runs on libuv's thread pool (4 threads by default), the same pool WebCrypto uses to
 * verify every signed-in request's token. Unbounded, a flood of sign-ins fills all four threads
 * and queues everyone's token checks behind 250 ms hashes (seconds, in bench/credentials.ts).
 * At most two at a time leave the other threads to token verification, and at most one core
 * less than the machine has leaves a core to the event loop (scrypt is CPU-bound: on 2 cores,
 * one at a time); a short bounded queue keeps memory and waiting time bounded too.
 */
export const DEFAULT_HASHING: HashingLimits = {
  concurrency: Math.max(1, Math.min(2, availableParallelism() - 1)),
  queue: 32,
};

export type PasswordHasher = Readonly<{
  hash: (password: string) => Promise<string>;
  verify: (password: string, stored: string | null) => Promise<boolean>;
  /** Hashes started since creation (tests check that refused requests hashed nothing). */
  started: () => number;
}>;

export function createPasswordHasher(limits: HashingLimits = DEFAULT_HASHING): PasswordHasher {
  let running = 0;
  let started = 0;
  const waiting: (() => void)[] = [];
  const run = async <T>(work: () => Promise<T>): Promise<T> => {
    if (running >= limits.concurrency) {
      if (waiting.length >= limits.queue) throw new PasswordHashingBusy();
      await new Promise<void>((resolve) => waiting.push(resolve));
    } else {
      running++;
    }
    started++;
    try {
      return await work();
    } finally {
      // The slot passes to the next waiter as is: `running` only drops when nobody waits.
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  };
  return Object.freeze({
    hash: (password) => run(() => hashPassword(password)),
    verify: (password, stored) => run(() => verifyPassword(password, stored)),
    started: () => started,
  });
}
