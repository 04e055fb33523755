import { createHash } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import { RateLimited } from '../errors.ts';
import type { WindowLogs } from './sliding-window.ts';

export type Limit = Readonly<{ limit: number; windowSeconds: number }>;

/** After `after` failures in the lockout window, each attempt waits `base · 2^(n − after)`, at most `max` seconds. */
export type Backoff = Readonly<{ after: number; baseSeconds: number; maxSeconds: number }>;

export type CredentialPolicy = Readonly<{
  /** signIn attempts per client address (sliding window). */
  signInPerAddress: Limit;
  /** signIn attempts per account (organization slug + email), from every address together. */
  signInPerAccount: Limit;
  /** signUp attempts per client address. */
  signUpPerAddress: Limit;
  /** createMember calls per organization. */
  createMemberPerOrganization: Limit;
  /** changePassword calls per user. */
  changePasswordPerUser: Limit;
  lockout: Readonly<{
    /** How far back failed sign-ins count. */
    windowSeconds: number;
    /** Failures on the account from the address signing in: that address's own, long backoff. */
    fromAddress: Backoff;
    /** Failures on the account from all addresses together: everyone's, short backoff. */
    anyAddress: Backoff;
  }>;
}>;

/**
 * Production defaults. Tokens live 12 h, so one person signs in a few times a day; an office
 * behind one NAT address shares the per-address budget. An attacker at one address gets about
 * 10 guesses per account before waiting 15 minutes per guess; many addresses together get about
 * one guess a minute per account. The victim, at another address, waits at most 60 s after the
 * last failure (the per-account rate limit too is a 60 s window).
 */
export const DEFAULT_CREDENTIAL_POLICY: CredentialPolicy = {
  signInPerAddress: { limit: 30, windowSeconds: 300 },
  signInPerAccount: { limit: 10, windowSeconds: 60 },
  signUpPerAddress: { limit: 5, windowSeconds: 3600 },
  createMemberPerOrganization: { limit: 60, windowSeconds: 600 },
  changePasswordPerUser: { limit: 5, windowSeconds: 900 },
  lockout: {
    windowSeconds: 900,
    fromAddress: { after: 5, baseSeconds: 30, maxSeconds: 900 },
    anyAddress: { after: 10, baseSeconds: 5, maxSeconds: 60 },
  },
};

export type Account = Readonly<{ organizationSlug: string; email: string }>;

/** What a sign-in attempt is allowed to do next; `settle` records how it went. */
export type SignInPermit = Readonly<{ settle: (succeeded: boolean) => Promise<void> }>;

export type CredentialGuard = Readonly<{
  /** Rate limits and lockout for one sign-in, checked before any hashing. */
  signIn: (address: string | null, account: Account) => Promise<SignInPermit>;
  signUp: (address: string | null) => Promise<void>;
  createMember: (organizationId: string) => Promise<void>;
  changePassword: (userId: string) => Promise<void>;
}>;

export function createCredentialGuard(
  logs: WindowLogs,
  policy: CredentialPolicy = DEFAULT_CREDENTIAL_POLICY,
  now: () => number = Date.now,
): CredentialGuard {
  const take = async (key: string, { limit, windowSeconds }: Limit, message?: string) => {
    const result = await logs.take(key, limit, windowSeconds * 1000, now());
    if (!result.allowed) throw new RateLimited(result.retryAfterMs / 1000, message);
  };
  const lockoutMs = policy.lockout.windowSeconds * 1000;
  /** Milliseconds left of the backoff that `tally` earns, 0 when none. */
  const waitOf = (
    tally: { count: number; newest: number | null },
    backoff: Backoff,
    at: number,
  ) => {
    if (tally.count < backoff.after || tally.newest === null) return 0;
    const delay = Math.min(
      backoff.maxSeconds,
      backoff.baseSeconds * 2 ** (tally.count - backoff.after),
    );
    return Math.max(0, tally.newest + delay * 1000 - at);
  };
  return Object.freeze({
    signIn: async (address, account) => {
      const bucket = addressBucket(address);
      const who = accountKey(account);
      await take(`signin:addr:${bucket}`, policy.signInPerAddress);
      await take(`signin:acct:${who}`, policy.signInPerAccount);
      const failuresHere = `fail:${who}:${bucket}`;
      const failuresAll = `fail:${who}`;
      const at = now();
      const [here, all] = await Promise.all([
        logs.note(failuresHere, lockoutMs, at, false),
        logs.note(failuresAll, lockoutMs, at, false),
      ]);
      const wait = Math.max(
        waitOf(here, policy.lockout.fromAddress, at),
        waitOf(all, policy.lockout.anyAddress, at),
      );
      // Refused before hashing: during a lockout even the right password does not get in.
      if (wait > 0) throw new RateLimited(wait / 1000, 'Too many failed sign-ins; try again later');
      return Object.freeze({
        settle: async (succeeded: boolean) => {
          if (succeeded) {
            await logs.clear([failuresHere, failuresAll]);
            return;
          }
          const when = now();
          await Promise.all([
            logs.note(failuresHere, lockoutMs, when, true),
            logs.note(failuresAll, lockoutMs, when, true),
          ]);
        },
      });
    },
    signUp: (address) => take(`signup:addr:${addressBucket(address)}`, policy.signUpPerAddress),
    createMember: (organizationId) =>
      take(`member:org:${organizationId}`, policy.createMemberPerOrganization),
    changePassword: (userId) => take(`password:user:${userId}`, policy.changePasswordPerUser),
  });
}

/**
 * The account a sign-in names, whether or not it exists (so that limits say nothing about which
 * accounts do), hashed: the limit store never holds an email address.
 */
function accountKey(account: Account): string {
  const slug = account.organizationSlug.trim().toLowerCase();
  const email = account.email.trim().toLowerCase();
  return createHash('sha256').update(`${slug}\u0000${email}`).digest('base64url').slice(0, 32);
}

/**
 * One bucket per IPv4 address and per IPv6 /64 (one subscriber usually holds a whole /64), and
 * one for every request without an address (in-process calls).
 */
export function addressBucket(address: string | null): string {
  if (address === null) return 'none';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1]) return mapped[1];
  if (isIPv4(address)) return address;
  if (!isIPv6(address)) return 'none';
  const [head = '', tail = ''] = address.toLowerCase().split('%')[0]?.split('::') ?? [];
  const left = head ? head.split(':') : [];
  const right = address.includes('::') ? (tail ? tail.split(':') : []) : [];
  const groups = address.includes('::')
    ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((group) => group.padStart(4, '0'))
    .join(':')}::/64`;
}
