import { Repeater } from '@graphql-yoga/subscription';
import { type Credential, memberScope } from '../auth/authenticate.ts';
import {
  type AppError,
  OrganizationSuspended,
  ServiceUnavailable,
  TooManyStreams,
  Unauthenticated,
} from '../errors.ts';
import type { ScopedClients, ScopedTx } from '../tenancy/scoped-client.ts';
import type { ScopedEvents } from './bus.ts';

/**
 * Subscription streams that end when their member's access does.
 *
 * A stream is opened by one request, whose member was checked once, when it started. Access can
 * end while it runs: the member is removed, the organization suspended or marked for deletion,
 * the token expires (or is invalidated: memberScope checks that too). So:
 * - every event is delivered through `read`: one read-only unit of work that runs the member
 *   lookup of src/auth/authenticate.ts first, then the resolver's re-read of the row;
 * - every stream listens on its organization's `accessChanged` topic (published by the
 *   mutations that end access, through Redis when the API runs on several instances) and
 *   re-checks at once, without waiting for a data event;
 * - a timer ends it when its token expires.
 * The first failure ends the stream: its last event carries the error (`UNAUTHENTICATED`,
 * `ORGANIZATION_SUSPENDED`), then it completes. The check reads the database each time and never
 * trusts a control event's content: an event only says when to look.
 *
 * Open streams are counted per member and per organization on each instance (in memory, not
 * across instances): past a limit a new one is `TOO_MANY_STREAMS` (HTTP 429).
 */
export type StreamLimits = Readonly<{ perMember: number; perOrganization: number }>;

export const STREAM_LIMITS: StreamLimits = Object.freeze({ perMember: 5, perOrganization: 100 });

/** What one request can stream, as its member: built by the context factory (src/http/yoga.ts). */
export type MemberStreams = Readonly<{
  /**
   * The events of `source` as a stream that ends when access does, in a slot of the limits
   * (throws TOO_MANY_STREAMS when none is free).
   */
  open: <T>(source: AsyncIterable<T>) => AsyncIterable<T>;
  /** Runs `read` for one event, in one read-only unit of work, after the member check. */
  read: <T>(read: (db: ScopedTx) => Promise<T>) => Promise<T>;
}>;

/** The open streams of this instance. */
export type StreamSlots = Readonly<{
  /** Takes a slot for `credential`'s member, or throws TOO_MANY_STREAMS; returns its release. */
  take: (credential: Credential) => () => void;
  /** Streams open now, for `organizationId` or in all. */
  count: (organizationId?: string) => number;
  /** Calls `end` at shutdown (at once if it has begun); returns the unregister. */
  onShutdown: (end: () => void) => () => void;
  /**
   * Shutdown: ends every open stream (each completes: Yoga sends `complete`) and refuses new
   * ones (SERVICE_UNAVAILABLE). Returns how many were open.
   */
  endAll: () => number;
}>;

export function createStreamSlots(limits: StreamLimits = STREAM_LIMITS): StreamSlots {
  const byMember = new Map<string, number>();
  const byOrganization = new Map<string, number>();
  const change = (counts: Map<string, number>, key: string, delta: number) => {
    const next = (counts.get(key) ?? 0) + delta;
    if (next > 0) counts.set(key, next);
    else counts.delete(key);
  };
  const enders = new Set<() => void>();
  let shuttingDown = false;
  return Object.freeze({
    take: (credential: Credential) => {
      if (shuttingDown) throw new ServiceUnavailable();
      const organization = credential.organization.organizationId as string;
      const member = `${organization}:${credential.userId}`;
      if ((byMember.get(member) ?? 0) >= limits.perMember) {
        throw new TooManyStreams(limits.perMember, 'member');
      }
      if ((byOrganization.get(organization) ?? 0) >= limits.perOrganization) {
        throw new TooManyStreams(limits.perOrganization, 'organization');
      }
      change(byMember, member, 1);
      change(byOrganization, organization, 1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        change(byMember, member, -1);
        change(byOrganization, organization, -1);
      };
    },
    count: (organizationId?: string) =>
      organizationId === undefined
        ? [...byOrganization.values()].reduce((sum, n) => sum + n, 0)
        : (byOrganization.get(organizationId) ?? 0),
    onShutdown: (end: () => void) => {
      if (shuttingDown) end();
      else enders.add(end);
      return () => enders.delete(end);
    },
    endAll: () => {
      shuttingDown = true;
      const open = enders.size;
      for (const end of [...enders]) end();
      enders.clear();
      return open;
    },
  });
}

/**
 * A stream whose first event is never asked for (Yoga answers 406 to a subscription sent
 * without `Accept: text/event-stream`, and drops the stream unread) would hold its slot forever:
 * a slot not in use this long after it was taken is given back.
 */
