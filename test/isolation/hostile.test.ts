import { once } from 'node:events';
import { createServer, request as httpRequest, type Server } from 'node:http';
import net from 'node:net';
import { Writable } from 'node:stream';
import { generateKeyPair, SignJWT, UnsecuredJWT } from 'jose';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIENCE, createTokenService, ISSUER } from '../../src/auth/tokens.ts';
import { createSystemClient, type SystemClient } from '../../src/db/system.ts';
import { HTTP_SERVER_OPTIONS, REQUEST_LIMITS } from '../../src/http/limits.ts';
import { type Api, createApi } from '../../src/http/yoga.ts';
import { encodeGlobalId } from '../../src/schema/ids.ts';
import { type GraphQLResponse, TEST_SECRET } from '../support/api.ts';
import { openTestDatabase, type TestDatabase } from '../support/database.ts';
import { seedTenant, type Tenant } from '../support/tenants.ts';

/**
 * Hostile and broken input against a real HTTP server (node:http on loopback, the options of
 * src/server.ts): forged tokens, oversized headers and bodies, broken JSON and encodings,
 * abusive documents, hostile text in every text field of every mutation, malformed and foreign
 * ids. Each must be refused with a clear, stable answer: an HTTP 4xx, or GraphQL errors that
 * all carry a known `extensions.code`. Never a 5xx, a hang, a stack trace or SQL; and the
 * server keeps serving: /health and a positive control answer at the end.
 */

/** Every `extensions.code` a client may see (README "Errors", plus Yoga's HTTP-layer codes). */
const STABLE_CODES = new Set([
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'BAD_USER_INPUT',
  'CONFLICT',
  'QUERY_TOO_COMPLEX',
  'BAD_REQUEST',
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'REQUEST_ENTITY_TOO_LARGE',
  'OPERATION_RESOLUTION_FAILURE',
  'CSRF_PREVENTED',
]);
/** What must never reach a client: stack frames, file paths, Prisma, PostgreSQL. */
const LEAK =
  /\n\s+at |"stack"|node_modules|\.ts:\d+|prisma|postgres|pglite|sqlstate|invalid byte sequence|syntax error at or near|violates|relation "|INTERNAL_SERVER_ERROR|Unexpected error/i;

type Outcome = Readonly<{
  label: string;
  status: number;
  text: string;
  body: GraphQLResponse | null;
}>;
type Expected = Readonly<{
  /** An exact HTTP status. */
  status?: number;
  /** Any 4xx. */
  clientError?: boolean;
  /** Every error must carry this code (and there must be at least one). */
  code?: string;
  /** One of these codes (or, with `orData`, success). */
  codes?: readonly string[];
  orData?: boolean;
}>;

let database: TestDatabase;
let api: Api;
let server: Server;
let port: number;
let system: SystemClient;
let a: Tenant;
let b: Tenant;
/** Tokens of A's owner and member, and B's owner. */
let ownerA: string;
let memberA: string;
let ownerB: string;
let cases = 0;
const unexpectedErrors: string[] = [];
const tokens = createTokenService({ secret: TEST_SECRET });
const secret = new TextEncoder().encode(TEST_SECRET);
const VIEWER = '{ viewer { name } }';
const ids = {
  post: (row: { id: string }) => encodeGlobalId('Post', row.id),
  comment: (row: { id: string }) => encodeGlobalId('Comment', row.id),
  user: (row: { id: string }) => encodeGlobalId('User', row.id),
};

beforeAll(async () => {
  database = await openTestDatabase();
  // The app's own logger, at warn, into memory: the run must not log one 'unexpected error'.
  const sink = new Writable({
    write(line: Buffer, _encoding, done) {
      const entry = JSON.parse(line.toString()) as { msg?: string };
      if (entry.msg === 'unexpected error') unexpectedErrors.push(line.toString().slice(0, 500));
      done();
    },
  });
  api = createApi({
    database,
    tokens,
    logger: pino({ level: 'warn' }, sink),
    introspection: true,
    graphiql: false,
  });
  server = createServer(HTTP_SERVER_OPTIONS, api.yoga);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  port = typeof address === 'object' && address ? address.port : 0;
  system = createSystemClient(database);
  a = await seedTenant(system, 'acme');
  b = await seedTenant(system, 'globex');
  const tokenOf = (user: { id: string; organizationId: string }) =>
    tokens.issue({ userId: user.id, organizationId: user.organizationId });
  [ownerA, memberA, ownerB] = await Promise.all([
    tokenOf(a.owner),
    tokenOf(a.member),
    tokenOf(b.owner),
  ]);
});

afterAll(async () => {
  console.info(`hostile input: ${cases} cases`);
  if (server) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  await system?.$disconnect();
  await api?.close();
  await database?.drop();
});

// ---------------------------------------------------------------------------------------------
// Sending: fetch for ordinary requests, node:http for streamed bodies, net for raw bytes.

async function send(label: string, init: RequestInit & { path?: string }): Promise<Outcome> {
  cases++;
  const { path = '/graphql', ...rest } = init;
  const response = await fetch(`http://127.0.0.1:${port}${path}`, rest);
  const text = await response.text();
  return { label, status: response.status, text, body: parseJson(text) };
}

function post(label: string, body: BodyInit, headers: Record<string, string> = {}) {
  return send(label, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
}

function gql(label: string, query: string, variables?: unknown, token?: string) {
  return post(
    label,
    JSON.stringify({ query, variables }),
    token ? { authorization: `Bearer ${token}` } : {},
  );
}

/** A GraphQL answer; a batch's answers merged into one, to judge all their errors. */
function parseJson(text: string): GraphQLResponse | null {
  try {
    const value = JSON.parse(text) as unknown;
    if (Array.isArray(value)) {
      const errors = (value as GraphQLResponse[]).flatMap((result) => result.errors ?? []);
      return errors.length > 0 ? { errors } : { data: {} };
    }
    return value && typeof value === 'object' ? (value as GraphQLResponse) : null;
  } catch {
    return null;
  }
}

/**
 * Raw bytes over a socket, for what fetch will not send (oversized or invalid headers, broken
 * framing). Resolves with whatever arrived when the server closes; status 0 if nothing did
 * within the time limit (a hang).
 */
function raw(label: string, payload: string | Buffer, timeoutMs = 5_000): Promise<Outcome> {
  cases++;
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(port, '127.0.0.1', () => socket.write(payload));
    const finish = () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      const body = text.slice(text.indexOf('\r\n\r\n') + 4);
      resolve({ label, status, text, body: parseJson(body) ?? parseJson(dechunk(body)) });
    };
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    // A reset after the answer (the server closes on a request it refuses) is not a failure.
    socket.on('error', () => {});
    socket.on('close', finish);
    socket.setTimeout(timeoutMs, () => socket.destroy());
  });
}

function dechunk(body: string): string {
  let out = '';
  let rest = body;
  for (;;) {
    const line = rest.indexOf('\r\n');
    const size = Number.parseInt(rest.slice(0, line), 16);
    if (!(size > 0)) return out;
    out += rest.slice(line + 2, line + 2 + size);
    rest = rest.slice(line + 2 + size + 2);
  }
}

/**
 * POSTs a JSON body of `total` bytes, streamed, with or without Content-Length (chunked), and
 * stops sending as soon as the answer arrives: `sent` tells how much the server took first.
 */
function stream(
  label: string,
  total: number,
  { contentLength }: { contentLength: boolean },
): Promise<Outcome & { sent: number }> {
  cases++;
  const head = Buffer.from('{"query":"{ __typename }","variables":{"x":"');
  const tail = Buffer.from('"}}');
  const chunk = Buffer.alloc(64 * 1024, 'x');
  return new Promise((resolve) => {
    let sent = 0;
    let answered = false;
    const request = httpRequest({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/graphql',
      agent: false,
      headers: {
        'content-type': 'application/json',
        ...(contentLength ? { 'content-length': String(total) } : {}),
      },
    });
    request.on('response', (response) => {
      answered = true;
      const parts: Buffer[] = [];
      response.on('data', (part: Buffer) => parts.push(part));
      response.on('end', () => {
        const text = Buffer.concat(parts).toString('utf8');
        resolve({ label, status: response.statusCode ?? 0, text, body: parseJson(text), sent });
        request.destroy();
      });
    });
    request.on('error', () => {
      if (!answered) resolve({ label, status: 0, text: 'no answer', body: null, sent });
    });
    void (async () => {
      const write = async (bytes: Buffer) => {
        sent += bytes.length;
        if (!request.write(bytes))
          await Promise.race([once(request, 'drain'), once(request, 'close')]);
      };
      await write(head);
      while (!answered && !request.destroyed && sent + chunk.length + tail.length < total) {
        await write(chunk);
      }
      if (!answered && !request.destroyed) {
        await write(Buffer.alloc(total - sent - tail.length, 'x'));
        request.end(tail);
      }
    })().catch(() => {});
  });
}

