import { type DocumentNode, getOperationAST, Kind } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Logger } from '../logging.ts';
import type { UnitOfWork } from '../tenancy/scoped-client.ts';

/**
 * When a request gets one transaction for all of its reads.
 *
 * A single query operation runs in one transaction, opened when its context is built (the
 * member's lookup is its first statement) and committed when execution is done: one binding,
 * one snapshot for the whole response, and the fewest round trips (BEGIN with the binding, the
 * lookup, the operation's statements, COMMIT). Mutations keep one transaction per database
 * operation, so a failed field does not abort the fields after it; batched requests and
 * subscriptions do too.
 *
 * The plugin notes what each request is and ends every unit of work: at the end of execution,
 * and, as a safety net, when the response goes out (rolled back, if anything was left open).
 */
const readOnly = new WeakSet<Request>();
const batched = new WeakSet<Request>();
const open = new WeakMap<Request, UnitOfWork>();

/** True when `request` is one query operation, which runs in a single transaction. */
export function wantsUnitOfWork(request: Request): boolean {
  return readOnly.has(request) && !batched.has(request);
}

/** Hands a unit of work opened for `request` to the plugin, which ends it. */
export function trackUnitOfWork(request: Request, unitOfWork: UnitOfWork): void {
  open.set(request, unitOfWork);
}

/** Ends `request`'s unit of work, if it has one still open. Never throws. */
export async function endUnitOfWork(
  request: Request,
  outcome: 'commit' | 'rollback',
  logger?: Logger,
): Promise<void> {
  const unitOfWork = open.get(request);
  if (!unitOfWork) return;
  open.delete(request);
  try {
    await unitOfWork.end(outcome);
  } catch (error) {
    // Its reads are already in the result: a read-only transaction that fails to commit loses
    // nothing. The connection goes back to the pool either way.
    logger?.warn({ err: error }, 'unit of work did not end cleanly');
  }
}

export function useUnitOfWork(logger: Logger): Plugin {
  const end = (request: Request, outcome: 'commit' | 'rollback') =>
    endUnitOfWork(request, outcome, logger);
  return {
    onRequestParse({ request }) {
      return {
        onRequestParseDone({ requestParserResult }) {
          if (Array.isArray(requestParserResult)) batched.add(request);
        },
      };
    },
    onParse() {
      return ({ result, context }) => {
        const { request, params } = context as {
          request?: Request;
          params?: { operationName?: string };
        };
        if (!request || !isDocument(result)) return;
        const operation = getOperationAST(result, params?.operationName ?? undefined);
        if (operation?.operation === 'query') readOnly.add(request);
        else readOnly.delete(request);
      };
    },
    onExecute({ args }) {
      const { request } = args.contextValue as { request?: Request };
      if (!request) return;
      return { onExecuteDone: () => end(request, 'commit') };
    },
    onResponse({ request }) {
      return end(request, 'rollback');
    },
  };
}

function isDocument(value: unknown): value is DocumentNode {
  return (
    typeof value === 'object' && value !== null && (value as DocumentNode).kind === Kind.DOCUMENT
  );
}
