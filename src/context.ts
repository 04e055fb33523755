import type { Accounts } from './auth/accounts.ts';
import { Unauthenticated } from './errors.ts';
import type { ScopedEvents } from './events/bus.ts';
import type { MemberStreams } from './events/streams.ts';
import type { Client } from './http/client-address.ts';
import type { ScopedJobs } from './jobs/scoped.ts';
import type { Scope, ScopeUser } from './tenancy/scope.ts';
import type { ScopedTx } from './tenancy/scoped-client.ts';

/**
 * Built fresh for every request. It holds the request's Scope and the client scoped to it (for
 * a query operation, the client of its one transaction: src/http/unit-of-work.ts), and nothing that
 * could reach another organization's rows: `events` publishes and subscribes as the scope's
 * organization only, `jobs` enqueues jobs for it only (null when the API runs without a queue),
 * `accounts` runs the credential operations (sign-up of a new organization, sign-in with
 * credentials, a new member's password, the member's own password change) behind their limits,
 * and `streams` (not for a query operation) streams events as the request's member, for as long
 * as the member's access lasts (src/events/streams.ts).
 */
export type Context = Readonly<{
  requestId: string;
  /** Where the request came from (src/http/client-address.ts), for the audit log. */
  client: Client;
  scope: Scope | null;
  db: ScopedTx | null;
  events: ScopedEvents | null;
  jobs: ScopedJobs | null;
  accounts: Accounts;
  streams: MemberStreams | null;
}>;

/** The context of an authenticated member, as resolvers behind `authScopes` see it. */
export type MemberContext = Context &
  Readonly<{ scope: Scope & Readonly<{ user: ScopeUser }>; db: ScopedTx; events: ScopedEvents }>;

export function requireMember(ctx: Context): MemberContext {
  if (!ctx.scope?.user || !ctx.db || !ctx.events) throw new Unauthenticated();
  return ctx as MemberContext;
}

/** The member's streams, for a subscription's `subscribe` and `resolve`. */
export function requireStreams(ctx: Context): MemberStreams {
  if (!requireMember(ctx).streams) throw new Unauthenticated();
  return ctx.streams as MemberStreams;
}