// ---------------------------------------------------------------------------------------------
// Judging.

function errorCodes(outcome: Outcome): (string | undefined)[] {
  return (outcome.body?.errors ?? []).map((e) => e.extensions?.code);
}

/**
 * The invariants of every answer (no 5xx, no leak, a stable code on every error unless the
 * HTTP layer refused with a 4xx), then what this case expects.
 */
function judge(outcome: Outcome, expected: Expected = {}): void {
  const { label, status, text } = outcome;
  const at = `${label} → ${status} ${text.slice(0, 300)}`;
  expect.soft(status, at).toBeGreaterThanOrEqual(200);
  expect.soft(status, at).toBeLessThan(500);
  expect.soft(text, at).not.toMatch(LEAK);
  const codes = errorCodes(outcome);
  if (status < 400 || outcome.body?.errors) {
    // A GraphQL answer: errors carry a stable code, except a few HTTP-layer refusals (CSRF).
    for (const code of codes) {
      if (status < 400 || code !== undefined)
        expect.soft(STABLE_CODES.has(code ?? ''), at).toBe(true);
    }
  }
  if (expected.status !== undefined) expect.soft(status, at).toBe(expected.status);
  if (expected.clientError) expect.soft(status >= 400 && status < 500, at).toBe(true);
  if (expected.code !== undefined) {
    expect.soft(codes.length, at).toBeGreaterThan(0);
    expect.soft(new Set(codes), at).toEqual(new Set([expected.code]));
  }
  if (expected.codes) {
    const allowed = new Set(expected.codes);
    if (codes.length === 0) expect.soft(expected.orData && status === 200, at).toBe(true);
    for (const code of codes) expect.soft(allowed.has(code ?? ''), at).toBe(true);
  }
}

/** Runs `tasks` with at most `width` in flight (PGlite serializes anyway; this hides latency). */
async function inPool<T>(tasks: (() => Promise<T>)[], width = 8): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < tasks.length) {
        const index = next++;
        results[index] = await (tasks[index] as () => Promise<T>)();
      }
    }),
  );
  return results;
}

// ---------------------------------------------------------------------------------------------

