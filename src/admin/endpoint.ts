import { createYoga, type Plugin } from 'graphql-yoga';
import { bearerToken } from '../auth/bearer.ts';
import type { SystemClient } from '../db/system.ts';
import { Unauthenticated } from '../errors.ts';
import type { EventBus } from '../events/bus.ts';
import type { ClientOf } from '../http/client-address.ts';
import { EDGE_YOGA_OPTIONS, edgePlugins } from '../http/edge-plugins.ts';
import { maskError } from '../http/error-masking.ts';
import { requestIdOf, useRequestLog, yogaLogger } from '../http/request-log.ts';
import type { JobQueue } from '../jobs/queue.ts';
import type { Logger } from '../logging.ts';
import type { AdminContext } from './context.ts';
import { type AdminCredentials, createAdminCredentials, type PlatformAdmin } from './credential.ts';
import { adminSchema } from './schema/index.ts';

/**
 * `/admin/graphql`: the platform administration API, a Yoga of its own over the admin schema,
 * answered from inside the main Yoga before any of its machinery runs. The admin token is checked
 * first: without a valid one the answer is a bare 401 (no schema, no introspection, no GraphiQL),
 * and the admin Yoga is never reached. Without a secret the route is off (404).
 */
export const ADMIN_PATH = '/admin/graphql';

export type AdminEndpointOptions = Readonly<{
  /** The API's token secret; unset turns the endpoint off. */
  secret: string | undefined;
  system: SystemClient;
  jobs: JobQueue | undefined;
  /** Where control events go, so that the streams of a suspended organization end at once. */
  events: EventBus;
  logger: Logger;
  introspection: boolean;
  /** The main API's reading of the client's address (TRUST_PROXY). */
  clientOf: ClientOf;
}>;

type AdminServerContext = { admin?: PlatformAdmin; req?: unknown };

export function useAdminEndpoint(options: AdminEndpointOptions): Plugin {
  if (!options.secret) {
    return {
      onRequest({ url, endResponse }) {
        if (url.pathname === ADMIN_PATH) endResponse(refusal(404, 'NOT_FOUND', 'Not found'));
      },
    };
  }
  const credentials = createAdminCredentials(options.secret);
  const yoga = createAdminYoga(options);
  return {
    async onRequest({ request, url, serverContext, endResponse }) {
      if (url.pathname !== ADMIN_PATH) return;
      const admin = await adminOf(request.headers.get('authorization'), credentials);
      if (!admin) {
        endResponse(refusal(401, 'UNAUTHENTICATED', 'Authentication required'));
        return;
      }
      endResponse(await yoga.handleRequest(request, { ...serverContext, admin }));
    },
  };
}

async function adminOf(
  authorization: string | null,
  credentials: AdminCredentials,
): Promise<PlatformAdmin | null> {
  const token = bearerToken(authorization);
  return token ? credentials.verify(token) : null;
}

function refusal(status: number, code: string, message: string): Response {
  return Response.json(
    { errors: [{ message, extensions: { code } }] },
    {
      status,
      headers: {
        'cache-control': 'no-store',
        ...(status === 401 ? { 'www-authenticate': 'Bearer realm="scopegraph-admin"' } : {}),
      },
    },
  );
}

function createAdminYoga(options: AdminEndpointOptions) {
  const { logger, system } = options;
  return createYoga<AdminServerContext, AdminContext>({
    schema: adminSchema,
    graphqlEndpoint: ADMIN_PATH,
    ...EDGE_YOGA_OPTIONS,
    landingPage: false,
    graphiql: false,
    // CORS and the security headers are the main Yoga's, applied on the way out (src/http/edge.ts):
    // this Yoga's own CORS default would reflect any origin with credentials.
    cors: false,
    batching: false,
    logging: yogaLogger(logger),
    maskedErrors: { maskError: (error, message) => maskError(error, message, logger) },
    context: (initial): AdminContext => {
      // Only the plugin above hands requests over, with the verified admin.
      if (!initial.admin) throw new Unauthenticated();
      return Object.freeze({
        requestId: requestIdOf(initial.request),
        client: options.clientOf(initial.request, initial),
        admin: initial.admin,
        system,
        jobs: options.jobs ?? null,
        accessChanged: options.events.accessChanged,
      });
    },
    plugins: [
      // The same refusals as the tenant Yoga's (src/http/edge-plugins.ts), the alias limit among them.
      ...edgePlugins({ introspection: options.introspection }),
      useRequestLog<Partial<AdminContext>>(logger, {
        message: 'admin operation',
        who: (ctx) => ({ requestId: ctx.requestId, admin: ctx.admin?.name ?? null }),
      }),
    ] as Plugin<AdminServerContext>[],
  });
}
