import { type Client, createClient } from 'graphql-ws';
import WebSocket from 'ws';
import type { SsePayload } from './sse.ts';

/**
 * A graphql-ws client (the `graphql-transport-ws` protocol) for tests: one connection, opened
 * at once, never retried, with the token in `connectionParams` as the README shows.
 */
export type WsConnection = Readonly<{
  client: Client;
  /** The close event's code and reason, once the socket closed. */
  closed: Promise<{ code: number; reason: string }>;
  /** Settles when the server acknowledged the connection (or it closed first). */
  acknowledged: Promise<boolean>;
  subscribe: (query: string, variables?: Record<string, unknown>) => WsOperation;
  dispose: () => Promise<void>;
}>;

export type WsOperation = Readonly<{
  /** The next `next` payload, or null if none arrives within `ms` (at once once ended). */
  next: (ms?: number) => Promise<SsePayload | null>;
  /** `complete` when the server completed it, `error` when it sent an error message. */
  ended: Promise<'complete' | 'error'>;
  /** The errors of an `error` message. */
  errors: () => readonly { message: string; extensions?: { code?: string } }[];
  close: () => void;
}>;

export function connectWs(url: string, token: string | null): WsConnection {
  let closedWith: (event: { code: number; reason: string }) => void = () => {};
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    closedWith = resolve;
  });
  let ack: (value: boolean) => void = () => {};
  const acknowledged = new Promise<boolean>((resolve) => {
    ack = resolve;
  });
  const client = createClient({
    url: url.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    lazy: false,
    retryAttempts: 0,
    onNonLazyError: () => {},
    connectionParams: token === null ? {} : { authorization: `Bearer ${token}` },
    on: {
      connected: () => ack(true),
      closed: (event) => {
        const { code, reason } = event as { code: number; reason: string };
        ack(false);
        closedWith({ code, reason: String(reason) });
      },
    },
  });
  return Object.freeze({
    client,
    closed,
    acknowledged,
    subscribe: (query, variables = {}) => operation(client, query, variables),
    dispose: async () => {
      await client.dispose();
    },
  });
}

function operation(client: Client, query: string, variables: Record<string, unknown>): WsOperation {
  const queue: SsePayload[] = [];
  const waiting: ((payload: SsePayload | null) => void)[] = [];
  let errors: readonly { message: string; extensions?: { code?: string } }[] = [];
  let over = false;
  let end: (how: 'complete' | 'error') => void = () => {};
  const ended = new Promise<'complete' | 'error'>((resolve) => {
    end = (how) => {
      over = true;
      for (const wake of waiting.splice(0)) wake(null);
      resolve(how);
    };
  });
  const stop = client.subscribe(
    { query, variables },
    {
      next: (payload) => {
        const wake = waiting.shift();
        if (wake) wake(payload as SsePayload);
        else queue.push(payload as SsePayload);
      },
      error: (error) => {
        errors = Array.isArray(error) ? error : [];
        end('error');
      },
      complete: () => end('complete'),
    },
  );
  return Object.freeze({
    next: (ms = 10_000) => {
      const queued = queue.shift();
      if (queued) return Promise.resolve(queued);
      if (over) return Promise.resolve(null);
      return new Promise<SsePayload | null>((resolve) => {
        const timer = setTimeout(() => {
          waiting.splice(waiting.indexOf(wake), 1);
          resolve(null);
        }, ms);
        const wake = (payload: SsePayload | null) => {
          clearTimeout(timer);
          resolve(payload);
        };
        waiting.push(wake);
      });
    },
    ended,
    errors: () => errors,
    close: stop,
  });
}
