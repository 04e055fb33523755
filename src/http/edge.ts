import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { bearerToken } from '../auth/bearer.ts';

/**
 * What every HTTP answer of the API gets, whichever route produced it (/graphql, GraphiQL,
 * /admin/graphql, /v1/shape and their refusals): CORS only for the configured origins, without
 * credentials, and the usual security headers. The main Yoga applies them on the way out; the
 * admin Yoga runs inside it, so it gets them too.
 */

/** Headers a browser may send cross-origin: the token, the body's type, ours and the CSRF ones. */
const CORS_REQUEST_HEADERS = [
  'authorization',
  'content-type',
  'x-request-id',
  'x-graphql-yoga-csrf',
  'apollo-require-preflight',
];

/**
 * Yoga's `cors` option. Yoga's default reflects any Origin with Allow-Credentials: true; here an
 * origin gets CORS headers only when it is one of `origins` (CORS_ORIGINS), and never
 * credentials: the API authenticates by the Authorization header, not cookies. GraphiQL is
 * served from the API's own origin, which needs no CORS.
 */
export function corsFor(origins: readonly string[]) {
  const allowed = new Set(origins);
  return (request: Request) => {
    const origin = request.headers.get('origin');
    if (!origin || !allowed.has(origin)) return false as const;
    return {
      origin,
      credentials: false,
      methods: ['GET', 'POST', 'OPTIONS'],
      allowedHeaders: CORS_REQUEST_HEADERS,
      exposedHeaders: ['x-request-id', 'retry-after'],
      maxAge: 600,
    };
  };
}

/**
 * GraphiQL's page is one HTML document with its bundle inline (@graphql-yoga/render-graphiql):
 * inline scripts and styles must run, and nothing else may load. It talks to this origin only,
 * so an injected script could not send the embedded token elsewhere.
 */
export const GRAPHIQL_CSP = [
  "default-src 'none'",
  "script-src 'self' 'unsafe-inline'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "worker-src 'self' blob:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Everything else is data: nothing in it may run, load or be framed. */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'";

export function useSecurityHeaders(): Plugin {
  return {
    onResponse({ response, setResponse, fetchAPI }) {
      const html = response.headers.get('content-type')?.startsWith('text/html') ?? false;
      const headers: Record<string, string> = {
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
        'content-security-policy': html ? GRAPHIQL_CSP : API_CSP,
      };
      try {
        for (const [name, value] of Object.entries(headers)) response.headers.set(name, value);
      } catch {
        // A response whose headers are immutable (one fetched from elsewhere): copy it.
        const copy = new fetchAPI.Response(response.body, response);
        for (const [name, value] of Object.entries(headers)) copy.headers.set(name, value);
        setResponse(copy);
      }
    },
  };
}

/**
 * Yoga's CSRF prevention (a GET or a form-like POST must carry a custom header, which a page on
 * another origin cannot add without a preflight), answered 403 with a stable code,
 * CSRF_PREVENTED, instead of none.
 *
 * A well-formed `Authorization: Bearer …` counts as such a header. A cross-site request forgery
 * works with what the browser attaches on its own: cookies, and cached HTTP Basic or Digest
 * credentials. A bearer token is never among them; a form, an image or a link cannot set the
 * header, and a script on another origin can only with a CORS preflight this API answers for
 * its CORS_ORIGINS alone. So a GET query carrying a bearer token (urql's and Apollo's
 * `useGETForQueries`) was made by a page that holds the token. Decided on the parsed header
 * (src/auth/bearer.ts): `Basic …`, another scheme or a malformed value does not count. A GET
 * never runs a mutation (Yoga answers 405), whatever it carries.
 */
export function useCsrfPrevention(): Plugin {
  const inner = useCSRFPrevention({
    requestHeaders: ['x-graphql-yoga-csrf', 'apollo-require-preflight'],
  });
  return {
    onRequestParse(payload) {
      if (bearerToken(payload.request.headers.get('authorization')) !== null) return;
      try {
        return inner.onRequestParse?.(payload);
      } catch (error) {
        if (!(error instanceof GraphQLError)) throw error;
        throw new GraphQLError(error.message, {
          extensions: { code: 'CSRF_PREVENTED', http: { status: 403 } },
        });
      }
    },
  };
}

/**
 * graphql-js ends a message with " Did you mean …?" when a name is close to one the schema has
 * (fields, arguments, types, enum values, in documents and in variables). With introspection
 * off that would spell the schema out, one guess at a time: the suggestion is cut off, the rest
 * of the message (and its code) stays.
 */
export function useHiddenSuggestions(): Plugin {
  const hide = <E extends { message: string }>(error: E): E => {
    const at = error.message.lastIndexOf(' Did you mean ');
    if (at >= 0) error.message = error.message.slice(0, at);
    return error;
  };
  return {
    onValidate:
      () =>
      ({ valid, result, setResult }) => {
        if (!valid) setResult(result.map(hide));
      },
    onExecute: () => ({
      onExecuteDone: ({ result }) => {
        if ('errors' in result) result.errors?.forEach(hide);
      },
    }),
  };
}
