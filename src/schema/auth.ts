import { RequestCache } from '@pothos/plugin-scope-auth';
import type { AuthResult } from '../auth/accounts.ts';
import { ISSUES_TOKEN } from '../auth/credential-operations.ts';
import { type Context, continueAsMember } from '../context.ts';
import { rowKey } from '../tenancy/scope.ts';
import { builder } from './builder.ts';
import { rules } from './validation.ts';

const AuthPayload = builder.objectRef<AuthResult>('AuthPayload').implement({
  description:
    'A bearer token (send it as `Authorization: Bearer <token>`), the user and the organization, resolved as a request carrying that token would be.',
  fields: (t) => ({
    token: t.exposeString('token'),
    // The operation continues as the member the token signs in (signedIn below): the real User
    // and Organization, with every relation, through that member's scoped client.
    user: t.withAuth({ member: true }).prismaField({
      type: 'User',
      resolve: (query, _result, _args, ctx) =>
        ctx.db.user.findUniqueOrThrow({ ...query, where: rowKey(ctx.scope, ctx.scope.user.id) }),
    }),
    organization: t.withAuth({ member: true }).prismaField({
      type: 'Organization',
      resolve: (query, _result, _args, ctx) =>
        ctx.db.organization.findUniqueOrThrow({
          ...query,
          where: { id: ctx.scope.organizationId },
        }),
    }),
  }),
});

/** The rest of the operation, the payload, runs as the member `result.token` signs in. */
async function signedIn(ctx: Context, result: AuthResult): Promise<AuthResult> {
  await continueAsMember(ctx, result.token, RequestCache.clearForContext);
  return result;
}

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
    extensions: ISSUES_TOKEN,
    args: { input: t.arg({ type: SignUpInput }) },
    resolve: async (_root, { input }, ctx) =>
      signedIn(ctx, await ctx.accounts.signUp(input, ctx.client)),
  }),
  signIn: t.field({
    type: AuthPayload,
    description:
      'A wrong organization, email or password all give the same UNAUTHENTICATED error. Too many attempts, or failures, give RATE_LIMITED with `retryAfter` (seconds).',
    extensions: ISSUES_TOKEN,
    args: { input: t.arg({ type: SignInInput }) },
    resolve: async (_root, { input }, ctx) =>
      signedIn(
        ctx,
        await ctx.accounts.signIn(
          { ...input, email: input.email.trim().toLowerCase() },
          ctx.client,
        ),
      ),
  }),
  changePassword: t.withAuth({ member: true }).field({
    type: AuthPayload,
    description:
      "Changes the signed-in member's password. Every token issued before stops working; the payload carries a new one.",
    extensions: ISSUES_TOKEN,
    args: { input: t.arg({ type: ChangePasswordInput }) },
    resolve: async (_root, { input }, ctx) => {
      const result = await ctx.accounts.changePassword(ctx.scope, ctx.db, input);
      // The member's open streams re-check at once: their tokens are now invalid.
      ctx.events.publish('accessChanged', {
        userId: ctx.scope.user.id,
        reason: 'password_changed',
      });
      return signedIn(ctx, result);
    },
  }),
}));
