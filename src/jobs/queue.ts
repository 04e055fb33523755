import { fromPglite, type JobWithMetadata, PgBoss } from 'pg-boss';
import type { Database } from '../db/database.ts';
import type { Logger } from '../logging.ts';

/**
 * What each job's payload holds: the organization's id and the ids the job needs, never a client
 * or a row. A tenant job's worker rebuilds the Scope from `organizationId` and works through the
 * scoped client (src/jobs/workers.ts), as a request does.
 */
export type JobPayloads = {
  /** Writes the post author's notification for a new comment (src/jobs/notifications.ts). */
  'notify-comment': { organizationId: string; commentId: string };
  /** Fills a requested DataExport with every row of the organization (src/jobs/export.ts). */
  'export-organization': { organizationId: string; exportId: string };
  /** Deletes an export's chunks once it has expired (src/jobs/export.ts). */
  'expire-export': { organizationId: string; exportId: string };
  /** Platform job: deletes an organization whose deletion an admin requested. */
  'delete-organization': { organizationId: string; requestedBy: string };
};

export type JobName = keyof JobPayloads;

export const JOB_NAMES: readonly JobName[] = [
  'notify-comment',
  'export-organization',
  'expire-export',
  'delete-organization',
];

/** Where a job goes once its retries are spent; nothing works it: it is a view for operators. */
export const DEAD_LETTERS = 'dead-letters';

export type RetryPolicy = Readonly<{
  /** Attempts after the first. */
  retryLimit: number;
  /** Seconds before the first retry; doubled (with jitter) on each further one. */
  retryDelay: number;
  retryDelayMax: number;
}>;

export const DEFAULT_RETRY: RetryPolicy = { retryLimit: 4, retryDelay: 5, retryDelayMax: 300 };

export type SendOptions = Readonly<{
  startAfter?: Date;
  /** pg-boss works higher priorities first, then older jobs first; 0 by default. */
  priority?: number;
}>;

/** One job as a handler sees it. */
export type Job<N extends JobName> = Readonly<{
  id: string;
  name: N;
  data: JobPayloads[N];
  /** 0 on the first attempt. */
  retryCount: number;
  /** True when this attempt is the last: a failure now sends the job to the dead letters. */
  lastAttempt: boolean;
}>;

export type JobHandlers = { [N in JobName]: (job: Job<N>) => Promise<void> };

export type DeadLetter = Readonly<{
  id: string;
  /** The queue the job failed on. */
  queue: string;
  data: Record<string, unknown>;
  retries: number;
  /** The last attempt's error message, when the queue recorded one. */
  error: string | null;
  createdAt: Date;
  failedAt: Date;
}>;

export type JobState = 'created' | 'retry' | 'active' | 'completed' | 'cancelled' | 'failed';

export type JobQueue = Readonly<{
  /** pg-boss on the server database, or on the embedded PGlite in this process. */
  kind: 'postgres' | 'pglite';
  send: <N extends JobName>(
    name: N,
    data: JobPayloads[N],
    options?: SendOptions,
  ) => Promise<string>;
  /** Starts working every queue in this process. */
  work: (handlers: JobHandlers) => Promise<void>;
  /** Dead-lettered jobs, newest first (the newest `limit` of the oldest 1,000). */
  deadLetters: (limit?: number) => Promise<DeadLetter[]>;
  /** How many of the organization's `name` jobs wait to be worked (created or retrying), up to `limit`. */
  waiting: (name: JobName, organizationId: string, limit: number) => Promise<number>;
  /** A job's state, or null when it is not (or no longer) stored. */
  state: (name: JobName, id: string) => Promise<JobState | null>;
  /** Each queue's stored jobs by state, and the attempts that failed in this process (/metrics). */
  stats: () => Promise<QueueStats[]>;
  /**
   * Stops the workers after their current job (waiting up to `timeoutMs`, 5 s by default),
   * then the queue. Every call returns the same stop.
   */
  close: (timeoutMs?: number) => Promise<void>;
}>;

export type QueueStats = Readonly<{
  queue: string;
  queued: number;
  active: number;
  /** Failed jobs still stored (a rolling count, bounded by the retention). */
  failed: number;
  /** Attempts that threw in this process's workers since it started (retries included). */
  failedAttempts: number;
}>;

export type JobQueueOptions = Readonly<{
  logger: Logger;
  retry?: RetryPolicy;
  /** How often an idle worker looks for work; pg-boss's minimum is 0.5. */
  pollingIntervalSeconds?: number;
}>;