describe('tokens: every bad one is UNAUTHENTICATED (401) with the same message', () => {
  const sign = (
    claims: Record<string, unknown>,
    subject: string,
    options: { exp?: number | string; nbf?: number | string; key?: Uint8Array } = {},
  ) => {
    const jwt = new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(subject)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(options.exp ?? '1h');
    if (options.nbf !== undefined) jwt.setNotBefore(options.nbf);
    return jwt.sign(options.key ?? secret);
  };

  async function refused(label: string, token: string) {
    const outcome = await gql(`token: ${label}`, VIEWER, {}, token);
    judge(outcome, { status: 401, code: 'UNAUTHENTICATED' });
    expect.soft(outcome.body?.errors?.[0]?.message, label).toBe('Invalid or expired token');
  }

  it('forged, expired, not yet valid, alg none, wrong key, wrong claims', async () => {
    const org = a.org.id;
    const [header, , signature] = ownerA.split('.');
    const forgedPayload = Buffer.from(
      JSON.stringify({ org: b.org.id, sub: b.owner.id, iss: ISSUER, aud: AUDIENCE, exp: 9e9 }),
    ).toString('base64url');
    const { privateKey } = await generateKeyPair('RS256');
    const unsecured = new UnsecuredJWT({ org })
      .setSubject(a.owner.id)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime('1h')
      .encode();
    const bad: [string, string][] = [
      ['forged payload, original signature', `${header}.${forgedPayload}.${signature}`],
      ['signature stripped', `${header}.${ownerA.split('.')[1]}.`],
      [
        'signature of another token',
        `${ownerA.split('.').slice(0, 2).join('.')}.${ownerB.split('.')[2]}`,
      ],
      ['expired', await sign({ org }, a.owner.id, { exp: Math.floor(Date.now() / 1000) - 60 })],
      ['not yet valid', await sign({ org }, a.owner.id, { nbf: '1h' })],
      ['alg: none', unsecured],
      ['alg: none, with a signature', `${unsecured}${signature}`],
      [
        'wrong key',
        await sign({ org }, a.owner.id, { key: new TextEncoder().encode(`${TEST_SECRET}!`) }),
      ],
      ['empty key', await sign({ org }, a.owner.id, { key: new Uint8Array(32) })],
      [
        'RS256 from nobody',
        await new SignJWT({ org })
          .setProtectedHeader({ alg: 'RS256' })
          .setSubject(a.owner.id)
          .setIssuer(ISSUER)
          .setAudience(AUDIENCE)
          .setExpirationTime('1h')
          .sign(privateKey),
      ],
      ["A's user, B's organization", await sign({ org: b.org.id }, a.owner.id)],
      ['sub not a uuid', await sign({ org }, "' OR 1=1 --")],
      ['org not a uuid', await sign({ org: 'acme' }, a.owner.id)],
      ['org an array', await sign({ org: [org, b.org.id] }, a.owner.id)],
      ['garbage', 'not.a.token'],
      ['three dots', '...'],
      ['one segment', 'eyJhbGciOiJIUzI1NiJ9'],
      ['4 KB of base64', 'A'.repeat(4096)],
      ['over 4 KB', `${ownerA}${'A'.repeat(4096)}`],
    ];
    for (const [label, token] of bad) await refused(label, token);
  });

  it('malformed Authorization headers (raw: fetch would not send some of them)', async () => {
    const headers = [
      'Bearer',
      'Bearer ',
      `Bearer  ${ownerA}`,
      `bearer ${ownerA}`,
      `Basic ${Buffer.from('a:b').toString('base64')}`,
      `Bearer ${ownerA}, Bearer ${ownerB}`,
      `Bearer ${ownerA}\u00e9`,
      `Bearer ${ownerA.replace('.', '\u00ff.')}`,
    ];
    for (const header of headers) {
      const body = JSON.stringify({ query: VIEWER });
      const outcome = await raw(
        `authorization: ${header.slice(0, 20)}`,
        Buffer.from(
          `POST /graphql HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nAuthorization: ${header}\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
          'latin1',
        ),
      );
      judge(outcome, { status: 401, code: 'UNAUTHENTICATED' });
    }
    // Two Authorization headers: Node keeps the first and drops the others (documented for
    // `authorization`), so the request is the first token's, never a mix of the two.
    const body = JSON.stringify({ query: VIEWER });
    const two = await raw(
      'two authorization headers',
      `POST /graphql HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nAuthorization: Bearer ${ownerA}\r\nAuthorization: Bearer ${ownerB}\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    judge(two, { status: 200 });
    expect(two.body?.data?.viewer).toEqual({ name: 'Olive Owner' });
  });

  it('a deleted user and a deleted organization: their tokens stop working at once', async () => {
    const doomedOrg = await seedTenant(system, 'doomed');
    const doomedUser = await system.user.create({
      data: { organizationId: a.org.id, email: 'doomed@example.com', name: 'Doomed' },
    });
    const orgToken = await tokens.issue({
      userId: doomedOrg.owner.id,
      organizationId: doomedOrg.org.id,
    });
    const userToken = await tokens.issue({ userId: doomedUser.id, organizationId: a.org.id });
    // Positive controls: both work before the deletion.
    for (const token of [orgToken, userToken]) {
      const before = await gql('token before deletion', VIEWER, {}, token);
      judge(before, { status: 200 });
      expect(before.body?.data?.viewer).toBeTruthy();
    }
    await system.user.delete({
      where: { organizationId_id: { organizationId: a.org.id, id: doomedUser.id } },
    });
    await system.organization.delete({ where: { id: doomedOrg.org.id } });
    await refused('deleted user', userToken);
    await refused('deleted organization', orgToken);
    // Also on a mutation, and on a request that needs no authentication at all.
    const mutation = await gql(
      'deleted user: createPost',
      'mutation { createPost(input: { title: "ghost" }) { id } }',
      {},
      userToken,
    );
    judge(mutation, { status: 401, code: 'UNAUTHENTICATED' });
    judge(await gql('deleted org: __typename', '{ __typename }', {}, orgToken), {
      status: 401,
      code: 'UNAUTHENTICATED',
    });
  });
});

describe('the HTTP layer: headers, framing, methods and content types', () => {
  const json = JSON.stringify({ query: '{ __typename }' });
  const request = (headers: string, body = json, line = 'POST /graphql HTTP/1.1') =>
    `${line}\r\nHost: x\r\nConnection: close\r\n${headers}\r\n\r\n${body}`;
  const jsonHeaders = `Content-Type: application/json\r\nContent-Length: ${json.length}`;

  it('oversized headers are refused by Node with 431 before the app sees them', async () => {
    judge(
      await raw(
        '64 KB Authorization',
        request(`${jsonHeaders}\r\nAuthorization: Bearer ${'a'.repeat(64 * 1024)}`),
      ),
      { status: 431 },
    );
    judge(
      await raw('one 20 KB header', request(`${jsonHeaders}\r\nX-Big: ${'b'.repeat(20 * 1024)}`)),
      { status: 431 },
    );
    const many = Array.from({ length: 3000 }, (_, i) => `X-H${i}: v`).join('\r\n');
    judge(await raw('3,000 headers', request(`${jsonHeaders}\r\n${many}`)), { status: 431 });
    judge(
      await raw(
        'a 32 KB URL',
        request(jsonHeaders, json, `POST /graphql?${'q'.repeat(32 * 1024)} HTTP/1.1`),
      ),
      { status: 431 },
    );
    // Many small headers within the size limit are fine: the request is answered.
    const fits = Array.from({ length: 500 }, (_, i) => `X-H${i}: v`).join('\r\n');
    const answered = await raw('500 small headers', request(`${jsonHeaders}\r\n${fits}`));
    judge(answered, { status: 200 });
    expect(answered.body?.data).toEqual({ __typename: 'Query' });
  });

  it('broken framing is refused by Node with 400', async () => {
    const framing: [string, string | Buffer][] = [
      ['garbage request line', 'HELLO\r\n\r\n'],
      ['NUL in a header value', request(`${jsonHeaders}\r\nX-Nul: a\u0000b`)],
      ['space before the colon', request(`${jsonHeaders}\r\nX-Bad : v`)],
      [
        'Content-Length not a number',
        request('Content-Type: application/json\r\nContent-Length: abc'),
      ],
      ['two different Content-Lengths', request(`${jsonHeaders}\r\nContent-Length: 3`)],
      [
        'Content-Length and chunked (smuggling)',
        request(`${jsonHeaders}\r\nTransfer-Encoding: chunked`),
      ],
      [
        'bad chunk size',
        request(
          'Content-Type: application/json\r\nTransfer-Encoding: chunked',
          'zz\r\nabc\r\n0\r\n\r\n',
        ),
      ],
      ['negative Content-Length', request('Content-Type: application/json\r\nContent-Length: -1')],
    ];
    for (const [label, bytes] of framing) judge(await raw(label, bytes), { status: 400 });
    // Without a version Node takes the line for HTTP/0.9-style and the app refuses it (4xx).
    judge(await raw('no HTTP version', 'POST /graphql\r\n\r\n'), { clientError: true });
  });

  it('a body shorter than its Content-Length does not hang the server', async () => {
    const outcome = await raw(
      'truncated body',
      request('Content-Type: application/json\r\nContent-Length: 1000', '{"query":'),
      300,
    );
    // No answer yet: the server waits for the rest (requestTimeout bounds the wait). The client
    // then hangs up, which must not count as an unexpected error (checked at the end).
    expect(outcome.status).toBe(0);
  });

  it('methods, paths and content types', async () => {
    const csrf = { 'x-graphql-yoga-csrf': '1' };
    const q = encodeURIComponent('{ __typename }');
    const m = encodeURIComponent('mutation { createPost(input: { title: "via GET" }) { id } }');
    const checks: [Promise<Outcome>, Expected][] = [
      [send('PUT', { method: 'PUT', body: json }), { clientError: true }],
      [send('DELETE', { method: 'DELETE' }), { clientError: true }],
      [
        send('PATCH', {
          method: 'PATCH',
          body: json,
          headers: { 'content-type': 'application/json' },
        }),
        { status: 405 },
      ],
      [
        send('GET without CSRF header', { method: 'GET', path: `/graphql?query=${q}` }),
        { status: 403, code: 'CSRF_PREVENTED' },
      ],
      [
        send('GET mutation', {
          method: 'GET',
          path: `/graphql?query=${m}`,
          headers: { ...csrf, authorization: `Bearer ${ownerA}` },
        }),
        { status: 405 },
      ],
      [
        send('GET bad variables', {
          method: 'GET',
          path: `/graphql?query=${q}&variables=%7Bnope`,
          headers: csrf,
        }),
        { status: 400, code: 'BAD_REQUEST' },
      ],
      [
        send('GET no query', {
          method: 'GET',
          path: '/graphql',
          headers: { ...csrf, accept: 'application/json' },
        }),
        { code: 'BAD_REQUEST' },
      ],
      [send('unknown path', { method: 'GET', path: '/graphql/../../etc/passwd' }), { status: 404 }],
      [send('unknown path 2', { method: 'POST', path: '/admin', body: json }), { status: 404 }],
      [
        post('text/plain, no CSRF header', json, { 'content-type': 'text/plain' }),
        { status: 403, code: 'CSRF_PREVENTED' },
      ],
      [
        post('form, no CSRF header', `query=${q}`, {
          'content-type': 'application/x-www-form-urlencoded',
        }),
        { status: 403, code: 'CSRF_PREVENTED' },
      ],
      [
        post('multipart, no CSRF header', '--x--\r\n', {
          'content-type': 'multipart/form-data; boundary=x',
        }),
        { status: 403, code: 'CSRF_PREVENTED' },
      ],
      [
        post('text/plain with CSRF header', json, { 'content-type': 'text/plain', ...csrf }),
        { status: 415 },
      ],
      [
        post('application/xml', '<query/>', { 'content-type': 'application/xml', ...csrf }),
        { status: 415 },
      ],
      [post('no content type', json, { 'content-type': '', ...csrf }), { status: 415 }],
      [
        post('multipart, broken', '--x\r\nnonsense', {
          'content-type': 'multipart/form-data; boundary=x',
          ...csrf,
        }),
        { status: 400, code: 'BAD_REQUEST' },
      ],
      [
        post(
          'multipart, no operations',
          '--x\r\nContent-Disposition: form-data; name="map"\r\n\r\n{}\r\n--x--\r\n',
          { 'content-type': 'multipart/form-data; boundary=x', ...csrf },
        ),
        { status: 400, code: 'BAD_REQUEST' },
      ],
      [post('graphql+json', json, { 'content-type': 'application/graphql+json' }), { status: 200 }],
      [
        post('json, charset utf-16', json, { 'content-type': 'application/json; charset=utf-16' }),
        { status: 200 },
      ],
    ];
    for (const [outcome, expected] of checks) judge(await outcome, expected);
  });
});

describe('bodies: size, JSON and encoding', () => {
  const { bodyBytes } = REQUEST_LIMITS;
  const padded = (size: number) => {
    // A valid request of exactly `size` bytes: the query padded with spaces (ignored tokens).
    const prefix = '{"query":"{ __typename }';
    const suffix = '"}';
    return prefix + ' '.repeat(size - prefix.length - suffix.length) + suffix;
  };

  it('the limit is exact: a body of the limit is served, one byte more is 413', async () => {
    const atLimit = await post('body at the limit', padded(bodyBytes));
    judge(atLimit, { status: 200 });
    expect(atLimit.body?.data).toEqual({ __typename: 'Query' });
    judge(await post('body one byte over', padded(bodyBytes + 1)), {
      status: 413,
      code: 'REQUEST_ENTITY_TOO_LARGE',
    });
  });

  it('5 MB, a 10 MB variable and a batch that is too big are refused with 413', async () => {
    const huge = (n: number) =>
      JSON.stringify({ query: '{ __typename }', variables: { x: 'x'.repeat(n) } });
    judge(await post('5 MB', huge(5_000_000)), { status: 413, code: 'REQUEST_ENTITY_TOO_LARGE' });
    judge(
      await gql(
        '10 MB string variable',
        'mutation($t: String!) { createPost(input: { title: $t }) { id } }',
        { t: 'x'.repeat(10_000_000) },
        ownerA,
      ),
      { status: 413, code: 'REQUEST_ENTITY_TOO_LARGE' },
    );
  });

  it('50 MB with Content-Length: refused at once, without reading the body', async () => {
    const outcome = await stream('50 MB, Content-Length', 50_000_000, { contentLength: true });
    judge(outcome, { status: 413, code: 'REQUEST_ENTITY_TOO_LARGE' });
    // The answer came before the client had sent even the limit's worth of bytes.
    expect(outcome.sent).toBeLessThan(50_000_000);
  });

  it('chunked bodies without Content-Length: refused once the limit is read, not at the end', async () => {
    for (const total of [5_000_000, 50_000_000]) {
      const outcome = await stream(`${total / 1e6} MB, chunked`, total, { contentLength: false });
      judge(outcome, { status: 413, code: 'REQUEST_ENTITY_TOO_LARGE' });
      // Cut off after the limit plus what the sockets buffer (~4 MB on loopback), not at 50 MB.
      expect(outcome.sent).toBeLessThan(Math.min(total, 10 * bodyBytes));
    }
    // A small chunked body is fine.
    const small = await raw(
      'small chunked body',
      `POST /graphql HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${json(JSON.stringify({ query: '{ __typename }' }))}`,
    );
    judge(small, { status: 200 });
    function json(text: string) {
      return `${text.length.toString(16)}\r\n${text}\r\n0\r\n\r\n`;
    }
  });

  it('malformed JSON, wrong shapes and unknown parameters are 400 BAD_REQUEST', async () => {
    const bodies = [
      '',
      ' ',
      '{',
      '{"query":',
      '{"query": "{ __typename }",}',
      "{'query': '{ __typename }'}",
      'undefined',
      'null',
      'true',
      '42',
      '"{ __typename }"',
      '[1, 2]',
      '[null]',
      '{"query": 42}',
      '{"query": null}',
      '{"query": ["{ __typename }"]}',
      '{"query": "{ __typename }", "variables": "x"}',
      '{"query": "{ __typename }", "variables": [1]}',
      '{"query": "{ __typename }", "extensions": "x"}',
      '{"query": "{ __typename }", "operationName": 5}',
      '{"query": "{ __typename }", "unknown": 1}',
      '{}',
      `${'['.repeat(100_000)}${']'.repeat(100_000)}`,
      `{"query": "{ __typename }", "variables": {"x": ${'['.repeat(100_000)}${']'.repeat(100_000)}}}`.replace(
        '"variables"',
        '"nope"',
      ),
      '{"query" :: "{ __typename }"}',
    ];
    for (const body of bodies) {
      const outcome = await post(`body ${JSON.stringify(body.slice(0, 40))}`, body);
      judge(outcome, { codes: ['BAD_REQUEST', 'OPERATION_RESOLUTION_FAILURE'] });
      // No parser message quoting the body back (Yoga's `extensions.originalError`).
      expect.soft(outcome.text, outcome.label).not.toMatch(/originalError|is not valid JSON/);
    }
  });

  it('odd but valid JSON is served or refused cleanly', async () => {
    const bodies: [string, string][] = [
      [
        'deeply nested unused variable',
        `{"query": "{ __typename }", "variables": {"x": ${'['.repeat(100_000)}${']'.repeat(100_000)}}}`,
      ],
      [
        'deeply nested used variable',
        `{"query": "query($x: [String]) { posts(after: $x) { totalCount } }", "variables": {"x": ${'['.repeat(100_000)}${']'.repeat(100_000)}}}`,
      ],
      [
        '__proto__ variable',
        '{"query": "query($x: Int) { posts(first: $x) { totalCount } }", "variables": {"__proto__": {"x": 1}}}',
      ],
      [
        'constructor variable',
        '{"query": "query($x: Int) { posts(first: $x) { totalCount } }", "variables": {"constructor": {"prototype": 1}}}',
      ],
      ['duplicate keys', '{"query": "{ nope }", "query": "{ __typename }"}'],
      ['empty batch', '[]'],
      ['BOM first', '\uFEFF{"query": "{ __typename }"}'],
    ];
    for (const [label, body] of bodies) {
      judge(await post(label, body, { authorization: `Bearer ${ownerA}` }), {
        codes: ['BAD_REQUEST', 'BAD_USER_INPUT', 'GRAPHQL_VALIDATION_FAILED'],
        orData: true,
      });
    }
  });

  it('invalid UTF-8 is refused or decoded to U+FFFD, never stored as raw bytes', async () => {
    const bytes = (...parts: (string | number[])[]) =>
      Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));
    // In the JSON structure: invalid JSON.
    judge(await post('invalid UTF-8 outside strings', bytes('{"query"', [0xff, 0xfe], ':1}')), {
      code: 'BAD_REQUEST',
    });
    judge(
      await post(
        'UTF-16 body',
        Buffer.from(JSON.stringify({ query: '{ __typename }' }), 'utf16le'),
      ),
      {
        code: 'BAD_REQUEST',
      },
    );
    // Inside a string: the decoder replaces each bad sequence; an overlong NUL (C0 80) does
    // not smuggle a NUL through.
    const sequences: [string, number[]][] = [
      ['0xFF', [0xff]],
      ['overlong NUL', [0xc0, 0x80]],
      ['encoded surrogate', [0xed, 0xa0, 0x80]],
      ['truncated 4-byte', [0xf0, 0x9f, 0x9a]],
      ['above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
    ];
    for (const [label, sequence] of sequences) {
      const outcome = await post(
        `title with ${label}`,
        bytes(
          '{"query":"mutation($t: String!) { createPost(input: { title: $t }) { title } }","variables":{"t":"a',
          sequence,
          'b"}}',
        ),
        { authorization: `Bearer ${ownerA}` },
      );
      judge(outcome, { status: 200 });
      const title = (outcome.body?.data?.createPost as { title: string } | undefined)?.title;
      expect.soft(title, label).toMatch(/^a\uFFFD+b$/);
    }
  });
});

describe('documents: syntax, validation, size, depth, fragments, batches', () => {
  it('syntax errors are GRAPHQL_PARSE_FAILED', async () => {
    const documents = [
      '{',
      '}',
      '{ viewer { name }',
      'query {',
      '"unterminated',
      '{ viewer(: 1) { name } }',
      '{ __typename \u0000 }',
      '{ __typename \uD800 }',
      '{ __typename } }',
      'query Q($: Int) { __typename }',
      '{ posts(first: 1e999999999) { totalCount } }',
      '{ a: b: c }',
      '\u202E{ __typename }',
      '#only a comment',
      '',
      ' ',
    ];
    for (const doc of documents) {
      const outcome = await gql(`syntax ${JSON.stringify(doc)}`, doc, {}, ownerA);
      // An Int literal out of range parses, and fails validation.
      judge(outcome, {
        codes: ['GRAPHQL_PARSE_FAILED', 'BAD_REQUEST', 'GRAPHQL_VALIDATION_FAILED'],
      });
    }
  });

  it('unknown fields, arguments, types, directives and operations are GRAPHQL_VALIDATION_FAILED', async () => {
    const documents = [
      '{ nope }',
      '{ viewer { password passwordHash } }',
      '{ viewer(id: 1) { name } }',
      '{ posts(where: { organizationId: "x" }) { totalCount } }',
      'query($x: Nope) { __typename }',
      '{ __typename @nope }',
      '{ __typename @include(if: true) @include(if: true) }',
      'subscription { posts { totalCount } }',
      'query A { __typename } query A { __typename }',
      '{ viewer }',
      '{ viewer { name { length } } }',
      'mutation { deletePost }',
      '{ post(id: 1, id: 2) { id } }',
      'query($id: ID!) { post(id: $id) { id } }',
      'fragment F on Nope { id } { ...F }',
      '{ ...Missing }',
      'query { __type(name: "User") { fields { name } } } fragment Unused on User { id }',
    ];
    for (const doc of documents) {
      const outcome = await gql(`validation ${doc.slice(0, 40)}`, doc, {}, ownerA);
      judge(outcome, {
        codes: ['GRAPHQL_VALIDATION_FAILED', 'BAD_USER_INPUT', 'OPERATION_RESOLUTION_FAILURE'],
      });
    }
  });

  it('two operations without operationName, or an unknown one, are refused with a code', async () => {
    const two = 'query A { __typename } query B { __typename }';
    judge(await gql('two operations, no name', two, {}, ownerA), {
      codes: ['OPERATION_RESOLUTION_FAILURE'],
    });
    judge(
      await post('unknown operationName', JSON.stringify({ query: two, operationName: 'C' }), {
        authorization: `Bearer ${ownerA}`,
      }),
      { codes: ['OPERATION_RESOLUTION_FAILURE'] },
    );
  });

  it('variables of the wrong type are BAD_USER_INPUT', async () => {
    const first = 'query($n: Int) { posts(first: $n) { totalCount } }';
    const id = 'query($id: ID!) { post(id: $id) { id } }';
    const role =
      'mutation($r: Role!, $u: ID!) { changeMemberRole(input: { userId: $u, role: $r }) { id } }';
    const input = 'mutation($i: CreatePostInput!) { createPost(input: $i) { id } }';
    const variables: [string, string, unknown][] = [
      ['Int ← string', first, { n: 'x' }],
      ['Int ← float', first, { n: 1.5 }],
      ['Int ← 2^31', first, { n: 2 ** 31 }],
      ['Int ← 1e308', first, { n: 1e308 }],
      ['Int ← boolean', first, { n: true }],
      ['Int ← object', first, { n: { $gt: 0 } }],
      ['Int ← array', first, { n: [1] }],
      ['ID! ← null', id, { id: null }],
      ['ID! ← missing', id, {}],
      ['ID! ← object', id, { id: { id: 1 } }],
      ['ID! ← float', id, { id: 1.5 }],
      ['Role ← unknown', role, { r: 'SUPERUSER', u: ids.user(a.member) }],
      ['Role ← lower case', role, { r: 'owner', u: ids.user(a.member) }],
      ['input ← extra field', input, { i: { title: 'x', organizationId: b.org.id } }],
      ['input ← missing field', input, { i: { content: 'x' } }],
      ['input ← string', input, { i: 'title' }],
      ['input ← null', input, { i: null }],
      ['input title ← number', input, { i: { title: 5 } }],
      ['input title ← array', input, { i: { title: ['a', 'b'] } }],
    ];
    for (const [label, query, vars] of variables) {
      judge(await gql(`variable ${label}`, query, vars, ownerA), { code: 'BAD_USER_INPUT' });
    }
  });

  it('connection arguments out of range are BAD_USER_INPUT (or capped)', async () => {
    const args: [string, Expected][] = [
      ['first: -1', { code: 'BAD_USER_INPUT' }],
      ['last: -1', { code: 'BAD_USER_INPUT' }],
      ['first: 2147483647', { status: 200 }],
      ['first: 2147483648', { code: 'GRAPHQL_VALIDATION_FAILED' }],
      ['first: 1, last: 1', { codes: ['BAD_USER_INPUT'], orData: true }],
      ['after: "nope"', { code: 'BAD_USER_INPUT' }],
      ['after: ""', { codes: ['BAD_USER_INPUT'], orData: true }],
      [`after: "${'A'.repeat(10_000)}"`, { code: 'BAD_USER_INPUT' }],
      ['before: "R1BDOnN0cmluZw"', { code: 'BAD_USER_INPUT' }],
      [`after: "${Buffer.from('GPC:J:["x"]').toString('base64')}"`, { code: 'BAD_USER_INPUT' }],
      [
        `after: "${Buffer.from('GPC:J:{"organizationId":"\' OR 1=1","id":"x"}').toString('base64')}"`,
        { code: 'BAD_USER_INPUT' },
      ],
    ];
    for (const [arg, expected] of args) {
      judge(
        await gql(`posts(${arg.slice(0, 40)})`, `{ posts(${arg}) { totalCount } }`, {}, ownerA),
        expected,
      );
    }
    const pages: [string, Expected][] = [
      ['page: 0', { code: 'BAD_USER_INPUT' }],
      ['page: -5', { code: 'BAD_USER_INPUT' }],
      ['page: 1000000', { code: 'BAD_USER_INPUT' }],
      ['pageSize: 0', { code: 'BAD_USER_INPUT' }],
      ['pageSize: 1000000', { code: 'BAD_USER_INPUT' }],
      ['page: null', { codes: ['BAD_USER_INPUT'], orData: true }],
    ];
    for (const [arg, expected] of pages) {
      judge(
        await gql(`postsPage(${arg})`, `{ postsPage(${arg}) { totalCount } }`, {}, ownerA),
        expected,
      );
    }
  });

  it("another tenant's cursor finds nothing of the other tenant", async () => {
    const page = await gql(
      'B cursor',
      '{ posts(first: 1) { pageInfo { endCursor } } }',
      {},
      ownerB,
    );
    const posts = page.body?.data?.posts as { pageInfo: { endCursor: string } } | undefined;
    const cursor = posts?.pageInfo.endCursor;
    expect(cursor).toBeTruthy();
    for (const arg of ['after', 'before']) {
      const outcome = await gql(
        `A with B's cursor (${arg})`,
        `query($c: String) { posts(${arg}: $c, ${arg === 'after' ? 'first' : 'last'}: 5) { edges { node { id } } } }`,
        { c: cursor },
        ownerA,
      );
      judge(outcome, { codes: ['BAD_USER_INPUT', 'NOT_FOUND'], orData: true });
      expect.soft(outcome.text).not.toContain(ids.post(b.post));
    }
  });

  it('oversized, deep and wide documents are refused before they cost anything', async () => {
    const { documentTokens } = REQUEST_LIMITS;
    const nest = (levels: number) => `{ ${'a { '.repeat(levels)}b${' }'.repeat(levels)} }`;
    const refusedForSize: [string, string][] = [
      ['20,000 levels deep', nest(20_000)],
      ['1,000 levels deep', nest(1_000)],
      ['50,000 fields wide', `{ ${'__typename '.repeat(50_000)}}`],
      [
        '1,000 aliases',
        `{ ${Array.from({ length: 1000 }, (_, i) => `a${i}: __typename`).join(' ')} }`,
      ],
      ['5,000 directives', `{ __typename ${'@include(if: true) '.repeat(5_000)}}`],
      [
        '5,000 variables',
        `query(${Array.from({ length: 5000 }, (_, i) => `$v${i}: Int`).join(' ')}) { __typename }`,
      ],
      [
        '5,000 fragments',
        Array.from({ length: 5000 }, (_, i) => `fragment F${i} on Query { __typename }`).join(' '),
      ],
      ['over the token limit', `{ ${'__typename '.repeat(documentTokens)}}`],
    ];
    for (const [label, doc] of refusedForSize) {
      const outcome = await gql(label, doc, {}, ownerA);
      judge(outcome, { code: 'GRAPHQL_PARSE_FAILED' });
      expect
        .soft(outcome.body?.errors?.[0]?.message, label)
        .toMatch(/Document contains more \w+ \d+ tokens/);
    }
    // Deep and wide within the token limit: refused by the depth/breadth/complexity limits.
    const members = 'organization { members(first: 100) { edges { node { ';
    const deepValid = `{ viewer { ${members.repeat(60)}id${' } } } }'.repeat(60)} } }`;
    judge(await gql('deep but valid (60 levels)', deepValid, {}, ownerA), {
      code: 'QUERY_TOO_COMPLEX',
    });
    // 30 aliases (the most allowed) of a three-level tree of connections.
    const tree =
      'posts(first: 100) { edges { node { comments(first: 100) { edges { node { author { posts(first: 100) { edges { node { id } } } } } } } } } }';
    const heavy = `{ ${Array.from({ length: 30 }, (_, i) => `p${i}: ${tree}`).join(' ')} }`;
    judge(await gql('complexity', heavy, {}, ownerA), { code: 'QUERY_TOO_COMPLEX' });
    const aliases = `{ ${Array.from({ length: 31 }, (_, i) => `v${i}: viewer { id }`).join(' ')} }`;
    const aliased = await gql('31 aliases', aliases, {}, ownerA);
    judge(aliased, { code: 'QUERY_TOO_COMPLEX' });
    expect.soft(aliased.body?.errors?.[0]?.message).toBe('Aliases limit of 30 exceeded, found 31.');
    expect.soft(aliased.body?.data ?? null).toBeNull();
  });

  it('fragment cycles and fragment bombs', async () => {
    const documents: [string, string][] = [
      ['self cycle', '{ viewer { ...A } } fragment A on User { ...A }'],
      ['two-cycle', '{ viewer { ...A } } fragment A on User { ...B } fragment B on User { ...A }'],
      [
        'cycle through a field',
        '{ viewer { ...A } } fragment A on User { organization { members { edges { node { ...A } } } } }',
      ],
      ['unused cycle', '{ __typename } fragment A on User { ...B } fragment B on User { ...A }'],
      [
        'fragment bomb (2^40 fields)',
        `{ viewer { ...F40 } } fragment F0 on User { id } ${Array.from({ length: 40 }, (_, i) => `fragment F${i + 1} on User { ...F${i} ...F${i} }`).join(' ')}`,
      ],
      [
        'aliased fragment bomb',
        `{ viewer { ...F30 } } fragment F0 on User { a: id b: id } ${Array.from(
          { length: 30 },
          (_, i) =>
            `fragment F${i + 1} on User { x${i}: organization { ...F${i} } y${i}: organization { ...F${i} } }`,
        )
          .join(' ')
          .replaceAll('organization { ...', 'organization { members { edges { node { ...')
          .replaceAll(/(\.\.\.F\d+) \}/g, '$1 } } } }')}`,
      ],
    ];
    for (const [label, doc] of documents) {
      const started = performance.now();
      const outcome = await gql(label, doc, {}, ownerA);
      judge(outcome, {
        codes: ['GRAPHQL_VALIDATION_FAILED', 'QUERY_TOO_COMPLEX', 'BAD_USER_INPUT'],
      });
      expect.soft(outcome.body?.errors?.length ?? 0, label).toBeGreaterThan(0);
      expect.soft(performance.now() - started, `${label} took too long`).toBeLessThan(2_000);
    }
  });

  it('introspection cannot be turned into a huge answer', async () => {
    const nested = (levels: number) =>
      `{ __schema { types { ${'fields { type { ofType { '.repeat(levels)}name${' } } }'.repeat(levels)} } } }`;
    const started = performance.now();
    const outcome = await gql('nested introspection', nested(8), {}, ownerA);
    judge(outcome, { code: 'GRAPHQL_VALIDATION_FAILED' });
    expect.soft(outcome.text.length, 'introspection answer size').toBeLessThan(5_000_000);
    expect.soft(performance.now() - started, 'introspection time').toBeLessThan(3_000);
  });

  it('batches: over 10 operations or malformed are refused; each operation judged alone', async () => {
    const auth = { authorization: `Bearer ${ownerA}` };
    const many = (n: number) =>
      JSON.stringify(Array.from({ length: n }, () => ({ query: '{ viewer { id } }' })));
    judge(await post('batch of 1,000', many(1000), auth), { status: 413, code: 'BAD_REQUEST' });
    judge(await post('batch of 11', many(11), auth), { status: 413, code: 'BAD_REQUEST' });
    judge(await post('batch of numbers', '[1, 2, 3]', auth), { code: 'BAD_REQUEST' });
    judge(
      await post(
        'batch of 10 × 1,000 aliases',
        JSON.stringify(
          Array.from({ length: 10 }, () => ({ query: `{ ${'__typename '.repeat(5000)}}` })),
        ),
        auth,
      ),
      {},
    );
    const mixed = await post(
      'mixed batch',
      JSON.stringify([
        { query: '{ viewer { name } }' },
        { query: '{ nope }' },
        { query: '{' },
        { query: 'query($n: Int) { posts(first: $n) { totalCount } }', variables: { n: 'x' } },
      ]),
      auth,
    );
    expect.soft(mixed.status).toBeLessThan(500);
    const results = JSON.parse(mixed.text) as GraphQLResponse[];
    expect.soft(results[0]?.data?.viewer).toEqual({ name: 'Olive Owner' });
    for (const [index, result] of results.slice(1).entries()) {
      const outcome = {
        label: `mixed batch #${index + 1}`,
        status: 200,
        text: JSON.stringify(result),
        body: result,
      };
      judge(outcome, {
        codes: ['GRAPHQL_VALIDATION_FAILED', 'GRAPHQL_PARSE_FAILED', 'BAD_USER_INPUT'],
      });
    }
  });
});

/**
 * Hostile text. `clean` strings are legitimate text (they must be stored exactly, or refused
 * for an ordinary reason such as a length rule); the others must be BAD_USER_INPUT wherever
 * they are shown. `multiline` marks what content and comments may hold; `unstorable`, what
 * even a password may not (PostgreSQL cannot store NUL; a lone surrogate is not Unicode).
 */
const TEXTS: readonly {
  label: string;
  value: string;
  clean: boolean;
  multiline?: boolean;
  unstorable?: boolean;
}[] = [
  { label: 'SQL: quote and comment', value: "'); DROP TABLE posts; --", clean: true },
  { label: 'SQL: tautology', value: "' OR '1'='1", clean: true },
  { label: 'SQL: stacked', value: "x'; SELECT pg_sleep(10); --", clean: true },
  { label: 'SQL: LIKE wildcards', value: '%_\\%', clean: true },
  { label: 'SQL: dollar quoting', value: '$$; $1 ::text', clean: true },
  { label: 'JSON operators', value: '{"$gt": ""}', clean: true },
  { label: '__proto__', value: '__proto__', clean: true },
  { label: 'HTML', value: '<script>alert(1)</script>', clean: true },
  { label: 'RTL override', value: '\u202Egnp.exe', clean: true },
  { label: 'RTL mark', value: '\u200Fשלום עולם', clean: true },
  { label: 'emoji ZWJ', value: '🚀 👩‍👩‍👧‍👦 🏳️‍🌈', clean: true },
  { label: '4-byte', value: '𝕳𝖊𝖑𝖑𝖔 𠜎𠜱', clean: true },
  { label: 'combining marks', value: 'Z̷̢͎̈́a̵̗͝l̴g̸o̶', clean: true },
  { label: 'zero width', value: 'a\u200Bb\u200Dc', clean: true },
  { label: 'BOM inside', value: 'a\uFEFFb', clean: true },
  { label: 'NUL', value: 'a\u0000b', clean: false, unstorable: true },
  { label: 'NUL alone', value: '\u0000', clean: false, unstorable: true },
  { label: 'lone high surrogate', value: 'a\uD800b', clean: false, unstorable: true },
  { label: 'lone low surrogate', value: '\uDC00z', clean: false, unstorable: true },
  { label: 'reversed pair', value: '\uDC00\uD83D', clean: false, unstorable: true },
  { label: 'ESC sequence', value: 'x\u001b[2J\u001b[31mred', clean: false },
  { label: 'DEL', value: 'x\u007fy', clean: false },
  { label: 'newline', value: 'two\nlines', clean: false, multiline: true },
  { label: 'CRLF and tab', value: 'a\r\n\tb', clean: false, multiline: true },
  { label: '100,000 characters', value: 'x'.repeat(100_000), clean: false, multiline: false },
];
const DIRTY = TEXTS.filter((t) => !t.clean);
const UNSTORABLE = TEXTS.filter((t) => t.unstorable);

describe('hostile text in every text field of every mutation', () => {
  type Field = Readonly<{
    name: string;
    /** The mutation and its variables for one hostile value. */
    make: (value: string, n: number) => [query: string, variables: Record<string, unknown>];
    /** Where the stored value comes back, for the round trip of clean text. */
    read?: (data: Record<string, unknown>) => unknown;
    multiline?: boolean;
    /** The rule trims: clean text comes back trimmed. */
    trimmed?: boolean;
    token?: () => string;
    /** Which texts to try: sign-up, sign-in and createMember hash a password (~250 ms). */
    texts?: typeof TEXTS;
    /** Codes other than BAD_USER_INPUT a value may get here. */
    alsoCodes?: readonly string[];
  }>;

  const signUp = (over: Record<string, string>, n: number) => ({
    input: {
      organizationName: 'Hostile Inc',
      organizationSlug: `hostile-${n}`,
      email: `h${n}@example.com`,
      password: 'correct-horse-9',
      name: 'Harriet',
      ...over,
    },
  });
  const SIGN_UP =
    'mutation($input: SignUpInput!) { signUp(input: $input) { user { name } organization { name } } }';
  const SIGN_IN = 'mutation($input: SignInInput!) { signIn(input: $input) { token } }';
  const CREATE_MEMBER =
    'mutation($input: CreateMemberInput!) { createMember(input: $input) { name } }';
  const UPDATE_PROFILE =
    'mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { name email } }';
  const CREATE_POST =
    'mutation($input: CreatePostInput!) { createPost(input: $input) { title content } }';
  const UPDATE_POST =
    'mutation($input: UpdatePostInput!) { updatePost(input: $input) { title content } }';
  const CREATE_COMMENT =
    'mutation($input: CreateCommentInput!) { createComment(input: $input) { body } }';
  const UPDATE_COMMENT =
    'mutation($input: UpdateCommentInput!) { updateComment(input: $input) { body } }';
  // Each sign-up that passes validation hashes a password (~250 ms): one clean text per field.
  const withSql = [...DIRTY, ...TEXTS.filter((t) => t.label === 'SQL: quote and comment')];
  const with4Byte = [...DIRTY, ...TEXTS.filter((t) => t.label === '4-byte')];
  // Sign-in hashes even a wrong password: only what reaches the database differently.
  const signInFew = TEXTS.filter((t) =>
    ['NUL', 'lone high surrogate', 'SQL: quote and comment'].includes(t.label),
  );
  const fields = (): Field[] => [
    {
      name: 'signUp.organizationName',
      trimmed: true,
      make: (v, n) => [SIGN_UP, signUp({ organizationName: v }, n)],
      read: (d) => (d.signUp as { organization: { name: string } }).organization.name,
      texts: withSql,
    },
    {
      name: 'signUp.organizationSlug',
      make: (v, n) => [SIGN_UP, signUp({ organizationSlug: v }, n)],
      texts: TEXTS,
    },
    { name: 'signUp.email', make: (v, n) => [SIGN_UP, signUp({ email: v }, n)], texts: TEXTS },
    {
      name: 'signUp.password',
      make: (v, n) => [SIGN_UP, signUp({ password: `Aa1-${v}-long-enough` }, n)],
      texts: UNSTORABLE,
    },
    {
      name: 'signUp.name',
      trimmed: true,
      make: (v, n) => [SIGN_UP, signUp({ name: v }, n)],
      read: (d) => (d.signUp as { user: { name: string } }).user.name,
      texts: with4Byte,
    },
    {
      name: 'signIn.organizationSlug',
      make: (v) => [
        SIGN_IN,
        { input: { organizationSlug: v, email: 'owner@example.com', password: 'x' } },
      ],
      texts: signInFew,
      alsoCodes: ['UNAUTHENTICATED'],
    },
    {
      name: 'signIn.email',
      make: (v) => [SIGN_IN, { input: { organizationSlug: 'acme', email: v, password: 'x' } }],
      texts: signInFew,
      alsoCodes: ['UNAUTHENTICATED'],
    },
    {
      name: 'signIn.password',
      make: (v) => [
        SIGN_IN,
        { input: { organizationSlug: 'acme', email: 'owner@example.com', password: v } },
      ],
      texts: signInFew.filter((t) => !t.clean),
      alsoCodes: ['UNAUTHENTICATED'],
    },
    {
      name: 'createMember.email',
      make: (v) => [CREATE_MEMBER, { input: { email: v, name: 'M', password: 'correct-horse-9' } }],
      token: () => ownerA,
      texts: TEXTS,
    },
    {
      name: 'createMember.name',
      trimmed: true,
      make: (v, n) => [
        CREATE_MEMBER,
        { input: { email: `m${n}@example.com`, name: v, password: 'correct-horse-9' } },
      ],
      read: (d) => (d.createMember as { name: string }).name,
      token: () => ownerA,
      texts: DIRTY,
    },
    {
      name: 'createMember.password',
      make: (v, n) => [
        CREATE_MEMBER,
        { input: { email: `p${n}@example.com`, name: 'P', password: `Aa1-${v}-long-enough` } },
      ],
      token: () => ownerA,
      texts: UNSTORABLE,
    },
    {
      name: 'updateProfile.name',
      trimmed: true,
      make: (v) => [UPDATE_PROFILE, { input: { name: v } }],
      read: (d) => (d.updateProfile as { name: string }).name,
      token: () => memberA,
    },
    {
      name: 'updateProfile.email',
      make: (v) => [UPDATE_PROFILE, { input: { email: v } }],
      token: () => memberA,
    },
    {
      name: 'createPost.title',
      trimmed: true,
      make: (v) => [CREATE_POST, { input: { title: v } }],
      read: (d) => (d.createPost as { title: string }).title,
      token: () => memberA,
    },
    {
      name: 'createPost.content',
      make: (v) => [CREATE_POST, { input: { title: 't', content: v } }],
      read: (d) => (d.createPost as { content: string }).content,
      multiline: true,
      token: () => memberA,
    },
    {
      name: 'updatePost.title',
      trimmed: true,
      make: (v) => [UPDATE_POST, { input: { id: ids.post(a.post), title: v } }],
      read: (d) => (d.updatePost as { title: string }).title,
      token: () => ownerA,
    },
    {
      name: 'updatePost.content',
      make: (v) => [UPDATE_POST, { input: { id: ids.post(a.post), content: v } }],
      read: (d) => (d.updatePost as { content: string }).content,
      multiline: true,
      token: () => ownerA,
    },
    {
      name: 'createComment.body',
      trimmed: true,
      make: (v) => [CREATE_COMMENT, { input: { postId: ids.post(a.post), body: v } }],
      read: (d) => (d.createComment as { body: string }).body,
      multiline: true,
      token: () => memberA,
    },
    {
      name: 'updateComment.body',
      trimmed: true,
      make: (v) => [UPDATE_COMMENT, { input: { id: ids.comment(a.comment), body: v } }],
      read: (d) => (d.updateComment as { body: string }).body,
      multiline: true,
      token: () => memberA,
    },
  ];

  it('is stored exactly or refused with BAD_USER_INPUT, never an internal error', async () => {
    let n = 0;
    const tasks = fields().flatMap((field) =>
      (field.texts ?? TEXTS).map((text) => async () => {
        const [query, variables] = field.make(text.value, n++);
        const outcome = await gql(
          `${field.name} ← ${text.label}`,
          query,
          variables,
          field.token?.(),
        );
        const allowed = ['BAD_USER_INPUT', ...(field.alsoCodes ?? [])];
        const acceptable = text.clean || (field.multiline && text.multiline);
        judge(
          outcome,
          acceptable
            ? { codes: allowed, orData: true }
            : { code: allowed.length > 1 ? undefined : 'BAD_USER_INPUT', codes: allowed },
        );
        if (!acceptable && !field.alsoCodes) {
          expect
            .soft(outcome.body?.errors?.[0]?.extensions?.field, outcome.label)
            .toBe(field.name.split('.')[1]);
        }
        const data = outcome.body?.data;
        if (data && field.read) {
          // Stored exactly (up to the trimming the rules do), and read back the same.
          expect
            .soft(field.read(data), outcome.label)
            .toBe(field.trimmed ? text.value.trim() : text.value);
        }
      }),
    );
    await inPool(tasks, 4);
  });
});

describe('ids: malformed, of the wrong type, of another tenant', () => {
  it('every id argument refuses malformed ids with BAD_USER_INPUT', async () => {
    const malformed = [
      '',
      'nope',
      '1',
      "' OR 1=1 --",
      'a\u0000b',
      '\uD800',
      'x'.repeat(100_000),
      encodeGlobalId('Post', 'not-a-uuid'),
      encodeGlobalId('Post', "00000000-0000-4000-8000-000000000000' OR '1'='1"),
      Buffer.from(`Post:${a.post.id}\u0000`).toString('base64url'),
      Buffer.from(`Post:${a.post.id}`).toString('base64').replace(/=*$/, '+'),
      encodeGlobalId('post', a.post.id),
      encodeGlobalId('Organization', a.org.id),
    ];
    const targets: [string, string, (id: string) => Record<string, unknown>, string?][] = [
      ['post', 'query($id: ID!) { post(id: $id) { id } }', (id) => ({ id })],
      [
        'updatePost',
        'mutation($id: ID!) { updatePost(input: { id: $id, title: "x" }) { id } }',
        (id) => ({ id }),
      ],
      ['deletePost', 'mutation($id: ID!) { deletePost(id: $id) { deletedId } }', (id) => ({ id })],
      [
        'createComment.postId',
        'mutation($id: ID!) { createComment(input: { postId: $id, body: "x" }) { id } }',
        (id) => ({ id }),
      ],
      [
        'updateComment',
        'mutation($id: ID!) { updateComment(input: { id: $id, body: "x" }) { id } }',
        (id) => ({ id }),
      ],
      [
        'deleteComment',
        'mutation($id: ID!) { deleteComment(id: $id) { deletedId } }',
        (id) => ({ id }),
      ],
      [
        'changeMemberRole',
        'mutation($id: ID!) { changeMemberRole(input: { userId: $id, role: ADMIN }) { id } }',
        (id) => ({ id }),
      ],
    ];
    const tasks = targets.flatMap(([name, query, vars]) =>
      malformed.map((id) => async () => {
        // Organization ids are valid global ids, but of the wrong type for every argument here.
        judge(await gql(`${name} ← ${JSON.stringify(id.slice(0, 30))}`, query, vars(id), ownerA), {
          code: 'BAD_USER_INPUT',
        });
      }),
    );
    const nodes = malformed.filter((id) => id !== encodeGlobalId('Organization', a.org.id));
    for (const id of nodes) {
      tasks.push(async () => {
        const outcome = await gql(
          `node ← ${JSON.stringify(id.slice(0, 30))}`,
          'query($id: ID!) { node(id: $id) { id } }',
          { id },
          ownerA,
        );
        judge(outcome, { codes: ['BAD_USER_INPUT'], orData: true });
        if (!outcome.body?.errors) expect.soft(outcome.body?.data?.node, outcome.label).toBeNull();
      });
    }
    tasks.push(async () => {
      judge(
        await gql(
          'nodes ← 1,000 malformed',
          'query($ids: [ID!]!) { nodes(ids: $ids) { id } }',
          { ids: Array(1000).fill('nope') },
          ownerA,
        ),
        {
          codes: ['BAD_USER_INPUT', 'QUERY_TOO_COMPLEX'],
        },
      );
    });
    await inPool(tasks, 4);
  });

  it("wrong-type and another tenant's ids: BAD_USER_INPUT, NOT_FOUND or null, never B's data", async () => {
    const missing = '00000000-0000-4000-8000-000000000000';
    const cases: [string, string, Record<string, unknown>, Expected][] = [
      [
        'post ← comment id',
        'query($id: ID!) { post(id: $id) { id } }',
        { id: ids.comment(a.comment) },
        { code: 'BAD_USER_INPUT' },
      ],
      [
        'post ← user id',
        'query($id: ID!) { post(id: $id) { id } }',
        { id: ids.user(a.owner) },
        { code: 'BAD_USER_INPUT' },
      ],
      [
        "post ← B's post",
        'query($id: ID!) { post(id: $id) { id title } }',
        { id: ids.post(b.post) },
        { code: 'NOT_FOUND' },
      ],
      [
        'post ← missing',
        'query($id: ID!) { post(id: $id) { id } }',
        { id: encodeGlobalId('Post', missing) },
        { code: 'NOT_FOUND' },
      ],
      [
        'post ← upper-case uuid',
        'query($id: ID!) { post(id: $id) { id } }',
        { id: encodeGlobalId('Post', a.post.id.toUpperCase()) },
        { status: 200 },
      ],
      [
        "updatePost ← B's post",
        'mutation($id: ID!) { updatePost(input: { id: $id, title: "pwned" }) { id } }',
        { id: ids.post(b.post) },
        { code: 'NOT_FOUND' },
      ],
      [
        "deletePost ← B's post",
        'mutation($id: ID!) { deletePost(id: $id) { deletedId } }',
        { id: ids.post(b.post) },
        { code: 'NOT_FOUND' },
      ],
      [
        "createComment ← B's post",
        'mutation($id: ID!) { createComment(input: { postId: $id, body: "x" }) { id } }',
        { id: ids.post(b.post) },
        { code: 'NOT_FOUND' },
      ],
      [
        "updateComment ← B's comment",
        'mutation($id: ID!) { updateComment(input: { id: $id, body: "pwned" }) { id } }',
        { id: ids.comment(b.comment) },
        { code: 'NOT_FOUND' },
      ],
      [
        "deleteComment ← B's comment",
        'mutation($id: ID!) { deleteComment(id: $id) { deletedId } }',
        { id: ids.comment(b.comment) },
        { code: 'NOT_FOUND' },
      ],
      [
        "changeMemberRole ← B's member",
        'mutation($id: ID!) { changeMemberRole(input: { userId: $id, role: ADMIN }) { id } }',
        { id: ids.user(b.member) },
        { code: 'NOT_FOUND' },
      ],
      [
        "node ← B's post",
        'query($id: ID!) { node(id: $id) { id } }',
        { id: ids.post(b.post) },
        { status: 200 },
      ],
      [
        "node ← B's organization",
        'query($id: ID!) { node(id: $id) { id } }',
        { id: encodeGlobalId('Organization', b.org.id) },
        { status: 200 },
      ],
      [
        "nodes ← B's rows",
        'query($ids: [ID!]!) { nodes(ids: $ids) { id } }',
        { ids: [ids.post(b.post), ids.comment(b.comment), ids.user(b.owner)] },
        { status: 200 },
      ],
      [
        'nodes ← wrong-type mix',
        'query($ids: [ID!]!) { nodes(ids: $ids) { id } }',
        { ids: [ids.post(a.post), encodeGlobalId('Nope', missing)] },
        { code: 'BAD_USER_INPUT' },
      ],
      [
        'node ← a type that does not exist',
        'query($id: ID!) { node(id: $id) { id } }',
        { id: encodeGlobalId('Nope', missing) },
        { code: 'BAD_USER_INPUT' },
      ],
      [
        'node ← a type that is no node',
        'query($id: ID!) { node(id: $id) { id } }',
        { id: encodeGlobalId('PageInfo', missing) },
        { codes: ['BAD_USER_INPUT'], orData: true },
      ],
    ];
    for (const [label, query, variables, expected] of cases) {
      const outcome = await gql(label, query, variables, ownerA);
      judge(outcome, expected);
      for (const foreign of [b.post.id, b.comment.id, b.member.id, b.owner.id, b.org.id]) {
        expect.soft(outcome.text, label).not.toContain(foreign);
      }
    }
    const foreignNodes = await gql(
      'nodes ← B',
      'query($ids: [ID!]!) { nodes(ids: $ids) { id } }',
      { ids: [ids.post(b.post), ids.user(b.owner)] },
      ownerA,
    );
    expect.soft(foreignNodes.body?.data?.nodes).toEqual([null, null]);
  });
});

describe('slow clients', () => {
  it('a client that never finishes its headers is cut off (408), without blocking others', async () => {
    // The server's own options, with the timeouts shortened so the test does not wait 10 s.
    const quick = createServer(
      {
        ...HTTP_SERVER_OPTIONS,
        headersTimeout: 300,
        requestTimeout: 600,
        connectionsCheckingInterval: 100,
      },
      api.yoga,
    );
    await new Promise<void>((resolve) => quick.listen(0, '127.0.0.1', resolve));
    const address = quick.address();
    const quickPort = typeof address === 'object' && address ? address.port : 0;
    try {
      cases++;
      const text = await new Promise<string>((resolve) => {
        const chunks: Buffer[] = [];
        const socket = net.connect(quickPort, '127.0.0.1', () =>
          socket.write('POST /graphql HTTP/1.1\r\nHost: x\r\nX-Slow: '),
        );
        socket.on('data', (c: Buffer) => chunks.push(c));
        socket.on('error', () => {});
        socket.on('close', () => resolve(Buffer.concat(chunks).toString()));
        socket.setTimeout(5_000, () => socket.destroy());
      });
      expect(text).toMatch(/^HTTP\/1\.1 408/);
    } finally {
      quick.closeAllConnections();
      await new Promise((resolve) => quick.close(resolve));
    }
  });
});

describe('after all of it', () => {
  it('the server still serves: health, a read, a write, and B is untouched', async () => {
    expect((await send('health', { method: 'GET', path: '/health' })).status).toBe(200);
    expect((await send('live', { method: 'GET', path: '/live' })).status).toBe(200);
    const viewer = await gql('positive control: viewer', VIEWER, {}, ownerA);
    expect(viewer.status).toBe(200);
    expect(viewer.body?.data?.viewer).toEqual({ name: 'Olive Owner' });
    const created = await gql(
      'positive control: createPost',
      'mutation { createPost(input: { title: "Still here", content: "🚀 ok" }) { title content } }',
      {},
      ownerA,
    );
    expect(created.body?.data?.createPost).toEqual({ title: 'Still here', content: '🚀 ok' });
    const untouched = await system.post.findMany({ where: { organizationId: b.org.id } });
    expect(untouched.map((p) => [p.id, p.title, p.content])).toEqual([
      [b.post.id, 'Hello', 'First post'],
    ]);
    const comments = await system.comment.findMany({ where: { organizationId: b.org.id } });
    expect(comments.map((c) => c.body)).toEqual(['Nice']);
    const members = await system.user.findMany({ where: { organizationId: b.org.id } });
    expect(members.map((u) => u.role).sort()).toEqual(['MEMBER', 'OWNER']);
    // Nothing on the whole run was an unexpected (masked, logged) error.
    expect(unexpectedErrors).toEqual([]);
  });
});
