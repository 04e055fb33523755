import { once } from 'node:events';
import { createServer, request as httpRequest, type Server } from 'node:http';
import net from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenService } from '../../../src/auth/tokens.ts';
import { createSystemClient, type SystemClient } from '../../../src/db/system.ts';
import { HTTP_SERVER_OPTIONS } from '../../../src/http/limits.ts';
import type { Api } from '../../../src/http/yoga.ts';
import { encodeGlobalId } from '../../../src/schema/ids.ts';
import {
  createTestApi,
  type GraphQLResponse,
  TEST_SECRET,
  type TestApi,
} from '../../support/api.ts';
import { seedTenant, type Tenant } from '../../support/tenants.ts';

/**
 * The shared harness of the hostile-input files (test/isolation/hostile/*.test.ts): a real HTTP
 * server (node:http on loopback, the options of src/server.ts) over a fresh database with two
 * tenants, the ways to send to it (fetch, node:http for streamed bodies, net for raw bytes), and
 * `judge`, the invariants every answer must hold: an HTTP 4xx, or GraphQL errors that all carry
 * a known `extensions.code`. Never a 5xx, a hang, a stack trace or SQL; and the server keeps
 * serving: `stillServing()` ends every file with /health and a positive control.
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

export type Outcome = Readonly<{
  label: string;
  status: number;
  text: string;
  body: GraphQLResponse | null;
}>;
export type Expected = Readonly<{
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

let t: TestApi;
export let api: Api;
let server: Server;
export let port: number;
export let system: SystemClient;
export let a: Tenant;
export let b: Tenant;
/** Tokens of A's owner and member, and B's owner. */
export let ownerA: string;
export let memberA: string;
export let ownerB: string;
let cases = 0;
let stillServingRegistered = false;
/** For a test that sends on its own socket (the slow client), so the count stays the whole run's. */
export function countCase(): void {
  cases++;
}
const unexpectedErrors: string[] = [];
export const tokens = createTokenService({ secret: TEST_SECRET });
export const secret = new TextEncoder().encode(TEST_SECRET);
export const VIEWER = '{ viewer { name } }';
export const ids = {
  post: (row: { id: string }) => encodeGlobalId('Post', row.id),
  comment: (row: { id: string }) => encodeGlobalId('Comment', row.id),
  user: (row: { id: string }) => encodeGlobalId('User', row.id),
};

/**
 * Starts the real HTTP server over a fresh database with tenants A and B before the file's tests,
 * and stops it after them. Call once at the top of each hostile file, and end the file with
 * `stillServing()`.
 */
export function useHostileServer(topic: string): void {
  beforeAll(async () => {
    // The app's own logger, at warn, into memory: the run must not log one 'unexpected error'.
    const sink = new Writable({
      write(line: Buffer, _encoding, done) {
        const entry = JSON.parse(line.toString()) as { msg?: string };
        if (entry.msg === 'unexpected error') unexpectedErrors.push(line.toString().slice(0, 500));
        done();
      },
    });
    t = await createTestApi({
      logger: pino({ level: 'warn' }, sink),
      // The production credential policy: this is the real server, with real client addresses.
      credentials: {},
    });
    api = t.api;
    server = createServer(HTTP_SERVER_OPTIONS, api.yoga);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    port = typeof address === 'object' && address ? address.port : 0;
    system = createSystemClient(t.database);
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
    console.info(`hostile input (${topic}): ${cases} cases`);
    expect(stillServingRegistered, `${topic}: the file must end with stillServing()`).toBe(true);
    if (server) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    await system?.$disconnect();
    await t?.close();
  });
}

// ---------------------------------------------------------------------------------------------
// Sending: fetch for ordinary requests, node:http for streamed bodies, net for raw bytes.

export async function send(label: string, init: RequestInit & { path?: string }): Promise<Outcome> {
  cases++;
  const { path = '/graphql', ...rest } = init;
  const response = await fetch(`http://127.0.0.1:${port}${path}`, rest);
  const text = await response.text();
  return { label, status: response.status, text, body: parseJson(text) };
}

export function post(label: string, body: BodyInit, headers: Record<string, string> = {}) {
  return send(label, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
}

export function gql(label: string, query: string, variables?: unknown, token?: string) {
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
export function raw(label: string, payload: string | Buffer, timeoutMs = 5_000): Promise<Outcome> {
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
export function stream(
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

export function errorCodes(outcome: Outcome): (string | undefined)[] {
  return (outcome.body?.errors ?? []).map((e) => e.extensions?.code);
}

/**
 * The invariants of every answer (no 5xx, no leak, a stable code on every error unless the
 * HTTP layer refused with a 4xx), then what this case expects.
 */
export function judge(outcome: Outcome, expected: Expected = {}): void {
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
export async function inPool<T>(tasks: (() => Promise<T>)[], width = 8): Promise<T[]> {
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

// ---------------------------------------------------------------------------------------------

export function stillServing(): void {
  stillServingRegistered = true;
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
}
