import type { SystemClient } from '../db/system.ts';
import { BadUserInput, Conflict, OrganizationSuspended, Unauthenticated } from '../errors.ts';
import type { Client } from '../http/client-address.ts';
import { forOrganization, rowKey, type Scope, type ScopeUser } from '../tenancy/scope.ts';
import type { ScopedClients, ScopedTx } from '../tenancy/scoped-client.ts';
import type { CredentialGuard } from './credential-guard.ts';
import type { PasswordHasher } from './passwords.ts';
import type { TokenService } from './tokens.ts';

/**
 * The new token. The payload's user and organization are loaded as that token's member
 * (src/schema/auth.ts), so nothing else is handed on.
 */
export type AuthResult = Readonly<{ token: string }>;

export type SignUpInput = Readonly<{
  organizationName: string;
  organizationSlug: string;
  email: string;
  password: string;
  name: string;
}>;

export type SignInInput = Readonly<{ organizationSlug: string; email: string; password: string }>;

export type ChangePasswordInput = Readonly<{ currentPassword: string; newPassword: string }>;

/**
 * The credential operations: every place a password is hashed. Sign-up is the one place an
 * organization is created, so it uses the system client; sign-in only looks the organization up
 * by slug there and reads the user through a scope for that organization. Each one passes the
 * guard's rate limits (and sign-in its lockout) before it hashes, and hashes through the
 * hasher's concurrency cap (src/auth/passwords.ts).
 */
export type Accounts = Readonly<{
  signUp: (input: SignUpInput, client: Client) => Promise<AuthResult>;
  signIn: (input: SignInInput, client: Client) => Promise<AuthResult>;
  /** The hash of a new member's password, for createMember (an ADMIN's or the OWNER's call). */
  newMemberPassword: (scope: Scope, password: string) => Promise<string>;
  /**
   * The signed-in member's password: the current one must be right. Every token issued before
   * stops working (tokensValidAfter); the result carries a fresh one.
   */
  changePassword: (
    scope: Scope & Readonly<{ user: ScopeUser }>,
    db: ScopedTx,
    input: ChangePasswordInput,
  ) => Promise<AuthResult>;
}>;

const INVALID_CREDENTIALS = 'Invalid organization, email or password';

export function createAccounts(
  system: SystemClient,
  scoped: ScopedClients,
  tokens: TokenService,
  guard: CredentialGuard,
  hasher: PasswordHasher,
): Accounts {
  return Object.freeze({
    async signUp(input, client) {
      await guard.signUp(client.address);
      const passwordHash = await hasher.hash(input.password);
      const { organization, user } = await system.$transaction(async (tx) => {
        const taken = await tx.organization.findUnique({ where: { slug: input.organizationSlug } });
        if (taken) throw new Conflict('This organization slug is taken', 'organizationSlug');
        const organization = await tx.organization.create({
          data: { name: input.organizationName, slug: input.organizationSlug },
        });
        const user = await tx.user.create({
          data: {
            organizationId: organization.id,
            email: input.email,
            name: input.name,
            role: 'OWNER',
            passwordHash,
          },
        });
        return { organization, user };
      });
      return { token: await tokens.issue({ userId: user.id, organizationId: organization.id }) };
    },

    async signIn(input, client) {
      const permit = await guard.signIn(client.address, input);
      const organization = await system.organization.findUnique({
        where: { slug: input.organizationSlug },
      });
      const user = organization
        ? await scoped
            .scopedDb(forOrganization(organization))
            .user.findFirst({ where: { email: input.email } })
        : null;
      // Always hash, so a wrong slug or email costs as long as a wrong password.
      const valid = await hasher.verify(input.password, user?.passwordHash ?? null);
      if (!organization || !user || !valid || organization.deletionRequestedAt) {
        await permit.settle(false);
        throw new Unauthenticated(INVALID_CREDENTIALS);
      }
      await permit.settle(true);
      // Said only to someone who knows a member's password: to anyone else it is the same error.
      if (organization.suspendedAt) throw new OrganizationSuspended();
      return { token: await tokens.issue({ userId: user.id, organizationId: organization.id }) };
    },

    async newMemberPassword(scope, password) {
      await guard.createMember(scope.organizationId);
      return hasher.hash(password);
    },

    async changePassword(scope, db, input) {
      await guard.changePassword(scope.user.id);
      const key = rowKey(scope, scope.user.id);
      const current = await db.user.findUnique({ where: key, select: { passwordHash: true } });
      const valid = await hasher.verify(input.currentPassword, current?.passwordHash ?? null);
      // Not UNAUTHENTICATED: the token is fine, and a client would sign its user out.
      if (!current || !valid) {
        throw new BadUserInput('The current password is not right', 'currentPassword');
      }
      const passwordHash = await hasher.hash(input.newPassword);
      // Tokens carry a millisecond `iat` (src/auth/tokens.ts): the one issued below, at this
      // very instant, is valid; every one issued before is not (src/auth/authenticate.ts).
      const issuedAt = new Date();
      await db.user.update({
        where: key,
        data: { passwordHash, tokensValidAfter: issuedAt },
        select: { id: true },
      });
      const token = await tokens.issue(
        { userId: scope.user.id, organizationId: scope.organizationId },
        issuedAt,
      );
      return { token };
    },
  });
}
