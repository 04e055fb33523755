import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import {
  addressBucket,
  type CredentialPolicy,
  createCredentialGuard,
  DEFAULT_CREDENTIAL_POLICY,
} from '../../src/auth/credential-guard.ts';
import { createPasswordHasher } from '../../src/auth/passwords.ts';
import {
  memoryWindowLogs,
  redisWindowLogs,
  type WindowLogs,
} from '../../src/auth/sliding-window.ts';
import { PasswordHashingBusy, RateLimited } from '../../src/errors.ts';
import { REDIS_URL, redisAnswers } from '../support/redis.ts';

const redisUp = await redisAnswers();

// One prefix per run, removed at the end: runs sharing the Redis never see each other's keys.
const prefix = `scopegraph:test:${randomBytes(6).toString('hex')}:`;
const redis = redisUp ? new Redis(REDIS_URL, { maxRetriesPerRequest: 1 }) : null;
afterAll(async () => {
  if (!redis) return;
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

const stores: [string, () => WindowLogs][] = [['memory', memoryWindowLogs]];
if (redis) {
  let n = 0;
  // Each test its own prefix below the run's: no test sees another's counts.
  stores.push(['redis', () => redisWindowLogs(redis, `${prefix}${n++}:`)]);
}

/** A clock the test moves by hand: backoffs are tested without waiting. */
function clock(start = 1_800_000_000_000) {
  let now = start;
  return { now: () => now, advance: (seconds: number) => (now += seconds * 1000) };
}

async function refusal(promise: Promise<unknown>): Promise<RateLimited> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RateLimited);
  return error as RateLimited;
}

const acme = { organizationSlug: 'acme', email: 'owner@example.com' };
const globex = { organizationSlug: 'globex', email: 'owner@example.com' };

describe.each(stores)('sliding-window logs (%s)', (_kind, make) => {
  it('take: allows `limit` events per window, then says when the oldest leaves it', async () => {
    const logs = make();
    const t = clock();
    for (let i = 0; i < 3; i++) {
      expect((await logs.take('k', 3, 10_000, t.now())).allowed).toBe(true);
      t.advance(1);
    }
    // Events at 0, 1 and 2 s: the one at 0 s leaves a 10 s window at 10 s, 7 s from now.
    expect(await logs.take('k', 3, 10_000, t.now())).toEqual({
      allowed: false,
      retryAfterMs: 7000,
    });
    // Positive control: another key is untouched.
    expect((await logs.take('other', 3, 10_000, t.now())).allowed).toBe(true);
    // Sliding, not fixed: at 10 s exactly one slot is free again, not three.
    t.advance(7);
    expect((await logs.take('k', 3, 10_000, t.now())).allowed).toBe(true);
    expect((await logs.take('k', 3, 10_000, t.now())).allowed).toBe(false);
  });

  it('note counts, remembers the newest, and clear empties', async () => {
    const logs = make();
    const t = clock();
    expect(await logs.note('f', 60_000, t.now(), false)).toEqual({ count: 0, newest: null });
    await logs.note('f', 60_000, t.now(), true);
    t.advance(5);
    expect(await logs.note('f', 60_000, t.now(), true)).toEqual({ count: 2, newest: t.now() });
    t.advance(56);
    expect((await logs.note('f', 60_000, t.now(), false)).count).toBe(1);
    await logs.clear(['f']);
    expect((await logs.note('f', 60_000, t.now(), false)).count).toBe(0);
  });
});

const POLICY: CredentialPolicy = {
  ...DEFAULT_CREDENTIAL_POLICY,
  signInPerAddress: { limit: 100, windowSeconds: 60 },
  signInPerAccount: { limit: 100, windowSeconds: 60 },
  lockout: {
    windowSeconds: 900,
    fromAddress: { after: 3, baseSeconds: 10, maxSeconds: 40 },
    anyAddress: { after: 5, baseSeconds: 2, maxSeconds: 8 },
  },
};