const UNUSED_SLOT_MS = 10_000;
/** setTimeout's longest delay; a token living longer is re-armed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

const isAccessError = (error: unknown): error is AppError =>
  error instanceof Unauthenticated || error instanceof OrganizationSuspended;

const expiredToken = () => new Unauthenticated('Invalid or expired token');

export function memberStreams(
  options: Readonly<{
    credential: Credential;
    scoped: ScopedClients;
    events: ScopedEvents;
    slots: StreamSlots;
  }>,
): MemberStreams {
  const { credential, scoped, events, slots } = options;
  // Per request, so per stream (a subscription operation has one root field): once access has
  // ended, it stays ended.
  let revoked: AppError | null = null;
  let reading = 0;
  const onRevoked = new Set<(error: AppError, delivered: boolean) => void>();
  const revoke = (error: AppError, delivered: boolean) => {
    if (revoked) return;
    revoked = error;
    for (const listener of onRevoked) listener(error, delivered);
  };

  async function checked<T>(read: (db: ScopedTx) => Promise<T>): Promise<T> {
    const unit = await scoped.read(credential.organization);
    try {
      if (Date.now() >= credential.expiresAt * 1000) throw expiredToken();
      await memberScope(credential, unit.db);
      const result = await read(unit.db);
      await unit.end('commit');
      return result;
    } catch (error) {
      await unit.end('rollback').catch(() => {});
      throw error;
    }
  }

  async function read<T>(read: (db: ScopedTx) => Promise<T>): Promise<T> {
    if (revoked) throw revoked;
    reading++;
    try {
      const result = await checked(read);
      // Access ended while this event was read: the error goes out instead of the row.
      if (revoked) throw revoked;
      return result;
    } catch (error) {
      // Delivered by the resolver that called `read`: the stream then just completes.
      if (isAccessError(error)) revoke(error, true);
      throw error;
    } finally {
      reading--;
    }
  }

  /** After a control event: ends the stream if access is gone, or if it cannot be checked. */
  async function recheck(): Promise<void> {
    if (revoked) return;
    try {
      await checked(async () => undefined);
    } catch (error) {
      revoke(isAccessError(error) ? error : new ServiceUnavailable(), false);
    }
  }

  function open<T>(source: AsyncIterable<T>): AsyncIterable<T> {
    if (revoked) throw revoked;
    const release = slots.take(credential);
    // Shutdown ends the stream; before its first event was asked for, as soon as it starts.
    let shutDown = false;
    let stopStream: (() => void) | undefined;
    const unlisten = slots.onShutdown(() => {
      shutDown = true;
      stopStream?.();
    });
    const unused = setTimeout(() => {
      release();
      unlisten();
    }, UNUSED_SLOT_MS);
    unused.unref?.();
    let pending = false;
    const repeater = new Repeater<T>(async (push, stop) => {
      clearTimeout(unused);
      stopStream = () => stop();
      if (shutDown) stop();
      // An event already handed out (or being read) carries the error itself; otherwise the
      // stream ends with it.
      const end = (error: AppError, delivered: boolean) =>
        stop(delivered || pending || reading > 0 ? undefined : error);
      onRevoked.add(end);
      const expiry = onExpiry(credential.expiresAt, () => revoke(expiredToken(), false));
      const data = source[Symbol.asyncIterator]();
      const changes = events.subscribe('accessChanged')[Symbol.asyncIterator]();
      if (revoked) end(revoked, false);
      void (async () => {
        for (let next = await data.next(); !next.done; next = await data.next()) {
          pending = true;
          await push(next.value);
          pending = false;
        }
        stop();
      })().catch((error: unknown) => stop(error));
      void (async () => {
        for (let next = await changes.next(); !next.done; next = await changes.next()) {
          const { userId } = next.value;
          if (userId === undefined || userId === credential.userId) await recheck();
        }
      })().catch(() => revoke(new ServiceUnavailable(), false));
      try {
        await stop;
      } finally {
        onRevoked.delete(end);
        unlisten();
        expiry();
        release();
        await Promise.allSettled([data.return?.(), changes.return?.()]);
      }
    });
    return {
      [Symbol.asyncIterator]: () => ({
        next: () => repeater.next(),
        // Ended before its first event: the executor above never ran.
        return: (value?: unknown) => {
          clearTimeout(unused);
          unlisten();
          release();
          return repeater.return(value as T);
        },
        throw: (error?: unknown) => {
          clearTimeout(unused);
          unlisten();
          release();
          return repeater.throw(error);
        },
      }),
    };
  }

  return Object.freeze({ open, read });
}

/** Calls `expire` at `expiresAt` (seconds since the epoch); returns the cancel. */
function onExpiry(expiresAt: number, expire: () => void): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    const left = expiresAt * 1000 - Date.now();
    if (left <= 0) {
      expire();
      return;
    }
    timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
    timer.unref?.();
  };
  arm();
  return () => clearTimeout(timer);
}
