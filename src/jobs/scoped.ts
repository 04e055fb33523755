import { TooManyJobs } from '../errors.ts';
import type { Logger } from '../logging.ts';
import type { Scope } from '../tenancy/scope.ts';
import type { ScopedTx } from '../tenancy/scoped-client.ts';
import type { JobPayloads, JobQueue } from './queue.ts';

/** The jobs a tenant's request may start: the platform's own (organization deletion) excluded. */
export type TenantJobName = 'notify-comment' | 'export-organization';

/** A job's ids without the organization, which comes from the scope. */
export type TenantJobIds<N extends TenantJobName> = Omit<JobPayloads[N], 'organizationId'>;

/**
 * Enqueueing as one organization, as the GraphQL context holds it: the payload's organization is
 * the scope's, never an argument, so a request can only start jobs for its own organization.
 */
export type ScopedJobs = Readonly<{
  /**
   * Enqueues the job; rejects when the queue cannot take it, once `ifNotSent` (what undoes the
   * job's reason to exist, e.g. marks a pending export FAILED) has run.
   */
  send: <N extends TenantJobName>(
    name: N,
    ids: TenantJobIds<N>,
    ifNotSent?: (db: ScopedTx) => Promise<unknown>,
  ) => Promise<void>;
  /** For a side effect that must not fail the request: a refusal is logged instead. */
  sendOrLog: <N extends TenantJobName>(name: N, ids: TenantJobIds<N>) => Promise<void>;
}>;

export type ScopedJobsOptions = Readonly<{
  /**
   * Where `ifNotSent` runs: a scoped client of the same organization, outside any unit of work
   * (asked for only then: building one costs).
   */
  db?: () => ScopedTx;
  /**
   * Inside a unit of work that writes (src/http/unit-of-work.ts): every job is sent once it has
   * committed, so that a worker never looks for a row that is not there yet (and, on PGlite,
   * never waits for the connection the unit of work holds). The request does not wait for the
   * queue's answer; a refusal is logged, and `ifNotSent` runs.
   */
  afterCommit?: (task: () => unknown) => void;
  budget?: number;
}>;

/**
 * Jobs of one kind one organization may have waiting in the shared queue; beyond it, sending is
 * refused (TOO_MANY_JOBS). Exports are also one at a time per organization
 * (src/schema/data-export.ts).
 *
 * Within the budget the queue is fair between organizations: a job's priority is minus the
 * number of its organization's jobs already waiting, and pg-boss works the highest priority
 * first, then the oldest. So every organization's first waiting job comes before anyone's
 * second, and one tenant's burst (a request of aliased mutations, a script) waits behind the
 * others' jobs instead of putting them behind it.
 */
export const TENANT_JOB_BUDGET = 100;

export function scopedJobs(
  queue: JobQueue,
  scope: Scope,
  logger: Logger,
  options: ScopedJobsOptions = {},
): ScopedJobs {
  const budget = options.budget ?? TENANT_JOB_BUDGET;
  const enqueue = async <N extends TenantJobName>(name: N, ids: TenantJobIds<N>) => {
    // Counted, then sent: concurrent requests may pass it by a few jobs, which a budget allows.
    const waiting = await queue.waiting(name, scope.organizationId, budget);
    if (waiting >= budget) throw new TooManyJobs(budget);
    await queue.send(
      name,
      { ...ids, organizationId: scope.organizationId } as unknown as JobPayloads[N],
      { priority: -waiting },
    );
  };
  const logRefusal = (name: TenantJobName, ids: object, error: unknown) =>
    // Over the budget is the tenant's burst, not the server's fault.
    error instanceof TooManyJobs
      ? logger.warn({ job: name, ids, organizationId: scope.organizationId }, error.message)
      : logger.error({ err: error, job: name, ids }, 'could not enqueue a job');
  const send: ScopedJobs['send'] = async (name, ids, ifNotSent) => {
    try {
      await enqueue(name, ids);
    } catch (error) {
      if (ifNotSent && options.db) await ifNotSent(options.db());
      throw error;
    }
  };
  const sendOrLog: ScopedJobs['sendOrLog'] = (name, ids) =>
    enqueue(name, ids).catch((error: unknown) => logRefusal(name, ids, error));
  const { afterCommit } = options;
  if (!afterCommit) return Object.freeze({ send, sendOrLog });
  return Object.freeze({
    send: async (name, ids, ifNotSent) => {
      afterCommit(() =>
        send(name, ids, ifNotSent).catch((error: unknown) => logRefusal(name, ids, error)),
      );
    },
    sendOrLog: async (name, ids) => {
      afterCommit(() => sendOrLog(name, ids));
    },
  });
}
