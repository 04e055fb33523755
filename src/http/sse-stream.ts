import { useGraphQLSSE } from '@graphql-yoga/plugin-graphql-sse';
import type { Plugin } from 'graphql-yoga';
import { REQUEST_LIMITS } from './limits.ts';

/**
 * graphql-sse's protocol, single-connection mode included (PUT a reservation, GET its one
 * stream, POST operations to it), on a path of its own: the plugin answers every request to its
 * path before Yoga parses anything, so on /graphql itself it would take over ordinary GraphQL
 * over HTTP (and Yoga's own SSE, distinct connections, which stays on /graphql).
 *
 * Operations run through `yoga.getEnveloped` with the request's context, like /graphql: the same
 * Scope, stream slots, access checks, validation and complexity. What the plugin skips (it
 * answers before `onRequestParse`) is checked here first: a bearer token on every request (a
 * browser cannot attach one cross-site without a preflight, so this path needs no CSRF check:
 * a cross-site GET or form post has none and is refused), and the body limit, which needs a
 * declared length (the plugin reads the body whole).
 */
export const SSE_STREAM_PATH = '/graphql/stream';

export function useGraphQLSseStream(): Plugin[] {
  return [
    {
      onRequest({ request, url, endResponse, fetchAPI }) {
        if (url.pathname !== SSE_STREAM_PATH) return;
        const refuse = (status: number, code: string, message: string) =>
          endResponse(
            new fetchAPI.Response(JSON.stringify({ errors: [{ message, extensions: { code } }] }), {
              status,
              headers: { 'content-type': 'application/json; charset=utf-8' },
            }),
          );
        if (!/^Bearer\s+\S/i.test(request.headers.get('authorization') ?? '')) {
          return refuse(401, 'UNAUTHENTICATED', 'A bearer token is required on this path');
        }
        if (!request.body) return;
        const declared = request.headers.get('content-length');
        if (declared === null || !/^\d+$/.test(declared)) {
          return refuse(411, 'BAD_REQUEST', 'A request body needs a Content-Length here');
        }
        if (Number(declared) > REQUEST_LIMITS.bodyBytes) {
          return refuse(
            413,
            'REQUEST_ENTITY_TOO_LARGE',
            `Request body too large (at most ${REQUEST_LIMITS.bodyBytes} bytes)`,
          );
        }
      },
    },
    useGraphQLSSE({ endpoint: SSE_STREAM_PATH }),
  ];
}
