import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createClient as createSseClient } from 'graphql-sse';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { App } from '../../src/app.ts';
import { REQUEST_LIMITS } from '../../src/http/limits.ts';
import { shutdown } from '../../src/http/shutdown.ts';
import { SSE_STREAM_PATH } from '../../src/http/sse-stream.ts';
import { attachWebSockets, type WebSockets } from '../../src/http/websocket.ts';
import { createLogger } from '../../src/logging.ts';
import { decodeGlobalId } from '../../src/schema/ids.ts';
import {
  createTestApi,
  field,
  type GraphQLResponse,
  type Member,
  type Org,
  signUpOrg,
  type TestApi,
} from '../support/api.ts';
import { capturedLogger } from '../support/log-lines.ts';
import { connectWs, type WsConnection, type WsOperation } from '../support/ws.ts';

/**
 * GraphQL over WebSocket (src/http/websocket.ts) on /graphql of a real listening server: the
 * token comes from connectionParams, and each operation gets the Scope, limits, stream slots and
 * per-event access checks an HTTP request gets. Every refusal sits next to a connection or
 * stream that is served. graphql-sse's single connection mode is on /graphql/stream.
 */
const POST_CREATED = 'subscription { postCreated { id title } }';

const wsLog = capturedLogger();
let t: TestApi;
let server: Server;
let websockets: WebSockets;
let url: string;
let acme: Org;
let globex: Org;
const connections: WsConnection[] = [];

beforeAll(async () => {
  t = await createTestApi();
  server = createServer(t.api.yoga);
  websockets = attachWebSockets(server, t.api.yoga, wsLog.logger);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
  acme = await signUpOrg(t, 'acme');
  globex = await signUpOrg(t, 'globex');
});

afterAll(async () => {
  await Promise.all(connections.map((connection) => connection.dispose()));
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await t.close();
});

function connect(token: string | null): WsConnection {
  const connection = connectWs(url, token);
  connections.push(connection);
  return connection;
}

async function createPost(org: Org, title: string): Promise<string> {
  const result = await t.gql(
    'mutation($title: String!) { createPost(input: { title: $title }) { id } }',
    { title },
    org.owner.token,
  );
  return field<{ id: string }>(result, 'createPost').id;
}

const titleOf = (payload: GraphQLResponse | null) =>
  (payload?.data?.postCreated as { title?: string } | undefined)?.title ?? null;

/** Posts in `org` until `sub` hears one (a stream listens a moment after it starts). */
async function warmUp(sub: WsOperation, org: Org): Promise<void> {
  for (let attempt = 0; attempt < 15; attempt++) {
    await createPost(org, `warm-up ${attempt}`);
    if (await sub.next(1_000)) {
      while (await sub.next(300)) {}
      return;
    }
  }
  throw new Error('the stream never heard a post');
}

/** One operation's single result over the socket. */
async function once(connection: WsConnection, query: string, variables = {}) {
  const operation = connection.subscribe(query, variables);
  const result = await operation.next();
  await operation.ended;
  return { result, errors: operation.errors() };
}

async function addMember(org: Org): Promise<Member> {
  const email = `m-${randomUUID().slice(0, 8)}@example.com`;
  const created = await t.gql(
    'mutation($input: CreateMemberInput!) { createMember(input: $input) { id } }',
    { input: { email, name: 'Wes Socket', role: 'MEMBER', password: 'correct-horse-9' } },
    org.owner.token,
  );
  const userId = field<{ id: string }>(created, 'createMember').id;
  const signIn = await t.gql('mutation($input: SignInInput!) { signIn(input: $input) { token } }', {
    input: { organizationSlug: org.slug, email, password: 'correct-horse-9' },
  });
  return { token: field<{ token: string }>(signIn, 'signIn').token, userId, name: 'Wes Socket' };
}

