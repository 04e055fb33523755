// How Prisma loads relations on a database that cannot join them: Citus.
//
// Prisma (relationJoins) loads a relation with a LATERAL outer join inside one statement. Between
// distributed tables Citus fans such a join out to every shard, or refuses it on PostgreSQL 15
// and 16 ("outer joins and pseudoconstant quals are not supported"). With
// `relationLoadStrategy: 'query'` Prisma loads each relation with a statement of its own
// instead, and each is routed to the organization's shard. Prisma 7.10's query compiler does not
// derive this from an adapter's `supportsRelationJoins` (false there still joins: tried), so
// every client over such a database asks for it per operation (relationLoading below).
import type { SqlDriverAdapterFactory } from '@prisma/driver-adapter-utils';

type Answer = () => boolean | Promise<boolean>;

/** On the factory itself, so that a wrapper made with Object.create(factory) inherits it. */
const JOINS_ALLOWED = Symbol('scopegraph:relation-joins');

type Declared = SqlDriverAdapterFactory & { [JOINS_ALLOWED]?: Answer };

/**
 * `allowed` answers whether the database behind `factory` joins relations (false on Citus): at
 * once when it knows, else once it has asked.
 */
export function declareRelationJoins(factory: SqlDriverAdapterFactory, allowed: Answer): void {
  (factory as Declared)[JOINS_ALLOWED] = allowed;
}

/** The operations whose arguments take `relationLoadStrategy` (Prisma 7.10). */
const TAKES_STRATEGY: ReadonlySet<string> = new Set([
  'findUnique',
  'findUniqueOrThrow',
  'findFirst',
  'findFirstOrThrow',
  'findMany',
  'create',
  'update',
  'upsert',
  'delete',
]);

/**
 * For a client over `factory`: an operation's arguments as they must be sent, with
 * `relationLoadStrategy: 'query'` where the database does not join relations. Synchronous
 * whenever the answer is known (every operation but the first few of a process). null when
 * the database always joins (PGlite).
 */
export function relationLoading<Args>(
  factory: SqlDriverAdapterFactory,
): ((operation: string, args: Args) => Args | Promise<Args>) | null {
  const allowed = (factory as Declared)[JOINS_ALLOWED];
  if (!allowed) return null;
  const strategy = (joins: boolean, args: Args): Args =>
    joins ? args : ({ ...args, relationLoadStrategy: 'query' } as Args);
  return (operation, args) => {
    if (!TAKES_STRATEGY.has(operation)) return args;
    const joins = allowed();
    return typeof joins === 'boolean'
      ? strategy(joins, args)
      : joins.then((answer) => strategy(answer, args));
  };
}
