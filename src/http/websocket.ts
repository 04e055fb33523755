import type { IncomingMessage, Server } from 'node:http';
import { type ExecutionArgs, GraphQLError, getOperationAST } from 'graphql';
import { CloseCode } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import type { YogaServerInstance } from 'graphql-yoga';
import { type WebSocket, WebSocketServer } from 'ws';
import type { Context } from '../context.ts';
import { ServiceUnavailable } from '../errors.ts';
import { type Logger, type RequestFields, withRequestFields } from '../logging.ts';
import { REQUEST_LIMITS, useWellFormedVariables } from './limits.ts';
import { requestIdOf } from './request-log.ts';
import { createOperationLog } from './websocket-log.ts';

/**
 * GraphQL over WebSocket (the `graphql-transport-ws` protocol of graphql-ws) on the GraphQL
 * path itself, following Yoga's recipe: every operation goes through `yoga.getEnveloped`, so
 * the parse (token limit), validation (aliases, one credential operation, introspection),
 * masking, complexity and the unit of work are the ones HTTP requests get, and the context is
 * built by the same factory from a Request that carries the `authorization` the client put in
 * `connectionParams`: the same Scope, stream slots and per-event access checks as SSE.
 *
 * A connection without a token is closed with 4401, one whose token is refused with 4403. Each
 * operation builds its context afresh, so a token that expired or a member removed since the
 * connection opened gets UNAUTHENTICATED, like a new request.
 *
 * Each operation is logged like an HTTP request (src/http/websocket-log.ts), and every line
 * logged while it runs carries its request id.
 */
export type WebSockets = Readonly<{
  /** Connections open now. */
  count: () => number;
  /**
   * Shutdown, after the streams were ended (Api.endStreams): waits up to `graceMs` for the
   * operations still running (their `complete` sent), then closes every socket with 1001.
   * Returns how many were open.
   */
  close: (graceMs: number) => Promise<number>;
}>;

type GraphQLYoga = YogaServerInstance<Record<string, unknown>, Context>;

/** connectionInit must arrive this soon after the socket opens (4408 otherwise). */
const CONNECTION_INIT_WAIT_MS = 3_000;
const GOING_AWAY = 1001;
/** The WebSocket close code for a message larger than the endpoint takes (RFC 6455). */
const MESSAGE_TOO_BIG = 1009;

type Enveloped = ReturnType<GraphQLYoga['getEnveloped']>;
type Roots = Readonly<{
  execute: Enveloped['execute'];
  subscribe: Enveloped['subscribe'];
  /** The operation's request id and organization, on every line logged while it runs. */
  fields: RequestFields;
}>;