describe('the connection', () => {
  it('without a token is closed with 4401, with a bad one with 4403; a good one is acknowledged', async () => {
    const anonymous = connect(null);
    expect(await anonymous.acknowledged).toBe(false);
    expect((await anonymous.closed).code).toBe(4401);
    const forged = connect(`${acme.owner.token.slice(0, -4)}AAAA`);
    expect(await forged.acknowledged).toBe(false);
    expect((await forged.closed).code).toBe(4403);
    const good = connect(acme.owner.token);
    expect(await good.acknowledged).toBe(true);
  });

  it('refuses a message over 1 MiB (REQUEST_LIMITS.bodyBytes) by closing with 1009', async () => {
    const connection = connect(acme.owner.token);
    expect(await connection.acknowledged).toBe(true);
    const padding = 'x'.repeat(REQUEST_LIMITS.bodyBytes);
    // The client's doing, in the log as a refusal: nothing on the console.
    const consoleError = vi.spyOn(console, 'error');
    const tooLarge = connection.subscribe(`{ viewer { id } } # ${padding}`);
    expect(await tooLarge.ended).toBe('error');
    expect((await connection.closed).code).toBe(1009);
    expect(consoleError).not.toHaveBeenCalled();
    consoleError.mockRestore();
    // Positive control: a large message under the limit is served.
    const under = connect(acme.owner.token);
    const served = await once(under, `{ viewer { id } } # ${'x'.repeat(900_000)}`);
    expect(served.result?.errors).toBeUndefined();
  });

  it('runs queries and mutations as the token’s member', async () => {
    const connection = connect(acme.member.token);
    const viewer = await once(connection, '{ viewer { name organization { slug } } }');
    expect(viewer.result?.data).toEqual({
      viewer: { name: 'Mia Member', organization: { slug: 'acme' } },
    });
    const created = await once(
      connection,
      'mutation { createPost(input: { title: "over ws" }) { title author { name } } }',
    );
    expect(created.errors).toEqual([]);
    expect(created.result?.errors).toBeUndefined();
    expect(created.result?.data).toEqual({
      createPost: { title: 'over ws', author: { name: 'Mia Member' } },
    });
    // Another organization's post is NOT_FOUND, as over HTTP; its own is served.
    const foreign = await once(connection, 'query($id: ID!) { node(id: $id) { id } }', {
      id: globex.postId,
    });
    expect(foreign.result?.data?.node ?? null).toBeNull();
    const own = await once(connection, 'query($id: ID!) { node(id: $id) { id } }', {
      id: acme.postId,
    });
    expect(own.result?.data?.node).toEqual({ id: acme.postId });
  });

  it('applies the validation and complexity limits', async () => {
    const connection = connect(acme.owner.token);
    const aliases = (n: number) =>
      `{ ${Array.from({ length: n }, (_, i) => `a${i}: viewer { id }`).join(' ')} }`;
    const tooMany = await once(connection, aliases(31));
    expect(tooMany.errors.map((error) => error.extensions?.code)).toEqual(['QUERY_TOO_COMPLEX']);
    expect((await once(connection, aliases(30))).result?.errors).toBeUndefined();

    const fat = 'fragment Fat on Post { id title comments(first: 10) { edges { node { body } } } }';
    const heavy = `query($ids: [ID!]!) { ${Array.from({ length: 10 }, (_, i) => `a${i}: nodes(ids: $ids) { ...Fat }`).join(' ')} } ${fat}`;
    const ids = (n: number) => Array.from({ length: n }, () => acme.postId);
    const refused = await once(connection, heavy, { ids: ids(100) });
    expect(refused.result).toFailWith('QUERY_TOO_COMPLEX');
    expect((await once(connection, heavy, { ids: ids(10) })).result?.errors).toBeUndefined();
  });
});

describe('logs', () => {
  it('one line per operation as it ends, with its request id and organization; one per refusal', async () => {
    const from = wsLog.lines.length;
    const ours = () => wsLog.lines.slice(from);
    const connection = connect(acme.owner.token);
    const query = connection.subscribe('query Me { viewer { name } }');
    expect(await query.ended).toBe('complete');
    const invalid = connection.subscribe('query Nope { nope }');
    expect(await invalid.ended).toBe('error');
    const sub = connection.subscribe(POST_CREATED);
    await warmUp(sub, acme);
    sub.close();
    const refused = connect('not-a-token');
    expect((await refused.closed).code).toBe(4403);
    await connection.dispose();
    await vi.waitFor(() =>
      expect(ours().filter((l) => l.msg === 'websocket operation')).toHaveLength(3),
    );
    const lines = ours().filter((l) => l.msg === 'websocket operation');
    const organization = await t.gql('{ organization { id } }', {}, acme.owner.token);
    const organizationId = decodeGlobalId(
      field<{ id: string }>(organization, 'organization').id,
    ).id;
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          operationType: 'query',
          operationName: 'Me',
          outcome: 'complete',
          errors: 0,
          organizationId,
        }),
        expect.objectContaining({ operationName: 'Nope', outcome: 'error', errors: 1 }),
        expect.objectContaining({
          operationType: 'subscription',
          outcome: 'complete',
          organizationId,
        }),
      ]),
    );
    for (const line of lines) {
      expect(line.requestId).toMatch(/^[0-9a-f-]{36}$/);
      expect(line.durationMs).toEqual(expect.any(Number));
    }
    expect(new Set(lines.map((l) => l.requestId)).size).toBe(3);
    expect(ours()).toContainEqual(
      expect.objectContaining({ msg: 'websocket refused', closeCode: 4403 }),
    );
  });
});

