import type { SystemClient } from '../db/system.ts';
import { isUuid } from '../tenancy/ids.ts';
import { forOrganization, type Scope } from '../tenancy/scope.ts';
import type { ScopedClients, ScopedTx } from '../tenancy/scoped-client.ts';
import type { Job, JobName, JobPayloads, SendOptions } from './queue.ts';

/** What a tenant job's handler gets: the rebuilt Scope and a client scoped to it, nothing else. */
export type TenantJobContext<N extends JobName> = Readonly<{
  scope: Scope;
  /** One transaction bound to the scope's organization: the job's effect is all or nothing. */
  db: ScopedTx;
  job: Job<N>;
}>;

/** A job to enqueue once the handler's transaction has committed. */
export type FollowUp = Readonly<
  {
    [N in JobName]: { name: N; data: JobPayloads[N]; options?: SendOptions };
  }[JobName]
>;

export type TenantJobHandler<N extends JobName> = (
  context: TenantJobContext<N>,
) => Promise<FollowUp | undefined>;

export type TenantJobRunner = Readonly<{
  system: SystemClient;
  scoped: ScopedClients;
  /** Enqueues follow-ups (after the commit: on PGlite the queue shares the one connection). */
  send: (followUp: FollowUp) => Promise<unknown>;
}>;

/**
 * Runs a tenant job with a Scope it cannot forge: the payload names the organization only by
 * id, the organization is loaded (the one read that crosses tenants, through the system client),
 * a Scope is built from the loaded row, and the handler works through a client scoped to it. An
 * organization that is gone, or whose deletion was requested, has nothing left to do.
 */
export function tenantJob<N extends JobName>(
  runner: TenantJobRunner,
  handler: TenantJobHandler<N>,
): (job: Job<N>) => Promise<void> {
  return async (job) => {
    const scope = await scopeOf(runner.system, job.data.organizationId);
    if (!scope) return;
    const followUp = await runner.scoped
      .scopedDb(scope)
      .$transaction((db) => handler({ scope, db, job }), TRANSACTION_OPTIONS);
    if (followUp) await runner.send(followUp);
  };
}

const TRANSACTION_OPTIONS = { maxWait: 10_000, timeout: 60_000 } as const;

async function scopeOf(system: SystemClient, organizationId: unknown): Promise<Scope | null> {
  // A malformed payload is a bug in whoever sent it: fail, retry, and end in the dead letters.
  if (!isUuid(organizationId)) throw new Error('The job payload has no valid organizationId');
  const organization = await system.organization.findUnique({ where: { id: organizationId } });
  if (!organization || organization.deletionRequestedAt) return null;
  return forOrganization(organization);
}
