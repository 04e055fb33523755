import type { WebSocket } from 'ws';
import type { Logger, RequestFields } from '../logging.ts';

/**
 * The log of GraphQL over WebSocket (src/http/websocket.ts), as HTTP requests have theirs
 * (src/http/access-log.ts): one `websocket operation` line when an operation ends (complete,
 * error, or its socket closed under it) with its id, type, name, error count, duration, request
 * id and organization; one `websocket refused` line per refused connection, with its close code.
 */
export type OperationLog = Readonly<{
  /** An operation arrived: what its line will report, filled in as it runs. */
  started: (socket: WebSocket, id: string, fields: RequestFields, name: string | null) => Running;
  /** Adds a result's errors to the operation's count. */
  errors: (socket: WebSocket, id: string, count: number) => void;
  ended: (socket: WebSocket, id: string, outcome: 'complete' | 'error', errors?: number) => void;
  /** The socket closed: its operations still running end as `closed`. */
  closed: (socket: WebSocket) => void;
  refused: (closeCode: number, reason: string) => void;
}>;

export type Running = {
  readonly started: number;
  readonly fields: RequestFields;
  operationType: string | null;
  operationName: string | null;
  errors: number;
};

export function createOperationLog(logger: Logger): OperationLog {
  const running = new WeakMap<WebSocket, Map<string, Running>>();
  const end = (socket: WebSocket, id: string, outcome: string, errors = 0) => {
    const operation = running.get(socket)?.get(id);
    if (!operation) return;
    running.get(socket)?.delete(id);
    logger.info(
      {
        protocol: 'graphql-ws',
        operationId: id,
        operationType: operation.operationType,
        operationName: operation.operationName,
        outcome,
        errors: operation.errors + errors,
        durationMs: Math.round((performance.now() - operation.started) * 10) / 10,
        requestId: operation.fields.requestId,
        organizationId: operation.fields.organizationId ?? null,
      },
      'websocket operation',
    );
  };
  return Object.freeze({
    started: (socket, id, fields, name) => {
      const operation: Running = {
        started: performance.now(),
        fields,
        operationType: null,
        operationName: name,
        errors: 0,
      };
      if (!running.has(socket)) running.set(socket, new Map());
      running.get(socket)?.set(id, operation);
      return operation;
    },
    errors: (socket, id, count) => {
      const operation = running.get(socket)?.get(id);
      if (operation) operation.errors += count;
    },
    ended: end,
    closed: (socket) => {
      for (const id of running.get(socket)?.keys() ?? []) end(socket, id, 'closed');
    },
    refused: (closeCode, reason) =>
      logger.info({ protocol: 'graphql-ws', closeCode, reason }, 'websocket refused'),
  });
}