describe('subscriptions', () => {
  it('deliver the organization’s events and never another organization’s', async () => {
    const acmeSub = connect(acme.member.token).subscribe(POST_CREATED);
    const globexSub = connect(globex.member.token).subscribe(POST_CREATED);
    await warmUp(acmeSub, acme);
    await warmUp(globexSub, globex);
    await createPost(acme, 'acme only');
    expect(titleOf(await acmeSub.next())).toBe('acme only');
    await createPost(globex, 'globex only');
    // Globex's next event is its own post: acme's never reached it.
    expect(titleOf(await globexSub.next())).toBe('globex only');
    acmeSub.close();
    globexSub.close();
  });

  it('are capped per member (TOO_MANY_STREAMS); a colleague is not held back', async () => {
    const member = await addMember(globex);
    const connection = connect(member.token);
    const open = Array.from({ length: 5 }, () => connection.subscribe(POST_CREATED));
    await warmUp(open[0] as WsOperation, globex);
    const sixth = connection.subscribe(POST_CREATED);
    expect(await sixth.next()).toFailWith('TOO_MANY_STREAMS');
    expect(await sixth.ended).toBe('complete');
    const colleague = connect(globex.admin.token).subscribe(POST_CREATED);
    await warmUp(colleague, globex);
    // A closed stream gives its slot back (once the server has heard the `complete`).
    open[1]?.close();
    let served = false;
    for (let attempt = 0; attempt < 20 && !served; attempt++) {
      const again = connection.subscribe(POST_CREATED);
      // A refused stream answers at once; an accepted one hears a post (events queue up behind
      // the other streams' reads, so it may take a few).
      let first: GraphQLResponse | null = null;
      for (let post = 0; post < 5 && !first; post++) {
        await createPost(globex, `slot ${attempt}.${post}`);
        first = await again.next(2_000);
      }
      served = Boolean(first?.data?.postCreated);
      again.close();
    }
    expect(served).toBe(true);
    for (const sub of [...open, colleague]) sub.close();
  });

  it('end when the member is removed mid-stream, with UNAUTHENTICATED; a colleague goes on', async () => {
    const leaving = await addMember(acme);
    const removed = connect(leaving.token).subscribe(POST_CREATED);
    const colleague = connect(acme.admin.token).subscribe(POST_CREATED);
    await warmUp(removed, acme);
    while (await colleague.next(300)) {}
    const removal = await t.gql(
      'mutation($id: ID!) { removeMember(userId: $id) { deletedId } }',
      { id: leaving.userId },
      acme.owner.token,
    );
    expect(removal.errors).toBeUndefined();
    const last = await removed.next();
    expect(last).toFailWith('UNAUTHENTICATED');
    expect(await removed.ended).toBe('complete');
    await createPost(acme, 'after the removal');
    expect(titleOf(await colleague.next())).toBe('after the removal');
    expect(await removed.next(300)).toBeNull();
    colleague.close();
  });
});

describe('graphql-sse', () => {
  it('single connection mode streams on /graphql/stream, as the token’s member', async () => {
    const origin = new URL(url).origin;
    const client = createSseClient({
      url: `${origin}${SSE_STREAM_PATH}`,
      singleConnection: true,
      headers: { authorization: `Bearer ${acme.member.token}` },
      retryAttempts: 0,
    });
    try {
      const viewer = await client.iterate({ query: '{ viewer { name } }' }).next();
      expect(viewer.value?.data).toEqual({ viewer: { name: 'Mia Member' } });
      const events = client.iterate<{ postCreated: { title: string } }>({ query: POST_CREATED });
      const heard: string[] = [];
      const reading = (async () => {
        for await (const event of events) {
          heard.push(event.data?.postCreated.title ?? '');
          if (heard.includes('over graphql-sse')) return;
        }
      })();
      for (let attempt = 0; attempt < 15 && heard.length === 0; attempt++) {
        await createPost(acme, `warm-up ${attempt}`);
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      await createPost(globex, 'globex, never heard');
      await createPost(acme, 'over graphql-sse');
      await reading;
      expect(heard).toContain('over graphql-sse');
      expect(heard).not.toContain('globex, never heard');
    } finally {
      client.dispose();
    }
    // Without a token the path refuses at once (no CSRF check runs there: a cross-site request
    // has no bearer token); the same request with one is served.
    const reserve = (headers: Record<string, string>) =>
      fetch(`${origin}${SSE_STREAM_PATH}`, { method: 'PUT', headers });
    expect((await reserve({})).status).toBe(401);
    expect((await reserve({ authorization: `Bearer ${acme.member.token}` })).status).toBe(201);
  });
});

describe('shutdown', () => {
  it('completes WebSocket streams and closes the sockets with 1001', async () => {
    const connection = connect(acme.owner.token);
    const sub = connection.subscribe(POST_CREATED);
    await warmUp(sub, acme);
    const app = {
      ...t.api,
      logger: createLogger('silent'),
      stopJobWorkers: async () => {},
      close: async () => {},
    } as unknown as App;
    const code = await shutdown(server, app, { signal: 'SIGTERM', graceMs: 5_000, websockets });
    expect(code).toBe(0);
    expect(await sub.ended).toBe('complete');
    expect((await connection.closed).code).toBe(1001);
    expect(websockets.count()).toBe(0);
  });
});
