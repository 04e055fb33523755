import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  createJobQueue,
  type Job,
  type JobHandlers,
  type JobName,
  type JobQueue,
} from '../../src/jobs/queue.ts';
import { createLogger } from '../../src/logging.ts';
import { openTestDatabase, type TestDatabase } from '../support/database.ts';

/**
 * The queue itself, on pg-boss over this suite's database (PGlite in-process, or the server):
 * a failing job is retried with growing delays, and one that fails every attempt lands in the
 * dead letters with its last error. The handlers here are the test's own; the real ones are
 * tested in jobs.test.ts.
 */

let database: TestDatabase;
let queue: JobQueue;
const attempts = new Map<string, { at: number; retryCount: number; lastAttempt: boolean }[]>();

const record = (job: Job<JobName>) => {
  const key = job.id;
  attempts.set(key, [
    ...(attempts.get(key) ?? []),
    { at: Date.now(), retryCount: job.retryCount, lastAttempt: job.lastAttempt },
  ]);
  return attempts.get(key)?.length ?? 0;
};

beforeAll(async () => {
  database = await openTestDatabase();
  queue = await createJobQueue(database, {
    logger: createLogger('silent'),
    retry: { retryLimit: 2, retryDelay: 1, retryDelayMax: 4 },
    pollingIntervalSeconds: 0.5,
  });
  const handlers: JobHandlers = {
    // Fails on its first attempt only: a transient failure.
    'notify-comment': async (job) => {
      if (record(job) === 1) throw new Error('transient: try again');
    },
    // Fails on every attempt.
    'export-organization': async (job) => {
      record(job);
      throw new Error(`export ${job.data.exportId} cannot be written`);
    },
    'expire-export': async () => {},
    'delete-organization': async () => {},
  };
  await queue.work(handlers);
});

afterAll(async () => {
  await queue.close();
  await database.drop();
});

const WAIT = { timeout: 30_000, interval: 200 } as const;
const organizationId = '00000000-0000-4000-8000-00000000000a';

describe('retries and dead letters', () => {
  it('a transient failure is retried once and then completes', async () => {
    const data = { organizationId, commentId: '00000000-0000-4000-8000-000000000001' };
    const id = await queue.send('notify-comment', data);
    await vi.waitFor(
      async () => expect(await queue.state('notify-comment', id)).toBe('completed'),
      WAIT,
    );
    const tries = attempts.get(id) ?? [];
    expect(tries.map((t) => t.retryCount)).toEqual([0, 1]);
    expect(tries.map((t) => t.lastAttempt)).toEqual([false, false]);
    expect(await queue.deadLetters()).toEqual([]);
  });

  it('a job that fails every attempt backs off, then lands in the dead letters', async () => {
    const data = { organizationId, exportId: '00000000-0000-4000-8000-000000000002' };
    const id = await queue.send('export-organization', data);
    await vi.waitFor(
      async () => expect(await queue.state('export-organization', id)).toBe('failed'),
      WAIT,
    );
    const tries = attempts.get(id) ?? [];
    // The first attempt and two retries; only the last is marked as the last.
    expect(tries.map((t) => t.retryCount)).toEqual([0, 1, 2]);
    expect(tries.map((t) => t.lastAttempt)).toEqual([false, false, true]);
    // Backoff: each retry waits at least the base delay (1 s), growing from there.
    const [first, second, third] = tries.map((t) => t.at);
    expect((second ?? 0) - (first ?? 0)).toBeGreaterThanOrEqual(900);
    expect((third ?? 0) - (second ?? 0)).toBeGreaterThanOrEqual(900);

    const dead = await vi.waitFor(async () => {
      const letters = await queue.deadLetters();
      expect(letters).toHaveLength(1);
      return letters;
    }, WAIT);
    expect(dead[0]).toMatchObject({
      id,
      queue: 'export-organization',
      data,
      retries: 2,
      error: `export ${data.exportId} cannot be written`,
    });
  });
});
