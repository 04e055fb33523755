import type { AuthResult } from '../auth/accounts.ts';
import { CREDENTIAL_OPERATION } from '../auth/credential-operations.ts';
import { builder } from './builder.ts';
import { encodeGlobalId } from './ids.ts';
import { RoleEnum } from './user.ts';
import { rules } from './validation.ts';

const AuthPayload = builder.objectRef<AuthResult>('AuthPayload').implement({
  description:
    'A bearer token (send it as `Authorization: Bearer <token>`), the user and the organization.',
  fields: (t) => ({
    token: t.exposeString('token'),
    // Plain fields: at sign-up/sign-in there is no scope yet to load relations through.
    user: t.field({ type: AuthUser, resolve: (result) => result.user }),
    organization: t.field({ type: AuthOrganization, resolve: (result) => result.organization }),
  }),
});

const AuthUser = builder.objectRef<AuthResult['user']>('AuthUser').implement({
  fields: (t) => ({
    id: t.id({
      description: 'The global id of the User.',
      resolve: (u) => encodeGlobalId('User', u.id),
    }),
    name: t.exposeString('name'),
    email: t.exposeString('email'),
    role: t.expose('role', { type: RoleEnum }),
  }),
});

const AuthOrganization = builder
  .objectRef<AuthResult['organization']>('AuthOrganization')
  .implement({
    fields: (t) => ({
      id: t.id({
        description: 'The global id of the Organization.',
        resolve: (o) => encodeGlobalId('Organization', o.id),
      }),
      name: t.exposeString('name'),
      slug: t.exposeString('slug'),
    }),
  });

const SignUpInput = builder.inputType('SignUpInput', {
  fields: (t) => ({
    organizationName: t.string({ validate: rules.organizationName }),
    organizationSlug: t.string({ validate: rules.slug }),
    email: t.string({ validate: rules.email }),
    password: t.string({ validate: rules.password }),
    name: t.string({ validate: rules.personName }),
  }),
});

const SignInInput = builder.inputType('SignInInput', {
  fields: (t) => ({
    organizationSlug: t.string(),
    email: t.string(),
    password: t.string(),
  }),
});

const ChangePasswordInput = builder.inputType('ChangePasswordInput', {
  fields: (t) => ({
    currentPassword: t.string(),
    newPassword: t.string({ validate: rules.password }),
  }),
});

// Each of these hashes a password: one per request (src/auth/credential-operations.ts), behind
// rate limits (src/auth/credential-guard.ts).
builder.mutationFields((t) => ({
  signUp: t.field({
    type: AuthPayload,
    description: 'Creates an organization and its OWNER, and signs the owner in.',
    extensions: CREDENTIAL_OPERATION,
    args: { input: t.arg({ type: SignUpInput }) },
    resolve: (_root, { input }, ctx) => ctx.accounts.signUp(input, ctx.client),
  }),
  signIn: t.field({
    type: AuthPayload,
    description:
      'A wrong organization, email or password all give the same UNAUTHENTICATED error. Too many attempts, or failures, give RATE_LIMITED with `retryAfter` (seconds).',
    extensions: CREDENTIAL_OPERATION,
    args: { input: t.arg({ type: SignInInput }) },
    resolve: (_root, { input }, ctx) =>
      ctx.accounts.signIn({ ...input, email: input.email.trim().toLowerCase() }, ctx.client),
  }),
  changePassword: t.withAuth({ member: true }).field({
    type: AuthPayload,
    description:
      "Changes the signed-in member's password. Every token issued before stops working; the payload carries a new one.",
    extensions: CREDENTIAL_OPERATION,
    args: { input: t.arg({ type: ChangePasswordInput }) },
    resolve: async (_root, { input }, ctx) => {
      const result = await ctx.accounts.changePassword(ctx.scope, ctx.db, input);
      // The member's open streams re-check at once: their tokens are now invalid.
      ctx.events.publish('accessChanged', {
        userId: ctx.scope.user.id,
        reason: 'password_changed',
      });
      return result;
    },
  }),
}));