describe.each(stores)('the credential guard (%s)', (_kind, make) => {
  const fail = async (guard: ReturnType<typeof createCredentialGuard>, address: string) =>
    (await guard.signIn(address, acme)).settle(false);

  it('rate limits per address and per account, each with its positive control', async () => {
    const t = clock();
    const guard = createCredentialGuard(
      make(),
      {
        ...POLICY,
        signInPerAddress: { limit: 2, windowSeconds: 60 },
        signInPerAccount: { limit: 3, windowSeconds: 60 },
      },
      t.now,
    );
    await guard.signIn('203.0.113.1', acme);
    await guard.signIn('203.0.113.1', globex);
    const refused = await refusal(guard.signIn('203.0.113.1', acme));
    expect(refused.extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfter: 60 });
    // Another address still signs in to the same account…
    await guard.signIn('203.0.113.2', acme);
    // …until the account's own budget (3, from all addresses) is spent; another spelling of
    // the account is the same account.
    await guard.signIn('203.0.113.3', { organizationSlug: ' ACME', email: 'Owner@Example.com ' });
    await refusal(guard.signIn('203.0.113.4', acme));
    await guard.signIn('203.0.113.4', globex);
  });

  it('lockout: the address that fails waits longer each time, capped; others do not', async () => {
    const t = clock();
    const guard = createCredentialGuard(make(), POLICY, t.now);
    const attacker = '198.51.100.7';
    for (let i = 0; i < 3; i++) await fail(guard, attacker);
    // 3 failures: the attacker waits 10 s, whatever the password (refused before any check).
    expect((await refusal(guard.signIn(attacker, acme))).retryAfter).toBe(10);
    // Positive controls: another address and another account are not locked.
    await (await guard.signIn('192.0.2.1', acme)).settle(true);
    await guard.signIn(attacker, globex);
    t.advance(10);
    await fail(guard, attacker);
    expect((await refusal(guard.signIn(attacker, acme))).retryAfter).toBe(20);
    t.advance(20);
    await fail(guard, attacker);
    expect((await refusal(guard.signIn(attacker, acme))).retryAfter).toBe(40);
    t.advance(40);
    await fail(guard, attacker);
    // 6 failures: 10 · 2^3 = 80 s, capped at 40 s.
    expect((await refusal(guard.signIn(attacker, acme))).retryAfter).toBe(40);
    // The victim's success did not unlock the attacker's address, and the attacker's failures
    // (3 on the account since) leave the victim free.
    await (await guard.signIn('192.0.2.1', acme)).settle(true);
    await refusal(guard.signIn(attacker, acme));
    t.advance(40);
    // Once the wait is over, the right password from that address resets its count…
    await (await guard.signIn(attacker, acme)).settle(true);
    await fail(guard, attacker);
    await guard.signIn(attacker, acme);
    await fail(guard, attacker);
    await fail(guard, attacker);
    await refusal(guard.signIn(attacker, acme));
    // …and failures older than the lockout window (15 minutes) are forgotten.
    t.advance(901);
    await guard.signIn(attacker, acme);
  });

  it('failures spread over many addresses lock the account for everyone, briefly', async () => {
    const t = clock();
    const guard = createCredentialGuard(make(), POLICY, t.now);
    for (let i = 0; i < 5; i++) await fail(guard, `198.51.100.${10 + i}`);
    expect((await refusal(guard.signIn('192.0.2.1', acme))).retryAfter).toBe(2);
    // A locked account takes no guesses: the next ones come after each wait, which doubles…
    t.advance(2);
    await fail(guard, '198.51.100.20');
    expect((await refusal(guard.signIn('192.0.2.1', acme))).retryAfter).toBe(4);
    t.advance(4);
    await fail(guard, '198.51.100.21');
    t.advance(8);
    await fail(guard, '198.51.100.22');
    // …up to its cap: 8 failures would be 2 · 2^3 = 16 s, capped at 8 s.
    expect((await refusal(guard.signIn('192.0.2.1', acme))).retryAfter).toBe(8);
    t.advance(8);
    await (await guard.signIn('192.0.2.1', acme)).settle(true);
    // Its success reset the account's count: the next failure locks nobody.
    await fail(guard, '198.51.100.30');
    await guard.signIn('192.0.2.1', acme);
  });

  it('sign-ups per address, member creations per organization, password changes per user', async () => {
    const t = clock();
    const one = { limit: 1, windowSeconds: 60 };
    const guard = createCredentialGuard(
      make(),
      {
        ...POLICY,
        signUpPerAddress: one,
        createMemberPerOrganization: one,
        changePasswordPerUser: one,
      },
      t.now,
    );
    await guard.signUp('203.0.113.1');
    await refusal(guard.signUp('203.0.113.1'));
    await guard.signUp('203.0.113.2');
    await guard.createMember('org-a');
    await refusal(guard.createMember('org-a'));
    await guard.createMember('org-b');
    await guard.changePassword('user-a');
    await refusal(guard.changePassword('user-a'));
    await guard.changePassword('user-b');
    t.advance(60);
    await guard.signUp('203.0.113.1');
  });
});

describe('address buckets', () => {
  it('one per IPv4 address, one per IPv6 /64, one for no address', () => {
    expect(addressBucket('203.0.113.1')).toBe('203.0.113.1');
    expect(addressBucket('::ffff:203.0.113.1')).toBe('203.0.113.1');
    expect(addressBucket('2001:db8:1:2::1')).toBe(addressBucket('2001:db8:1:2:ffff:0:0:9'));
    expect(addressBucket('2001:db8:1:2::1')).toBe('2001:0db8:0001:0002::/64');
    expect(addressBucket('2001:db8:1:3::1')).not.toBe(addressBucket('2001:db8:1:2::1'));
    expect(addressBucket(null)).toBe('none');
  });
});

describe('the password-hashing cap', () => {
  it('runs `concurrency` hashes at once, queues `queue` more, refuses the rest', async () => {
    const hasher = createPasswordHasher({ concurrency: 1, queue: 1 });
    const first = hasher.hash('first-password-1');
    const second = hasher.hash('second-password-2');
    // The second waits for the first's slot: it has not started.
    expect(hasher.started()).toBe(1);
    await expect(hasher.hash('third-password-3')).rejects.toBeInstanceOf(PasswordHashingBusy);
    const [a, b] = await Promise.all([first, second]);
    expect(hasher.started()).toBe(2);
    // Positive control: with the slot free again, a hash runs, and verifies.
    expect(await hasher.verify('first-password-1', a)).toBe(true);
    expect(await hasher.verify('first-password-1', b)).toBe(false);
  });
});
