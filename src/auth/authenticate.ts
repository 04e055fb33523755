import { OrganizationSuspended, Unauthenticated } from '../errors.ts';
import {
  forOrganization,
  forOrganizationId,
  rowKey,
  type Scope,
  withUser,
} from '../tenancy/scope.ts';
import type { ScopedTx } from '../tenancy/scoped-client.ts';
import { bearerToken } from './bearer.ts';
import type { TokenService } from './tokens.ts';

/**
 * A verified token, not yet a member: the organization is known (and scopes the lookup of the
 * user), the user still has to exist in it.
 */
export type Credential = Readonly<{
  organization: Scope;
  userId: string;
  /** The token's `iat` and `exp`, in seconds since the epoch (`iat` may have a fraction). */
  issuedAt: number;
  expiresAt: number;
}>;

/**
 * Step one of turning a request's Authorization header into a Scope, without the database: no
 * header is anonymous (null); anything else must be a valid token. Every failure is the same
 * UNAUTHENTICATED, with nothing an attacker could learn from.
 */
export async function verifyCredential(
  authorization: string | null,
  tokens: TokenService,
): Promise<Credential | null> {
  if (authorization === null || authorization === '') return null;
  const token = bearerToken(authorization);
  const claims = token ? await tokens.verify(token) : null;
  if (!claims) throw new Unauthenticated('Invalid or expired token');
  const organization = forOrganizationId(claims.organizationId, () =>
    Promise.reject(new Error('loaded with the user below')),
  );
  return Object.freeze({
    organization,
    userId: claims.userId,
    issuedAt: claims.issuedAt,
    expiresAt: claims.expiresAt,
  });
}

/**
 * Step two: the member's Scope, read through `db`, a client scoped to the credential's
 * organization (the request's own transaction when it has one). A user who no longer exists, or
 * whose organization is being deleted, is UNAUTHENTICATED at once; a member of a suspended
 * organization is ORGANIZATION_SUSPENDED. The organization comes with the user: no extra query.
 *
 * So does the user's `tokensValidAfter` (set by a password change and a demotion): a token
 * issued before it is refused at once. Our tokens' `iat` has milliseconds, as the column does,
 * so a token issued in the same second, after the change, still works.
 */
export async function memberScope(credential: Credential, db: ScopedTx): Promise<Scope> {
  const user = await db.user.findUnique({
    where: rowKey(credential.organization, credential.userId),
    select: {
      id: true,
      organizationId: true,
      role: true,
      tokensValidAfter: true,
      organization: true,
    },
  });
  if (!user || user.organization.deletionRequestedAt || issuedBefore(credential, user)) {
    throw new Unauthenticated('Invalid or expired token');
  }
  if (user.organization.suspendedAt) throw new OrganizationSuspended();
  return withUser(forOrganization(user.organization), user);
}

function issuedBefore(
  credential: Credential,
  user: Readonly<{ tokensValidAfter: Date | null }>,
): boolean {
  if (!user.tokensValidAfter) return false;
  return Math.round(credential.issuedAt * 1000) < user.tokensValidAfter.getTime();
}