/**
 * The job queue: pg-boss, in the `pgboss` schema of the API's own database. On a server it has
 * its own small pool; on the embedded database it shares the PGlite instance (pg-boss's `pglite`
 * backend), whose statements wait for any open transaction, so the same queue, retries and dead
 * letters run in-process with no server at all.
 */
export async function createJobQueue(
  database: Database,
  options: JobQueueOptions,
): Promise<JobQueue> {
  const { logger } = options;
  const retry = options.retry ?? DEFAULT_RETRY;
  const polling = options.pollingIntervalSeconds ?? 2;
  const backend = database.jobBackend;
  const boss =
    backend.kind === 'pglite'
      ? new PgBoss({ db: fromPglite(backend.pglite), backend: 'pglite', schedule: false })
      : new PgBoss({ connectionString: backend.url, max: 3, schedule: false });
  boss.on('error', (error) => logger.error({ err: error }, 'job queue error'));
  await boss.start();
  await boss.createQueue(DEAD_LETTERS);
  for (const name of JOB_NAMES) {
    await boss.createQueue(name, {
      retryLimit: retry.retryLimit,
      retryDelay: retry.retryDelay,
      retryBackoff: true,
      retryDelayMax: retry.retryDelayMax,
      deadLetter: DEAD_LETTERS,
      // Kept a week after they finish, so that a failure can still be looked into.
      deleteAfterSeconds: 7 * 24 * 3600,
    });
  }

  let closing: Promise<void> | undefined;
  const failedAttempts = new Map<string, number>();
  return Object.freeze({
    kind: backend.kind,
    send: async (name, data, sendOptions = {}) => {
      const id = await boss.send(name, data, {
        ...(sendOptions.startAfter ? { startAfter: sendOptions.startAfter } : {}),
        ...(sendOptions.priority ? { priority: sendOptions.priority } : {}),
      });
      if (!id) throw new Error(`The job queue did not accept a ${name} job`);
      return id;
    },
    work: async (handlers) => {
      for (const name of JOB_NAMES) {
        const handle = handlers[name] as (job: Job<JobName>) => Promise<void>;
        await boss.work(
          name,
          { pollingIntervalSeconds: polling, includeMetadata: true, batchSize: 1 } as const,
          async ([job]: JobWithMetadata<JobPayloads[JobName]>[]) => {
            if (!job) return;
            const started = performance.now();
            try {
              await handle({
                id: job.id,
                name,
                data: job.data,
                retryCount: job.retryCount,
                lastAttempt: job.retryCount >= job.retryLimit,
              });
              logger.debug({ job: name, id: job.id, ms: performance.now() - started }, 'job done');
            } catch (error) {
              failedAttempts.set(name, (failedAttempts.get(name) ?? 0) + 1);
              logger.warn(
                { err: error, job: name, id: job.id, retryCount: job.retryCount },
                'job failed',
              );
              throw error;
            }
          },
        );
      }
    },
    deadLetters: async (limit = 100) => {
      const jobs = await boss.findJobs<Record<string, unknown>>(DEAD_LETTERS, { limit: 1_000 });
      const newest = jobs.slice(-limit).reverse();
      return Promise.all(
        newest.map(async (job) => {
          const source =
            job.sourceName && job.sourceId
              ? (await boss.findJobs(job.sourceName, { id: job.sourceId }))[0]
              : undefined;
          return Object.freeze({
            id: job.sourceId ?? job.id,
            queue: job.sourceName ?? DEAD_LETTERS,
            data: job.data,
            retries: source?.retryCount ?? 0,
            error: errorMessageOf(source?.output),
            createdAt: job.sourceCreatedOn ?? job.createdOn,
            failedAt: job.createdOn,
          });
        }),
      );
    },
    waiting: async (name, organizationId, limit) =>
      (await boss.findJobs(name, { data: { organizationId }, queued: true, limit })).length,
    state: async (name, id) => (await boss.findJobs(name, { id }))[0]?.state ?? null,
    stats: () =>
      Promise.all(
        [...JOB_NAMES, DEAD_LETTERS].map(async (queue) => {
          const stored = await boss.getQueue(queue);
          return {
            queue,
            queued: stored?.queuedCount ?? 0,
            active: stored?.activeCount ?? 0,
            failed: stored?.failedCount ?? 0,
            failedAttempts: failedAttempts.get(queue) ?? 0,
          };
        }),
      ),
    close: (timeoutMs = 5_000) => {
      closing ??= boss.stop({ graceful: true, timeout: timeoutMs });
      return closing;
    },
  });
}

function errorMessageOf(output: unknown): string | null {
  if (output && typeof output === 'object' && 'message' in output) {
    return String(output.message);
  }
  return null;
}
