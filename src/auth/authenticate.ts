import { Unauthenticated } from '../errors.ts';
import {
  forOrganization,
  forOrganizationId,
  rowKey,
  type Scope,
  withUser,
} from '../tenancy/scope.ts';
import type { ScopedClients } from '../tenancy/scoped-client.ts';
import type { TokenService } from './tokens.ts';

/**
 * Turns a request's Authorization header into a Scope: no header is anonymous (null); anything
 * else must be a valid token of a user who still exists in the token's organization. Every
 * failure is the same UNAUTHENTICATED, with nothing an attacker could learn from.
 */
export async function authenticate(
  authorization: string | null,
  tokens: TokenService,
  scoped: ScopedClients,
): Promise<Scope | null> {
  if (authorization === null || authorization === '') return null;
  const match = /^Bearer ([A-Za-z0-9._~+/=-]{1,4096})$/.exec(authorization);
  const claims = match?.[1] ? await tokens.verify(match[1]) : null;
  if (!claims) throw new Unauthenticated('Invalid or expired token');
  const organizationOnly = forOrganizationId(claims.organizationId, () =>
    Promise.reject(new Error('loaded with the user below')),
  );
  const user = await scoped.scopedDb(organizationOnly).user.findUnique({
    where: rowKey(organizationOnly, claims.userId),
    include: { organization: true },
  });
  if (!user) throw new Unauthenticated('Invalid or expired token');
  return withUser(forOrganization(user.organization), user);
}
