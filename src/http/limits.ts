import type { ServerOptions } from 'node:http';
import { GraphQLError, parse } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { BadUserInput } from '../errors.ts';

/**
 * Limits on what a client may send, below the GraphQL limits (depth, complexity, aliases,
 * batches) set in src/http/edge-plugins.ts and src/schema/builder.ts. Each one turns an input that would cost the server
 * memory, CPU or a connection into a clear 4xx before the work is done.
 */
export const REQUEST_LIMITS = {
  /**
   * Request body, in bytes. The largest input, a post of 50,000 characters, is at most ~200 KB
   * of UTF-8 (~300 KB \u-escaped); Yoga's own default (25 MB) lets every request hold 25 MB
   * of memory while it is parsed.
   */
  bodyBytes: 1024 * 1024,
  /**
   * Lexical tokens in one GraphQL document. GraphiQL's introspection query has ~200, our
   * example query 60. The parser recurses once per nesting level: 20,000 nested selections
   * overflow the stack (a masked 500), and 50,000 sibling fields make validation quadratic.
   */
  documentTokens: 2_000,
} as const;

/**
 * Options for node:http's createServer. Node's defaults leave a slow client holding a
 * connection for up to 5 minutes (requestTimeout 300 s, headersTimeout 60 s); these bound it.
 */
export const HTTP_SERVER_OPTIONS = {
  // Node's default, pinned so a --max-http-header-size flag cannot raise it: a token is ~400
  // bytes, and larger headers are refused by Node itself with 431.
  maxHeaderSize: 16 * 1024,
  // Slowloris: the headers must arrive within 10 s (408 otherwise)…
  headersTimeout: 10_000,
  // …and the whole request (at most REQUEST_LIMITS.bodyBytes) within 30 s.
  requestTimeout: 30_000,
  // How often Node checks the two timeouts above (default 30 s, longer than the timeouts).
  connectionsCheckingInterval: 2_000,
} as const satisfies ServerOptions;

function bodyTooLarge(limit: number): GraphQLError {
  return new GraphQLError(`Request body too large (at most ${limit} bytes)`, {
    extensions: {
      code: 'REQUEST_ENTITY_TOO_LARGE',
      // Close the connection rather than read (and discard) the rest of a huge body.
      http: { status: 413, headers: { connection: 'close' } },
    },
  });
}

/**
 * Refuses request bodies over `limit` bytes with 413: at once when Content-Length says so,
 * otherwise (chunked bodies) as soon as the bytes read pass the limit; never buffers more.
 * Registered among the app's plugins, it runs after Yoga's parsers are chosen and wraps them.
 */
export function useRequestBodyLimit(limit: number): Plugin {
  return {
    onRequestParse({ request, requestParser, setRequestParser, fetchAPI }) {
      const declared = request.headers.get('content-length');
      // A malformed Content-Length is left to Node's HTTP parser and Yoga's check (400).
      if (declared !== null && /^\d+$/.test(declared) && Number(declared) > limit) {
        throw bodyTooLarge(limit);
      }
      if (!requestParser || !request.body) return;
      const parser = requestParser;
      setRequestParser(async (original) => {
        const body = await readAtMost(original, limit);
        return parser(
          new fetchAPI.Request(original.url, {
            method: original.method,
            headers: original.headers,
            body,
            signal: original.signal,
          }),
        );
      });
    },
  };
}

async function readAtMost(request: Request, limit: number): Promise<Uint8Array<ArrayBuffer>> {
  const reader = request.body?.getReader();
  if (!reader) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      throw bodyTooLarge(limit);
    }
    chunks.push(value);
  }
  const body = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

/**
 * Parses with graphql-js's `maxTokens`, so an oversized document is a syntax error
 * (GRAPHQL_PARSE_FAILED) after reading `maxTokens` tokens instead of a stack overflow or a
 * quadratic validation.
 */
export function useDocumentTokenLimit(maxTokens: number): Plugin {
  return {
    onParse({ setParseFn }) {
      setParseFn((source, options) => parse(source, { ...options, maxTokens }));
    },
  };
}

function malformedRequest(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'BAD_REQUEST', http: { status: 400 } } });
}

/**
 * Whatever Yoga's request parsers throw is the request's fault, and answered 400 BAD_REQUEST:
 * a GET whose `variables` is not JSON (Yoga lets that SyntaxError escape: a masked 500), a
 * multipart body without its fields (an error without a code, answered 200), a body the client
 * stopped sending (logged as an unexpected error). Errors with a code (413 above, Yoga's invalid
 * JSON) keep their message and code, never the parser's error and its quote of the body.
 */
export function useMalformedRequestErrors(): Plugin {
  return {
    onRequestParse({ requestParser, setRequestParser }) {
      if (!requestParser) return;
      const parser = requestParser;
      setRequestParser(async (request) => {
        try {
          return await parser(request);
        } catch (error) {
          if (error instanceof GraphQLError && error.extensions.code !== undefined) {
            // Without the parser's own error, which Yoga shows as `extensions.originalError`:
            // its message quotes the body back. Still a 400 (Yoga answers a "spec" error 200
            // when nothing but GraphQL errors remain).
            const { originalError: _quotesTheBody, http, ...extensions } = error.extensions;
            const { spec: _spec, ...status } = (http ?? {}) as Record<string, unknown>;
            throw new GraphQLError(error.message, { extensions: { ...extensions, http: status } });
          }
          throw malformedRequest(
            error instanceof GraphQLError ? error.message : 'The request could not be parsed',
          );
        }
      });
    },
  };
}

/**
 * Refuses variables holding an unpaired surrogate (BAD_USER_INPUT, with the path as `field`).
 * Such a string is not Unicode: Prisma cannot serialize it (a masked 500 wherever one reaches
 * a query, e.g. signIn's email, which has no rule). GraphQL literals cannot carry one: the
 * parser refuses them. NUL is refused by the rules, or answered by maskError.
 */
export function useWellFormedVariables(): Plugin {
  return {
    onParams({ params, setResult }) {
      // `params` is whatever the client sent (a batch may hold nulls): Yoga checks it later.
      const path = unpairedSurrogatePath((params as { variables?: unknown } | null)?.variables);
      if (path === null) return;
      const field = path.filter((segment) => segment !== 'input').join('.');
      setResult({
        errors: [new BadUserInput('Text must not contain unpaired surrogates', field || undefined)],
      });
    },
  };
}

type Visit = Readonly<{ value: unknown; key: string; parent: Visit | null }>;

/**
 * The path to the first string with an unpaired surrogate, or null. Iterative, with parent
 * links rather than copied paths: a 1 MB body nests 500,000 levels deep.
 */
function unpairedSurrogatePath(root: unknown): string[] | null {
  const stack: Visit[] = [{ value: root, key: '', parent: null }];
  for (let visit = stack.pop(); visit; visit = stack.pop()) {
    const { value } = visit;
    if (typeof value === 'string') {
      if (!UNPAIRED_SURROGATE.test(value)) continue;
      const path: string[] = [];
      for (let at: Visit | null = visit; at?.parent; at = at.parent) path.unshift(at.key);
      return path;
    }
    if (value && typeof value === 'object') {
      for (const key of Object.keys(value)) {
        stack.push({ value: (value as Record<string, unknown>)[key], key, parent: visit });
      }
    }
  }
  return null;
}

const UNPAIRED_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
