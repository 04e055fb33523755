import { GraphQLError } from 'graphql';

/**
 * Expected errors: their message and `extensions.code` reach the client. Anything else is
 * masked by Yoga ("Unexpected error."), so no SQL, stack or Prisma text ever leaves the server.
 */
export abstract class AppError extends GraphQLError {
  abstract readonly code: string;
  constructor(message: string, extensions: Record<string, unknown> = {}) {
    super(message, { extensions });
  }
}

/** No valid credentials. Says nothing about which part was wrong. */
export class Unauthenticated extends AppError {
  readonly code = 'UNAUTHENTICATED';
  constructor(message = 'Authentication required') {
    super(message, { code: 'UNAUTHENTICATED', http: { status: 401 } });
  }
}

/**
 * The token is valid, but a platform admin suspended its organization: every request of its
 * members is refused until the organization is resumed.
 */
export class OrganizationSuspended extends AppError {
  readonly code = 'ORGANIZATION_SUSPENDED';
  constructor() {
    super('This organization is suspended', {
      code: 'ORGANIZATION_SUSPENDED',
      http: { status: 403 },
    });
  }
}

/** Authenticated, in the same organization, but not allowed (a role or authorship rule). */
export class Forbidden extends AppError {
  readonly code = 'FORBIDDEN';
  constructor(message = 'Not allowed') {
    super(message, { code: 'FORBIDDEN' });
  }
}

/** Absent, or another organization's: the two are indistinguishable on purpose. */
export class NotFound extends AppError {
  readonly code = 'NOT_FOUND';
  constructor(what = 'Record') {
    super(`${what} not found`, { code: 'NOT_FOUND' });
  }
}

export class BadUserInput extends AppError {
  readonly code = 'BAD_USER_INPUT';
  constructor(message: string, field?: string) {
    super(message, { code: 'BAD_USER_INPUT', ...(field ? { field } : {}) });
  }
}

export class Conflict extends AppError {
  readonly code = 'CONFLICT';
  constructor(message: string, field?: string) {
    super(message, { code: 'CONFLICT', ...(field ? { field } : {}) });
  }
}

/**
 * The organization already has as many background jobs of this kind waiting as one tenant may
 * (src/jobs/scoped.ts): one tenant cannot fill the shared queue ahead of the others'.
 */
export class TooManyJobs extends AppError {
  readonly code = 'TOO_MANY_JOBS';
  constructor(limit: number) {
    super(`This organization already has ${limit} jobs of this kind waiting; try again later`, {
      code: 'TOO_MANY_JOBS',
      limit,
    });
  }
}

/** The database cannot be reached right now; retry later. */
export class ServiceUnavailable extends AppError {
  readonly code = 'SERVICE_UNAVAILABLE';
  constructor() {
    super('The service is temporarily unavailable; try again shortly', {
      code: 'SERVICE_UNAVAILABLE',
      http: { status: 503 },
    });
  }
}

/**
 * A member (or their organization) already has as many open subscription streams on this
 * instance as allowed (src/events/streams.ts); one must end before another starts.
 */
export class TooManyStreams extends AppError {
  readonly code = 'TOO_MANY_STREAMS';
  constructor(limit: number, per: 'member' | 'organization') {
    super(`Too many open streams: at most ${limit} per ${per}`, {
      code: 'TOO_MANY_STREAMS',
      limit,
      http: { status: 429 },
    });
  }
}

/**
 * Too many attempts from this client address, on this account, or too many recent failed
 * sign-ins on it (src/auth/credential-guard.ts). `retryAfter` (seconds) says when to try again,
 * as does the Retry-After header.
 */
export class RateLimited extends AppError {
  readonly code = 'RATE_LIMITED';
  readonly retryAfter: number;
  constructor(retryAfterSeconds: number, message = 'Too many attempts; try again later') {
    const retryAfter = Math.max(1, Math.ceil(retryAfterSeconds));
    super(message, {
      code: 'RATE_LIMITED',
      retryAfter,
      http: { status: 429, headers: { 'retry-after': String(retryAfter) } },
    });
    this.retryAfter = retryAfter;
  }
}

/** A request held more than one sign-in, sign-up, member creation or password change. */
export class TooManyCredentialOperations extends AppError {
  readonly code = 'TOO_MANY_CREDENTIAL_OPERATIONS';
  constructor(count: number) {
    super(
      `A request may hold one credential operation (signIn, signUp, createMember, changePassword); this one holds ${count}`,
      { code: 'TOO_MANY_CREDENTIAL_OPERATIONS', http: { status: 400 } },
    );
  }
}

/**
 * A field that issues a token (signIn, signUp, changePassword) shared its operation's root with
 * another field: its payload runs as the member it signs in (src/context.ts), and nothing else in
 * the operation may.
 */
export class CredentialOperationNotAlone extends AppError {
  readonly code = 'CREDENTIAL_OPERATION_NOT_ALONE';
  constructor(field: string) {
    super(
      `${field} must be the only field of its operation: its payload is resolved as the member it signs in`,
      { code: 'CREDENTIAL_OPERATION_NOT_ALONE', http: { status: 400 } },
    );
  }
}

/** Every password-hashing slot and its queue are taken: retry in a moment. */
export class PasswordHashingBusy extends AppError {
  readonly code = 'PASSWORD_HASHING_BUSY';
  constructor() {
    super('Too many sign-ins at the moment; try again shortly', {
      code: 'PASSWORD_HASHING_BUSY',
      retryAfter: 1,
      http: { status: 503, headers: { 'retry-after': '1' } },
    });
  }
}
