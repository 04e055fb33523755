import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApi, type TestApi } from '../support/api.ts';
import { isolationProperty, summary } from './fuzz/arbitraries.ts';
import { createWorld } from './fuzz/runs.ts';
import type { World } from './fuzz/world.ts';

/**
 * Cross-tenant fuzzing (see fuzz/arbitraries.ts): random operations by random users of four
 * look-alike organizations, checked against a model after every step. A fixed seed keeps
 * `npm test` reproducible and short; `npm run test:stress` (STRESS set) runs a bigger variant,
 * and `npm run fuzz` runs 10,000+ operations with a seed of its choice.
 */

const stress = Boolean(process.env.STRESS);
const SEED = 20261123;
// Short: 8 runs of up to 80 operations (~300). Stress: 40 runs of up to 150 (~3,000).
const RUNS = stress ? 40 : 8;
const MAX_COMMANDS = stress ? 150 : 80;

let t: TestApi;
let world: World;

beforeAll(async () => {
  t = await createTestApi();
  world = await createWorld({ gql: t.gql, issueToken: t.tokens.issue }, { orgs: 4 });
});

afterAll(() => t?.close());

describe('cross-tenant fuzzing', () => {
  it('random operations across organizations never cross the tenant boundary', {
    timeout: stress ? 600_000 : 120_000,
  }, async () => {
    await fc.assert(isolationProperty(world, { maxCommands: MAX_COMMANDS }), {
      seed: SEED,
      numRuns: RUNS,
    });
    console.info(`cross-tenant fuzzing: ${world.ops} ops, ${world.requests} requests`);
    if (stress) console.info(summary(world));
    expect(world.ops).toBeGreaterThan(stress ? 2_000 : 200);
    // Not vacuous: the mix reached foreign ids, role rules and successful writes.
    const seen = (prefix: string) =>
      [...world.stats].filter(([key]) => key.startsWith(prefix)).reduce((n, [, c]) => n + c, 0);
    expect(seen('updatePost NOT_FOUND (foreign)')).toBeGreaterThan(0);
    expect(seen('createComment NOT_FOUND (foreign)')).toBeGreaterThan(0);
    expect(seen('node null (foreign)')).toBeGreaterThan(0);
    expect(seen('updatePost FORBIDDEN')).toBeGreaterThan(0);
    expect(seen('updatePost ok')).toBeGreaterThan(0);
    expect(seen('createComment ok')).toBeGreaterThan(0);
  });
});