export function attachWebSockets(server: Server, yoga: GraphQLYoga, logger: Logger): WebSockets {
  const wss = new WebSocketServer({
    server,
    path: yoga.graphqlEndpoint,
    maxPayload: REQUEST_LIMITS.bodyBytes,
  });
  // The operations running (or streaming) on each acknowledged socket: shutdown waits for them.
  const running = new Map<WebSocket, Readonly<Record<string, unknown>>>();
  const log = createOperationLog(logger);
  let closing = false;
  const refuse = (socket: WebSocket, code: number, reason: string) => {
    log.refused(code, reason);
    socket.close(code, reason);
  };

  const enveloped = (req: IncomingMessage, socket: WebSocket, authorization: string | null) => {
    // A Request of its own per operation: the unit of work and the request id key on it. POST:
    // an operation arrives in a message, not in a URL a cross-site page could have a browser
    // load (Yoga refuses mutations in GET requests), and only a client that holds the token
    // can open the connection.
    const url = `http://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`;
    const request = new yoga.fetchAPI.Request(url, {
      method: 'POST',
      headers: authorization ? { authorization } : {},
    });
    return { request, ...yoga.getEnveloped({ request, req, socket }) };
  };

  useServer<Record<string, unknown> | undefined, { authorization: string | null }>(
    {
      connectionInitWaitTimeout: CONNECTION_INIT_WAIT_MS,
      execute: (args) => {
        const roots = args.rootValue as Roots;
        return withRequestFields(roots.fields, () => roots.execute(args));
      },
      subscribe: async (args) => {
        const roots = args.rootValue as Roots;
        const result = await withRequestFields(roots.fields, () => roots.subscribe(args));
        return isAsyncIterable(result) ? endingWithErrors(result, logger) : result;
      },
      onConnect: async (ctx) => {
        const authorization = authorizationOf(ctx.connectionParams);
        const { socket, request: req } = ctx.extra;
        if (closing) {
          refuse(socket, GOING_AWAY, 'Server shutting down');
          return false;
        }
        if (!authorization) {
          refuse(socket, CloseCode.Unauthorized, 'Unauthorized: no token in connectionParams');
          return false;
        }
        let member = false;
        try {
          member = (await enveloped(req, socket, authorization).contextFactory()).scope !== null;
        } catch {
          member = false;
        }
        if (!member) {
          refuse(socket, CloseCode.Forbidden, 'Forbidden: invalid or expired token');
          return false;
        }
        ctx.extra.authorization = authorization;
        running.set(socket, ctx.subscriptions);
        return true;
      },
      onSubscribe: async (ctx, id, payload) => {
        const { socket, request: req } = ctx.extra;
        const { request, schema, parse, validate, contextFactory, execute, subscribe } = enveloped(
          req,
          socket,
          ctx.extra.authorization ?? null,
        );
        const fields: RequestFields = { requestId: requestIdOf(request) };
        const operation = log.started(socket, id, fields, payload.operationName ?? null);
        if (closing) return [new ServiceUnavailable()];
        const variablesError = illFormedVariables(payload);
        if (variablesError) return [variablesError];
        let document: ExecutionArgs['document'];
        try {
          document = parse(payload.query);
        } catch (error) {
          if (error instanceof GraphQLError) return [error];
          throw error;
        }
        const ast = getOperationAST(document, payload.operationName ?? undefined);
        operation.operationType = ast?.operation ?? null;
        operation.operationName = ast?.name?.value ?? operation.operationName;
        const errors = validate(schema, document);
        if (errors.length > 0) return errors;
        // After validation: a query's unit of work, opened with the context, is ended by
        // execution (src/http/unit-of-work.ts).
        let contextValue: unknown;
        try {
          contextValue = await contextFactory();
          fields.organizationId = (contextValue as Context).scope?.organizationId;
        } catch (error) {
          if (error instanceof GraphQLError) return [error];
          logger.error({ err: error }, 'websocket: context failed');
          return [new GraphQLError('Unexpected error.')];
        }
        return {
          schema,
          document,
          contextValue,
          rootValue: { execute, subscribe, fields } satisfies Roots,
          variableValues: payload.variables ?? null,
          operationName: payload.operationName ?? null,
        };
      },
      onNext: (ctx, id, _payload, _args, result) => {
        log.errors(ctx.extra.socket, id, result.errors?.length ?? 0);
      },
      onError: (ctx, id, _payload, errors) => {
        log.ended(ctx.extra.socket, id, 'error', errors.length);
      },
      onComplete: (ctx, id) => {
        log.ended(ctx.extra.socket, id, 'complete');
      },
      onClose: (ctx) => {
        running.delete(ctx.extra.socket);
        log.closed(ctx.extra.socket);
      },
    },
    wss,
  );
  // graphql-ws 6.0 answers an error on a socket with console.error (outside the log, with a
  // stack) and a close with 4500. A message over maxPayload is the client's doing, and ws has
  // already closed the socket with 1009 (Message Too Big): logged as that refusal. Anything else
  // is logged here and closed as graphql-ws would. Registered after graphql-ws's own listener,
  // which it replaces.
  wss.on('connection', (socket) => {
    socket.removeAllListeners('error');
    socket.once('error', (error: Error & { code?: string }) => {
      if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
        log.refused(MESSAGE_TOO_BIG, 'Message over the size limit');
        return;
      }
      logger.error({ err: error }, 'websocket: socket error');
      socket.close(CloseCode.InternalServerError, 'Internal server error');
    });
  });

  return Object.freeze({
    count: () => wss.clients.size,
    close: async (graceMs: number) => {
      closing = true;
      const open = wss.clients.size;
      const deadline = Date.now() + graceMs;
      const busy = () => [...running.values()].some((ops) => Object.keys(ops).length > 0);
      while (busy() && Date.now() < deadline) await sleep(25);
      const closed = [...wss.clients].map(
        (socket) =>
          new Promise<void>((resolve) => {
            if (socket.readyState === socket.CLOSED) return resolve();
            socket.once('close', () => resolve());
            socket.close(GOING_AWAY, 'Server shutting down');
          }),
      );
      // A client that never answers the close frame is cut.
      const cut = setTimeout(() => {
        for (const socket of wss.clients) socket.terminate();
      }, 2_000);
      await Promise.all(closed);
      clearTimeout(cut);
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      if (open > 0) logger.info({ sockets: open }, 'shutdown: websockets closed');
      return open;
    },
  });
}

const isAsyncIterable = (value: unknown): value is AsyncIterable<unknown> =>
  typeof value === 'object' && value !== null && Symbol.asyncIterator in value;

/**
 * A stream that fails (access ended: src/events/streams.ts) ends with its error as the last
 * `next`, code included, then completes, as over SSE; graphql-ws itself would send an `error`
 * message without the code. Not an async generator: `return` (the client's `complete`) reaches
 * the source at once, even while it waits for its next event.
 */
function endingWithErrors(source: AsyncIterable<unknown>, logger: Logger) {
  const iterator = source[Symbol.asyncIterator]();
  let done = false;
  const finished = (value?: unknown) => ({ done: true as const, value });
  const stream: AsyncGenerator<unknown> = {
    [Symbol.asyncIterator]: () => stream,
    [Symbol.asyncDispose]: async () => {
      await stream.return(undefined);
    },
    next: async () => {
      if (done) return finished();
      try {
        return await iterator.next();
      } catch (error) {
        done = true;
        if (error instanceof GraphQLError && error.extensions.code !== undefined) {
          return { done: false, value: { errors: [error] } };
        }
        logger.error({ err: error }, 'websocket: stream failed');
        return { done: false, value: { errors: [new GraphQLError('Unexpected error.')] } };
      }
    },
    return: async (value) => {
      done = true;
      await iterator.return?.();
      return finished(value);
    },
    throw: async (error) => {
      done = true;
      await iterator.return?.();
      throw error;
    },
  };
  return stream;
}

/** `connectionParams.authorization` (any case), when it is a string. */
function authorizationOf(params: Readonly<Record<string, unknown>> | undefined): string | null {
  if (!params) return null;
  for (const [key, value] of Object.entries(params)) {
    if (key.toLowerCase() === 'authorization' && typeof value === 'string' && value) return value;
  }
  return null;
}

/** The HTTP check of `variables` (src/http/limits.ts), which Yoga runs before the envelop. */
function illFormedVariables(params: unknown): GraphQLError | null {
  let refused: GraphQLError | null = null;
  const hook = useWellFormedVariables().onParams as (payload: unknown) => void;
  hook({
    params,
    setResult: (result: { errors?: GraphQLError[] }) => {
      refused = result.errors?.[0] ?? null;
    },
  });
  return refused;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
