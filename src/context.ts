import type { Accounts } from './auth/accounts.ts';
import { type Credential, memberScope, verifyCredential } from './auth/authenticate.ts';
import type { TokenService } from './auth/tokens.ts';
import { Unauthenticated } from './errors.ts';
import type { EventBus, ScopedEvents } from './events/bus.ts';
import type { MemberStreams } from './events/streams.ts';
import type { Client } from './http/client-address.ts';
import type { ExportLinks } from './http/export-download.ts';
import type { ScopedJobs, ScopedJobsOptions } from './jobs/scoped.ts';
import { noteOrganization } from './logging.ts';
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
  /**
   * The member context a request carrying `token` would get (outside a unit of work): for the
   * payload of a credential operation that issued that token (`continueAsMember` below).
   */
  asMember: (token: string) => Promise<MemberContext>;
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

/** How a query or mutation operation gets its one transaction (src/http/unit-of-work.ts). */
export type UnitOfWorkHooks = Readonly<{
  wants: (request: Request) => 'read' | 'write' | null;
  open: (kind: 'read' | 'write', organization: Scope) => Promise<UnitOfWork>;
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
  jobs: (organization: Scope, options: ScopedJobsOptions) => ScopedJobs | null;
  /** A member's streams for a request outside a unit of work; null where nothing streams. */
  streams: ((credential: Credential, events: ScopedEvents) => MemberStreams) | null;
  /** Null: every database operation on its own (no operation gets one transaction). */
  unitOfWork: UnitOfWorkHooks | null;
  exportLinks: ExportLinks | null;
}>;

export type ContextRequest = Readonly<{ request: Request; requestId: string; client: Client }>;

/** The context factory: authenticates the request and scopes everything to its member. */
export function createContext(parts: ContextParts): (req: ContextRequest) => Promise<Context> {
  const { tokens, accounts, unitOfWork } = parts;
  return async ({ request, requestId, client }) => {
    /** Outside a unit of work: streams too. In one that writes: events and jobs after COMMIT. */
    const member = (
      credential: Credential,
      scope: Scope,
      db: ScopedTx,
      within?: Readonly<{ unitOfWork: UnitOfWork; writes: boolean }>,
    ): MemberContext => {
      const events = parts.events.scoped(credential.organization);
      const afterCommit = within?.writes ? within.unitOfWork.afterCommit : undefined;
      return Object.freeze({
        requestId,
        client,
        accounts,
        asMember,
        scope: withMember(scope),
        db,
        events: afterCommit ? publishedAfterCommit(events, afterCommit) : events,
        jobs: parts.jobs(credential.organization, {
          db: within ? () => parts.scopedDb(credential.organization) : () => db,
          ...(afterCommit ? { afterCommit } : {}),
        }),
        streams: within ? null : (parts.streams?.(credential, events) ?? null),
        exportLinks: parts.exportLinks,
      });
    };
    const outsideUnitOfWork = async (credential: Credential): Promise<MemberContext> => {
      const db = parts.scopedDb(credential.organization);
      return member(credential, await memberScope(credential, db), db);
    };
    const asMember = async (token: string): Promise<MemberContext> => {
      const credential = await verifyCredential(`Bearer ${token}`, tokens);
      if (!credential) throw new Unauthenticated();
      return outsideUnitOfWork(credential);
    };

    const credential = await verifyCredential(request.headers.get('authorization'), tokens);
    if (!credential) {
      return Object.freeze({
        requestId,
        client,
        accounts,
        asMember,
        scope: null,
        db: null,
        events: null,
        jobs: null,
        streams: null,
      });
    }
    const kind = unitOfWork?.wants(request);
    if (!unitOfWork || !kind) return outsideUnitOfWork(credential);
    // Ended by the unit of work's plugin when execution is done (or, failing that, when the
    // response goes out), and here at once if the member lookup fails.
    const opened = await unitOfWork.open(kind, credential.organization);
    unitOfWork.track(request, opened);
    const scope = await memberScope(credential, opened.db).catch(async (error: unknown) => {
      await unitOfWork.end(request, 'rollback');
      throw error;
    });
    return member(credential, scope, opened.db, { unitOfWork: opened, writes: kind === 'write' });
  };
}

/**
 * A mutation's events go out once its unit of work has committed: a subscriber that re-reads the
 * row finds it, and one that re-checks a member's access sees the change. An event of a root
 * field that failed is never sent.
 */
function publishedAfterCommit(
  events: ScopedEvents,
  afterCommit: (task: () => unknown) => void,
): ScopedEvents {
  return Object.freeze({
    publish: (event, payload) => afterCommit(() => events.publish(event, payload)),
    subscribe: events.subscribe,
  });
}

/**
 * The rest of this operation runs as a request carrying `token` would: its context becomes that
 * member's, the Scope built the one way every Scope is (the token verified, the member looked
 * up). For the payload of a credential operation that issued the token (signIn, signUp,
 * changePassword), so that it returns the real `User` and `Organization`, loaded through the new
 * member's scoped client. A validation rule (src/auth/credential-operations.ts) keeps such a
 * field alone at its operation's root: what runs after it is its own payload, nothing else.
 *
 * `ctx` is the object the executor passes to every resolver (envelop's, or graphql-ws's, into
 * which the factory's frozen context was copied): replacing its parts here is the one change a
 * context ever sees. `forget` drops whatever was cached for the old identity.
 */
export async function continueAsMember(
  ctx: Context,
  token: string,
  forget: (ctx: Context) => void,
): Promise<MemberContext> {
  const member = await ctx.asMember(token);
  forget(ctx);
  noteOrganization(member.scope.organizationId); // the access line names it from here on
  return Object.assign(ctx, member);
}

/** memberScope always sets the user; the type says so from here on. */
function withMember(scope: Scope): MemberContext['scope'] {
  if (!scope.user) throw new Unauthenticated();
  return scope as MemberContext['scope'];
}
