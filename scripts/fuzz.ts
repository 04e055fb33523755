/**
 * Cross-tenant fuzzing at scale (the model is test/isolation/fuzz/):
 *
 *   npm run fuzz                              # 10,000 operations, a random seed
 *   npm run fuzz -- --ops 20000 --seed 42     # more, reproducibly
 *   npm run fuzz -- --seed 42 --path 3:1:5 --replay-path AB:C   # replay a counterexample
 *
 * On PGlite (a throw-away in-memory database) by default, or in a database of its own created
 * on the server named by TEST_DATABASE_URL and dropped at the end. Prints
 * `isolation fuzz: N ops, 0 leaks`, or the shrunk counterexample and exits 1.
 */
import { parseArgs } from 'node:util';
import fc from 'fast-check';
import { createTokenService } from '../src/auth/tokens.ts';
import { type Database, openDatabase } from '../src/db/database.ts';
import { applyMigrations } from '../src/db/migrations/commands.ts';
import { type Api, createApi } from '../src/http/yoga.ts';
import { createLogger } from '../src/logging.ts';
import { isolationProperty, summary } from '../test/isolation/fuzz/arbitraries.ts';
import { createWorld } from '../test/isolation/fuzz/runs.ts';
import type { FuzzApi } from '../test/isolation/fuzz/world.ts';
import type { GraphQLResponse } from '../test/support/api.ts';
import { GENEROUS_CREDENTIAL_POLICY } from '../test/support/credentials.ts';
import { adminQuery, databaseUrl, uniqueName } from '../test/support/server.ts';

const { values: args } = parseArgs({
  options: {
    ops: { type: 'string', default: '10000' },
    seed: { type: 'string' },
    path: { type: 'string' },
    'replay-path': { type: 'string' },
    orgs: { type: 'string', default: '4' },
    'max-commands': { type: 'string', default: '300' },
    verbose: { type: 'boolean', default: false },
  },
});

const target = Number(args.ops);
const seed = args.seed === undefined ? Date.now() % 2 ** 31 : Number(args.seed);
const maxCommands = Number(args['max-commands']);
// Enough fast-check runs per assert for progress lines; each assert gets its own seed.
const RUNS_PER_CHUNK = 10;
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;

const serverUrl = process.env.TEST_DATABASE_URL;
const databaseName = serverUrl ? uniqueName('scopegraph_fuzz') : undefined;
let database: Database | undefined;
let api: Api | undefined;
let exitCode = 0;

try {
  if (serverUrl && databaseName) {
    await adminQuery(serverUrl, `CREATE DATABASE "${databaseName}"`);
    database = await openDatabase({ url: databaseUrl(serverUrl, databaseName), poolSize: 5 });
  } else {
    database = await openDatabase({ dataDir: 'memory://' });
  }
  await applyMigrations(database.adapter);
  const tokens = createTokenService({ secret: 'fuzz-secret-that-is-long-enough-for-hs256-0123' });
  const yoga = createApi({
    database,
    tokens,
    logger: createLogger('silent'),
    introspection: false,
    graphiql: false,
    // Thousands of sign-ups and member creations from one in-process caller.
    credentials: { policy: GENEROUS_CREDENTIAL_POLICY },
  });
  api = yoga;
  const fuzzApi: FuzzApi = {
    gql: async (query, variables, token) => {
      const response = await yoga.yoga.fetch('http://fuzz/graphql', {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify({ query, variables }),
      });
      return (await response.json()) as GraphQLResponse;
    },
    issueToken: (claims) => tokens.issue(claims),
  };
  const world = await createWorld(fuzzApi, { orgs: Number(args.orgs) });
  console.log(
    `isolation fuzz on ${database.location}: seed ${seed}, ${args.orgs} organizations, ` +
      `target ${target} ops (set up in ${elapsed()})`,
  );
  const property = isolationProperty(world, {
    maxCommands,
    scrypt: 'rare',
    ...(args['replay-path'] ? { replayPath: args['replay-path'] } : {}),
  });
  let chunkSeed = seed;
  try {
    if (args.path) {
      await fc.assert(property, { seed, path: args.path, endOnFailure: true });
    } else {
      for (; world.ops < target; chunkSeed += 1) {
        await fc.assert(property, { seed: chunkSeed, numRuns: RUNS_PER_CHUNK });
        const rate = world.ops / ((Date.now() - started) / 1000);
        console.log(
          `  ${world.ops}/${target} ops, ${world.runs} runs, ${world.requests} requests, ` +
            `${elapsed()} (${rate.toFixed(0)} ops/s)`,
        );
      }
    }
    if (args.verbose) console.log(summary(world));
    console.log(`isolation fuzz: ${world.ops} ops, 0 leaks`);
  } catch (error) {
    exitCode = 1;
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause : null;
    console.error(error instanceof Error ? error.message : error);
    if (cause) console.error(`\n${cause.message}`);
    const message = error instanceof Error ? error.message : '';
    const failed = /\{ seed: (-?\d+), path: "([^"]+)"/.exec(message);
    const replayPath = /replayPath="([^"]+)"/.exec(message)?.[1];
    console.error(
      `\nafter ${world.ops} ops in ${elapsed()}; replay the counterexample with:\n` +
        `  npm run fuzz -- --orgs ${args.orgs} --max-commands ${maxCommands} ` +
        `--seed ${failed?.[1] ?? chunkSeed} --path ${failed?.[2] ?? '<path>'}` +
        (replayPath ? ` --replay-path '${replayPath}'` : ''),
    );
  }
} catch (error) {
  exitCode = 2;
  console.error('isolation fuzz could not run:', error);
} finally {
  await api?.close();
  await database?.close();
  if (serverUrl && databaseName) {
    await adminQuery(serverUrl, `DROP DATABASE IF EXISTS "${databaseName}" WITH (FORCE)`);
  }
}
process.exit(exitCode);
