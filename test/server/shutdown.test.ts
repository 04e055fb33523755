import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEMO_PASSWORD } from '../../src/db/seed.ts';
import { killGroup, type NpmStart, npmStart, waitForGroupExit } from '../support/npm-start.ts';
import { subscribe } from '../support/sse.ts';

const SIGN_IN = `mutation SignIn($input: SignInInput!) {
  signIn(input: $input) { token user { email } }
}`;
const ADA = { organizationSlug: 'acme', email: 'ada@acme.example', password: DEMO_PASSWORD };

/** One request on `agent`'s socket: status and body once the response has fully arrived. */
function request(
  url: string,
  agent: http.Agent,
  method: 'GET' | 'POST',
  body?: unknown,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method, agent, headers: body ? { 'content-type': 'application/json' } : {} },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

/** The promise's value, or 'timed out' after `ms` (a shutdown that hangs fails with a reason). */
function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timed out'> {
  return Promise.race([
    promise,
    new Promise<'timed out'>((resolve) => setTimeout(() => resolve('timed out'), ms).unref()),
  ]);
}

function refusesConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

describe('SIGTERM to npm start', () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'scopegraph-shutdown-'));
  let server: NpmStart | undefined;

  afterAll(() => {
    killGroup(server?.child.pid);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('finishes the request in flight, completes the stream, exits 0', {
    timeout: 180_000,
  }, async () => {
    server = npmStart({
      DATA_DIR: dataDir,
      SHUTDOWN_GRACE_MS: '10000',
      PASSWORD_HASH_CONCURRENCY: '1',
    });
    const url = await server.ready;
    const { port } = new URL(url);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const signIn = await request(url, agent, 'POST', { query: SIGN_IN, variables: { input: ADA } });
    const token = (JSON.parse(signIn.body) as { data: { signIn: { token: string } } }).data.signIn
      .token;

    const stream = await subscribe(url, 'subscription { postCreated { id } }', {}, token);
    expect(stream.status).toBe(200);

    // The slow request goes over a connection the server has already accepted (the sign-in
    // above), so it is in flight, hashing the password, when the signal arrives.
    const started = performance.now();
    const slow = request(url, agent, 'POST', { query: SIGN_IN, variables: { input: ADA } });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const pid = server.child.pid as number;
    process.kill(pid, 'SIGTERM');

    const answer = await within(slow, 20_000);
    const answeredMs = performance.now() - started;
    const ended = await within(stream.ended, 20_000);
    const exit = await within(server.exited, 20_000);
    const context = `server output:\n${server.output.slice(-30).join('\n')}`;
    if (answer === 'timed out') throw new Error(`no answer to the request in flight; ${context}`);
    expect(answer.status, context).toBe(200);
    expect(JSON.parse(answer.body), context).toMatchObject({
      data: { signIn: { token: expect.any(String), user: { email: ADA.email } } },
    });
    expect(ended, stream.frames().join('\n')).toBe('complete');
    expect(exit, context).toEqual({ code: 0, signal: null });
    // Nothing of the tree is left (no orphaned server), and nothing listens on the port.
    expect(await waitForGroupExit(pid, 2_000), context).toBe(true);
    expect(await refusesConnections(Number(port))).toBe(true);

    const messages = server.entries().map((entry) => entry.msg);
    expect(messages).toEqual(
      expect.arrayContaining([
        'shutting down',
        'shutdown: subscription streams completed',
        'shutdown: in-flight requests finished',
        'shutdown: job workers stopped',
        'shutdown: database closed',
      ]),
    );
    console.info(`slow request answered ${answeredMs.toFixed(0)} ms after it was sent`);
    agent.destroy();
  });
});
