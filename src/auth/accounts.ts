import type { SystemClient } from '../db/system.ts';
import { Conflict, OrganizationSuspended, Unauthenticated } from '../errors.ts';
import type { Organization, User } from '../generated/prisma/client.ts';
import { forOrganization } from '../tenancy/scope.ts';
import type { ScopedClients } from '../tenancy/scoped-client.ts';
import { hashPassword, verifyPassword } from './passwords.ts';
import type { TokenService } from './tokens.ts';

export type AuthResult = Readonly<{ token: string; user: User; organization: Organization }>;

export type SignUpInput = Readonly<{
  organizationName: string;
  organizationSlug: string;
  email: string;
  password: string;
  name: string;
}>;

export type SignInInput = Readonly<{ organizationSlug: string; email: string; password: string }>;

/**
 * What happens before a Scope exists. Sign-up is the one place an organization is created,
 * so it uses the system client; sign-in only looks the organization up by slug there and
 * reads the user through a scope for that organization.
 */
export type Accounts = Readonly<{
  signUp: (input: SignUpInput) => Promise<AuthResult>;
  signIn: (input: SignInInput) => Promise<AuthResult>;
}>;

const INVALID_CREDENTIALS = 'Invalid organization, email or password';

export function createAccounts(
  system: SystemClient,
  scoped: ScopedClients,
  tokens: TokenService,
): Accounts {
  return Object.freeze({
    async signUp(input) {
      const passwordHash = await hashPassword(input.password);
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
      const token = await tokens.issue({ userId: user.id, organizationId: organization.id });
      return { token, user, organization };
    },

    async signIn(input) {
      const organization = await system.organization.findUnique({
        where: { slug: input.organizationSlug },
      });
      const user = organization
        ? await scoped
            .scopedDb(forOrganization(organization))
            .user.findFirst({ where: { email: input.email } })
        : null;
      // Always hash, so a wrong slug or email costs as long as a wrong password.
      const valid = await verifyPassword(input.password, user?.passwordHash ?? null);
      if (!organization || !user || !valid || organization.deletionRequestedAt) {
        throw new Unauthenticated(INVALID_CREDENTIALS);
      }
      // Said only to someone who knows a member's password: to anyone else it is the same error.
      if (organization.suspendedAt) throw new OrganizationSuspended();
      const token = await tokens.issue({ userId: user.id, organizationId: organization.id });
      return { token, user, organization };
    },
  });
}
