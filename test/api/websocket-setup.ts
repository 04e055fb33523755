import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll } from 'vitest';
import { attachWebSockets, type WebSockets } from '../../src/http/websocket.ts';
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
 *
 * The setup shared by test/api/websocket*.test.ts and test/api/graphql-sse.test.ts: the API
 * on a real HTTP server with WebSockets attached, its WebSocket log captured in `wsLog`.
 */
export const POST_CREATED = 'subscription { postCreated { id title } }';

export const wsLog = capturedLogger();
export let t: TestApi;
export let server: Server;
export let websockets: WebSockets;
export let url: string;
export let acme: Org;
export let globex: Org;
const connections: WsConnection[] = [];

/** Registers, in the calling test file, the hooks that build and tear down the above. */
export function useWebSocketServer(): void {
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
}

export function connect(token: string | null): WsConnection {
  const connection = connectWs(url, token);
  connections.push(connection);
  return connection;
}

export async function createPost(org: Org, title: string): Promise<string> {
  const result = await t.gql(
    'mutation($title: String!) { createPost(input: { title: $title }) { id } }',
    { title },
    org.owner.token,
  );
  return field<{ id: string }>(result, 'createPost').id;
}

export const titleOf = (payload: GraphQLResponse | null) =>
  (payload?.data?.postCreated as { title?: string } | undefined)?.title ?? null;

/** Posts in `org` until `sub` hears one (a stream listens a moment after it starts). */
export async function warmUp(sub: WsOperation, org: Org): Promise<void> {
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
export async function once(connection: WsConnection, query: string, variables = {}) {
  const operation = connection.subscribe(query, variables);
  const result = await operation.next();
  await operation.ended;
  return { result, errors: operation.errors() };
}

export async function addMember(org: Org): Promise<Member> {
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
