import type { SystemClient } from '../db/system.ts';
import type { EventBus } from '../events/bus.ts';
import type { Client } from '../http/client-address.ts';
import type { JobQueue } from '../jobs/queue.ts';
import type { PlatformAdmin } from './credential.ts';

/**
 * The context of a request to /admin/graphql, built only after its admin token was verified
 * (src/admin/endpoint.ts). Unlike a tenant's Context it holds the unscoped system client: a
 * platform admin acts across organizations by definition. It never meets the tenant schema.
 */
export type AdminContext = Readonly<{
  requestId: string;
  client: Client;
  admin: PlatformAdmin;
  system: SystemClient;
  /** null when the API runs without a job queue: deletion, export and dead letters are off. */
  jobs: JobQueue | null;
  /** Tells the organization's open streams to re-check their member (src/events/streams.ts). */
  accessChanged: EventBus['accessChanged'];
}>;
