// Contender 2: the same GraphQL schema with NO tenant binding — bench-only, never in src/.
//
// The context's client is a plain PrismaClient over the owner connection (a superuser: row-level
// security does not apply), with no per-operation transaction, no role switch and no
// `app.organization_id`, and no unit of work (each statement on its own). It keeps the scoped
// client's WHERE rewriting (scopeOperation), because the resolvers rely on it for their answers:
// `posts(first: 20)` through a client without it returns the newest posts of every tenant, a
// different (and wrong) page — not the same work. So scopegraph/unscoped is the price of the
// binding: the unit of work (an interactive transaction in Prisma), the binding sent with every
// statement, and the policies.
//
// The composition takes the parts of src/http/yoga.ts it needs (same schema, the same edge plugins
// through edgePlugins, same error masking, same request log) and builds its context with the same
// createContext (verify the token, load the user and its organization), given its own client,
// and executes the same way (src/execution/: compiled plans, complexity once per document).
import { createYoga, type Plugin } from 'graphql-yoga';
import type { Accounts } from '../../src/auth/accounts.ts';
import { createTokenService } from '../../src/auth/tokens.ts';
import { type Context, createContext } from '../../src/context.ts';
import { openDatabase } from '../../src/db/database.ts';
import { createEventBus } from '../../src/events/bus.ts';
import { useComplexityOncePerDocument } from '../../src/execution/complexity.ts';
import { executionCounts, useCompiledExecution } from '../../src/execution/plugin.ts';
import type { GrantedScopes } from '../../src/execution/run.ts';
import { PrismaClient } from '../../src/generated/prisma/client.ts';
import { useSecurityHeaders } from '../../src/http/edge.ts';
import { EDGE_YOGA_OPTIONS, edgePlugins } from '../../src/http/edge-plugins.ts';
import { maskError } from '../../src/http/error-masking.ts';
import {
  requestIdOf,
  useMemberRequestLog,
  useRequestIdHeader,
  yogaLogger,
} from '../../src/http/request-log.ts';
import { createLogger } from '../../src/logging.ts';
import { grantedScopes } from '../../src/schema/builder.ts';
import { schema } from '../../src/schema/index.ts';
import type { OrganizationId } from '../../src/tenancy/ids.ts';
import { scopeOperation } from '../../src/tenancy/scope-args.ts';
import type { ScopedTx } from '../../src/tenancy/scoped-client.ts';
import {
  countPgQueries,
  countPrismaPlans,
  type Handler,
  reportStartupFailure,
  serve,
  serverEnv,
} from './common.ts';

function whereScoped(base: PrismaClient, organizationId: OrganizationId) {
  return base.$extends({
    name: 'bench:where-only',
    query: {
      $allModels: {
        $allOperations: ({ model, operation, args, query }) =>
          query(scopeOperation(model, operation, args, organizationId)),
      },
    },
  });
}

const noAccounts: Accounts = Object.freeze({
  signUp: () => Promise.reject(new Error('not in the benchmark')),
  signIn: () => Promise.reject(new Error('not in the benchmark')),
  newMemberPassword: () => Promise.reject(new Error('not in the benchmark')),
  changePassword: () => Promise.reject(new Error('not in the benchmark')),
});

try {
  const env = serverEnv();
  countPgQueries();
  await countPrismaPlans();
  const database = await openDatabase({ url: env.databaseUrl, poolSize: env.poolSize });
  const tokens = createTokenService({ secret: env.jwtSecret });
  const logger = createLogger(env.logLevel);
  const base = new PrismaClient({ adapter: database.adapter });
  const executions = executionCounts();
  // src/http/yoga.ts's context factory and authentication, without the binding.
  const context = createContext({
    tokens,
    accounts: noAccounts,
    // THE BENCH-ONLY CAST: a where-scoped plain client where the app has a bound scoped
    // client. The schema only calls model methods, which both have. Production code must
    // never do this; this file imports neither src/db/system.ts nor the binding, which
    // test/tenancy/imports.test.ts guards (it scans bench/ too).
    scopedDb: (organization) =>
      whereScoped(base, organization.organizationId) as unknown as ScopedTx,
    events: createEventBus(),
    jobs: () => null,
    // Subscriptions are not measured here.
    streams: null,
    unitOfWork: null,
    exportLinks: null,
  });
  const yoga = createYoga<Record<string, unknown>, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    ...EDGE_YOGA_OPTIONS,
    landingPage: false,
    graphiql: false,
    batching: { limit: 10 },
    logging: yogaLogger(logger),
    context: ({ request }) =>
      context({ request, requestId: requestIdOf(request), client: { address: null } }),
    maskedErrors: { maskError: (error, message) => maskError(error, message, logger) },
    // The same edge as src/http/yoga.ts (the one list every Yoga spreads), minus what only the
    // binding needs (the unit of work), the credential operations (no accounts here) and the
    // readiness check (it uses the system client, and /health is not measured).
    plugins: [
      ...edgePlugins({ introspection: false }),
      useSecurityHeaders(),
      useMemberRequestLog(logger),
      useRequestIdHeader(),
      // The same execution as src/http/yoga.ts: compiled plans, complexity once per document.
      useComplexityOncePerDocument(executions),
      useCompiledExecution({
        grantedScopes: grantedScopes as GrantedScopes,
        logger,
        counts: executions,
      }),
    ] as Plugin<Record<string, unknown>>[],
  });
  serve('unscoped', yoga as unknown as Handler, async () => {
    await base.$disconnect();
    await database.close();
  });
} catch (error) {
  reportStartupFailure(error);
}
