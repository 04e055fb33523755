import {
  type DocumentNode,
  defaultFieldResolver,
  type GraphQLFieldResolver,
  type GraphQLSchema,
  getOperationAST,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { ServiceUnavailable } from '../errors.ts';
import type { Logger } from '../logging.ts';
import { rootFieldNames } from '../schema/root-fields.ts';
import type { UnitOfWork } from '../tenancy/scoped-client.ts';

/**
 * When a request gets one transaction for the whole operation.
 *
 * - A query operation runs in one read-only transaction, opened when its context is built (the
 *   member's lookup is its first statement) and committed when execution is done: one binding,
 *   one snapshot for the whole response, and the fewest round trips.
 * - A mutation operation runs in one transaction too. GraphQL executes its root fields one after
 *   another, and each stands on its own: with more than one, each runs behind a savepoint, so a
 *   field that fails leaves nothing of its writes and the fields before and after it stand
 *   (`withAtomicRootFields`). With one, a failure rolls the whole transaction back. Events and
 *   jobs wait for COMMIT (src/context.ts). If COMMIT fails, the answer says so: nothing it
 *   claims was written is missing.
 * - A mutation whose root field issues a token (its payload is resolved as another member:
 *   src/context.ts, continueAsMember), batched requests and subscriptions keep one transaction
 *   per database operation.
 *
 * The plugin notes what each request is and ends every unit of work: at the end of execution,
 * and, as a safety net, when the response goes out (rolled back, if anything was left open).
 */
export type UnitOfWorkKind = 'read' | 'write';

type Plan = Readonly<{ kind: UnitOfWorkKind; savepoints: boolean }>;

type Open = { unitOfWork: UnitOfWork; failed: boolean };

const plans = new WeakMap<Request, Plan>();
const batched = new WeakSet<Request>();
const open = new WeakMap<Request, Open>();

/** The unit of work a request gets: a single query or mutation operation does; null otherwise. */
export function wantsUnitOfWork(request: Request): UnitOfWorkKind | null {
  if (batched.has(request)) return null;
  return plans.get(request)?.kind ?? null;
}

/** Hands a unit of work opened for `request` to the plugin, which ends it. */
export function trackUnitOfWork(request: Request, unitOfWork: UnitOfWork): void {
  open.set(request, { unitOfWork, failed: false });
}

/**
 * Ends `request`'s unit of work, if it has one still open: committed, unless asked to roll back
 * or a root field failed without a savepoint. Rejects when the commit fails; otherwise never.
 */
export async function endUnitOfWork(
  request: Request,
  outcome: 'commit' | 'rollback',
  logger?: Logger,
): Promise<void> {
  const state = open.get(request);
  if (!state) return;
  open.delete(request);
  const result = state.failed ? 'rollback' : outcome;
  try {
    await state.unitOfWork.end(result);
  } catch (error) {
    logger?.warn({ err: error }, 'unit of work did not end cleanly');
    // A read-only transaction that fails to commit loses nothing: its reads are in the result.
    if (result === 'commit' && plans.get(request)?.kind === 'write') throw error;
  }
}

/**
 * Every root field of `schema`'s mutation type runs as one part of its operation's unit of work
 * (savepoint, or the whole transaction): derived from the schema, so a new mutation is covered.
 * Outside a unit of work (the bench's unscoped server, batches) it runs as it is.
 */
export function withAtomicRootFields(schema: GraphQLSchema): GraphQLSchema {
  const mutation = schema.getMutationType();
  if (!mutation || wrapped.has(schema)) return schema;
  wrapped.add(schema);
  for (const field of Object.values(mutation.getFields())) {
    const resolve: GraphQLFieldResolver<unknown, unknown> = field.resolve ?? defaultFieldResolver;
    field.resolve = (source, args, context, info) => {
      const request = (context as { request?: Request } | null)?.request;
      const state = request ? open.get(request) : undefined;
      if (!request || !state) return resolve(source, args, context, info);
      const run = async () => await resolve(source, args, context, info);
      if (plans.get(request)?.savepoints) return state.unitOfWork.atomic(run);
      return run().catch((error: unknown) => {
        state.failed = true;
        throw error;
      });
    };
  }
  return schema;
}

const wrapped = new WeakSet<GraphQLSchema>();

export function useUnitOfWork(logger: Logger): Plugin {
  return {
    onRequestParse({ request }) {
      return {
        onRequestParseDone({ requestParserResult }) {
          if (Array.isArray(requestParserResult)) batched.add(request);
        },
      };
    },
    onValidate({ params, context }) {
      const { request, params: requestParams } = context as {
        request?: Request;
        params?: { operationName?: string };
      };
      if (!request) return;
      const plan = planFor(params.schema, params.documentAST, requestParams?.operationName);
      if (plan) plans.set(request, plan);
      else plans.delete(request);
    },
    onExecute({ args }) {
      const { request } = args.contextValue as { request?: Request };
      if (!request) return;
      return {
        onExecuteDone: async ({ result, setResult }) => {
          try {
            await endUnitOfWork(request, 'commit', logger);
          } catch {
            // The fields answered, but nothing they wrote is there: say so instead.
            if (!isAsyncIterable(result)) {
              setResult({
                data: null,
                errors: [new ServiceUnavailable()],
              });
            }
          }
        },
      };
    },
    onResponse({ request }) {
      return endUnitOfWork(request, 'rollback', logger).catch(() => {});
    },
  };
}

function planFor(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | undefined,
): Plan | null {
  const operation = getOperationAST(document, operationName);
  if (operation?.operation === 'query') return { kind: 'read', savepoints: false };
  if (operation?.operation !== 'mutation') return null;
  const fields = schema.getMutationType()?.getFields() ?? {};
  const names = rootFieldNames(document, operation).filter((name) => name !== '__typename');
  if (names.some((name) => fields[name]?.extensions?.issuesToken === true)) return null;
  return { kind: 'write', savepoints: names.length > 1 };
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}
