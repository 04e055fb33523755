import type { Accounts } from './auth/accounts.ts';
import { type Credential, memberScope, verifyCredential } from './auth/authenticate.ts';
import type { TokenService } from './auth/tokens.ts';
import { Unauthenticated } from './errors.ts';
import type { EventBus, ScopedEvents } from './events/bus.ts';
import type { MemberStreams } from './events/streams.ts';
import type { Client } from './http/client-address.ts';
import type { ExportLinks } from './http/export-download.ts';
import type { ScopedJobs } from './jobs/scoped.ts';
import type { Scope, ScopeUser } from './tenancy/scope.ts';
import type { ScopedTx, UnitOfWork } from './tenancy/scoped-client.ts';

/**
 * Built fresh for every request, and holding nothing that could reach another organization's
 * rows: `db` is a client scoped to the member's organization (for a query operation, the client
 * of its one transaction: src/http/unit-of-work.ts), `events` publishes and subscribes as that
 * organization only, `jobs` enqueues jobs for it only (null when the API runs without a queue),
 * and `streams` (not for a query operation) streams events as the member, for as long as the
 * member's access lasts (src/events/streams.ts). `accounts` runs the credential operations
 * (sign-up, sign-in, a new member's password, a password change) behind their limits; it is
 * there for anonymous requests too.
 */
type RequestParts = Readonly<{
  requestId: string;
  /** Where the request came from (src/http/client-address.ts), for the audit log. */
  client: Client;
  accounts: Accounts;
}>;

/** A request without a credential: everything tenant-bound is null. */
export type AnonymousContext = RequestParts &
  Readonly<{ scope: null; db: null; events: null; jobs: null; streams: null }>;

/** An authenticated member's request: what resolvers behind `authScopes` see. */
export type MemberContext = RequestParts &
  Readonly<{
    scope: Scope & Readonly<{ user: ScopeUser }>;
    db: ScopedTx;
    events: ScopedEvents;
    jobs: ScopedJobs | null;
    streams: MemberStreams | null;
    /** Issues a finished export's download link (null where nothing serves /exports/). */
    exportLinks: ExportLinks | null;
  }>;

/** Narrowed on `scope`: null for an anonymous request, a member's scope otherwise. */
export type Context = AnonymousContext | MemberContext;

export function requireMember(ctx: Context): MemberContext {
  if (!ctx.scope) throw new Unauthenticated();
  return ctx;
}

/** The member's streams, for a subscription's `subscribe` and `resolve`. */
export function requireStreams(ctx: Context): MemberStreams {
  const { streams } = requireMember(ctx);
  if (!streams) throw new Unauthenticated();
  return streams;
}

/** How a query operation gets its one transaction (src/http/unit-of-work.ts). */
export type UnitOfWorkHooks = Readonly<{
  wants: (request: Request) => boolean;
  open: (organization: Scope) => Promise<UnitOfWork>;
  /** Hands the opened unit of work to whoever ends it when execution is done. */
  track: (request: Request, unitOfWork: UnitOfWork) => void;
  end: (request: Request, outcome: 'rollback') => Promise<void>;
}>;

export type ContextParts = Readonly<{
  tokens: TokenService;
  accounts: Accounts;
  /** The scoped-client factory: a client bound to one organization. */
  scopedDb: (organization: Scope) => ScopedTx;
  events: EventBus;
  jobs: (organization: Scope) => ScopedJobs | null;
  /** A member's streams for a request outside a unit of work; null where nothing streams. */
  streams: ((credential: Credential, events: ScopedEvents) => MemberStreams) | null;
  /** Null: every statement on its own (no query operation gets one transaction). */
  unitOfWork: UnitOfWorkHooks | null;
  exportLinks: ExportLinks | null;
}>;

export type ContextRequest = Readonly<{ request: Request; requestId: string; client: Client }>;

/** The context factory: authenticates the request and scopes everything to its member. */
export function createContext(parts: ContextParts): (req: ContextRequest) => Promise<Context> {
  const { tokens, accounts, unitOfWork } = parts;
  return async ({ request, requestId, client }) => {
    const credential = await verifyCredential(request.headers.get('authorization'), tokens);
    if (!credential) {
      return Object.freeze({
        requestId,
        client,
        accounts,
        scope: null,
        db: null,
        events: null,
        jobs: null,
        streams: null,
      });
    }
    const events = parts.events.scoped(credential.organization);
    const jobs = parts.jobs(credential.organization);
    const member = (scope: Scope, db: ScopedTx, streams: MemberStreams | null): MemberContext =>
      Object.freeze({
        requestId,
        client,
        accounts,
        scope: withMember(scope),
        db,
        events,
        jobs,
        streams,
        exportLinks: parts.exportLinks,
      });
    if (!unitOfWork?.wants(request)) {
      const db = parts.scopedDb(credential.organization);
      const scope = await memberScope(credential, db);
      return member(scope, db, parts.streams?.(credential, events) ?? null);
    }
    // Ended by the unit of work's plugin when execution is done (or, failing that, when the
    // response goes out), and here at once if the member lookup fails.
    const opened = await unitOfWork.open(credential.organization);
    unitOfWork.track(request, opened);
    const scope = await memberScope(credential, opened.db).catch(async (error: unknown) => {
      await unitOfWork.end(request, 'rollback');
      throw error;
    });
    return member(scope, opened.db, null);
  };
}

/** memberScope always sets the user; the type says so from here on. */
function withMember(scope: Scope): MemberContext['scope'] {
  if (!scope.user) throw new Unauthenticated();
  return scope as MemberContext['scope'];
}
