import SchemaBuilder from '@pothos/core';
import ComplexityPlugin from '@pothos/plugin-complexity';
import PrismaPlugin from '@pothos/plugin-prisma';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import ValidationPlugin from '@pothos/plugin-validation';
import { GraphQLError } from 'graphql';
import { type Context, type MemberContext, requireMember } from '../context.ts';
import { BadUserInput, Forbidden, Unauthenticated } from '../errors.ts';
import type PrismaTypes from '../generated/pothos-types.ts';
import { getDatamodel } from '../generated/pothos-types.ts';
import type { PrismaClient } from '../generated/prisma/client.ts';
import { complexityLimitFor, fieldComplexity, LIST_LIMITS } from './complexity.ts';
import { decodeGlobalId, encodeGlobalId } from './ids.ts';
import { DATE_TIME_SCALAR } from './scalars.ts';

const CONNECTION_SIZE = LIST_LIMITS.connection;

/** The scopes a request holds; the compiled path checks the ones it skips with this too. */
export function grantedScopes(ctx: Context) {
  const role = ctx.scope?.user?.role;
  return {
    member: !!role,
    admin: role === 'OWNER' || role === 'ADMIN',
    owner: role === 'OWNER',
  };
}

export const builder = new SchemaBuilder<{
  Context: Context;
  PrismaTypes: PrismaTypes;
  AuthScopes: { member: boolean; admin: boolean; owner: boolean };
  AuthContexts: { member: MemberContext; admin: MemberContext; owner: MemberContext };
  DefaultFieldNullability: false;
  DefaultInputFieldRequiredness: true;
  Scalars: { DateTime: { Input: Date; Output: Date }; ID: { Input: string; Output: string } };
}>({
  plugins: [ScopeAuthPlugin, PrismaPlugin, RelayPlugin, ValidationPlugin, ComplexityPlugin],
  defaultFieldNullability: false,
  defaultInputFieldRequiredness: true,
  scopeAuth: {
    authScopes: grantedScopes,
    // Signed in but lacking a role is FORBIDDEN; not signed in is UNAUTHENTICATED. Neither can
    // happen across organizations: another organization's rows are simply not found.
    unauthorizedError: (_parent, ctx) =>
      ctx.scope?.user ? new Forbidden() : new Unauthenticated(),
  },
  prisma: {
    // Resolvers, nested relation loads and node lookups all go through the request's scoped client.
    // Pothos types this as a whole PrismaClient but only calls model methods; a transaction's
    // client (a query operation's unit of work) has no $connect or $transaction.
    client: (ctx) => requireMember(ctx).db as unknown as PrismaClient,
    dmmf: getDatamodel(),
    exposeDescriptions: false,
    filterConnectionTotalCount: true,
    defaultConnectionSize: CONNECTION_SIZE.default,
    maxConnectionSize: CONNECTION_SIZE.max,
    // Under vitest a resolver that takes Pothos's selection and never spreads it fails the test:
    // the selection was planned (and may have been awaited) for nothing. Off in production, where
    // the check would wrap every query for no answer a client should see.
    onUnusedQuery: process.env.VITEST || process.env.NODE_ENV === 'test' ? 'error' : null,
  },
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    encodeGlobalID: encodeGlobalId,
    decodeGlobalID: decodeGlobalId,
    nodeQueryOptions: { authScopes: { member: true } },
    nodesQueryOptions: { authScopes: { member: true } },
  },
  validation: {
    validationError: (result) => {
      const [issue] = result.issues;
      const field = issue?.path
        ?.map((segment) => (typeof segment === 'object' ? String(segment.key) : String(segment)))
        .filter((segment) => segment !== 'input')
        .join('.');
      return new BadUserInput(issue?.message ?? 'Invalid input', field || undefined);
    },
  },
  complexity: {
    // Lists cost their sub-selection times the items their arguments ask for: src/schema/complexity.ts.
    fieldComplexity,
    // Measured once per document and variables (src/execution/complexity.ts), here otherwise.
    limit: complexityLimitFor,
    complexityError: (kind, result) => {
      const key = kind.toLowerCase() as 'complexity' | 'depth' | 'breadth';
      const max = result[`max${kind}`];
      return new GraphQLError(`Query ${key} ${result[key]} exceeds the limit of ${max}`, {
        extensions: { code: 'QUERY_TOO_COMPLEX' },
      });
    },
  },
});

builder.queryType({});
builder.mutationType({});

builder.scalarType('DateTime', DATE_TIME_SCALAR);
