import type { Prisma } from '../generated/prisma/client.ts';
import type { Client } from '../http/client-address.ts';

/**
 * The one shape of an audit log row, for members (src/schema/audit.ts), platform admins
 * (src/admin/schema/audit.ts) and jobs (src/jobs/workers.ts). A member is kept by id; a platform
 * admin only by name. A job acts outside any request, so its entry has no address or request id.
 */
export type AuditActorRecord =
  | Readonly<{ type: 'MEMBER'; id: string; label: string }>
  | Readonly<{ type: 'PLATFORM_ADMIN'; label: string }>;

export type AuditEntryRecord = Readonly<{
  organizationId: string;
  actor: AuditActorRecord;
  action: string;
  targetType: string;
  targetId: string;
  details?: Prisma.InputJsonObject;
  request?: Readonly<{ client: Client; requestId: string }>;
}>;

export function auditEntry(record: AuditEntryRecord): Prisma.AuditEntryUncheckedCreateInput {
  const { actor, request } = record;
  return {
    organizationId: record.organizationId,
    actorType: actor.type,
    actorId: actor.type === 'MEMBER' ? actor.id : null,
    actorLabel: actor.label,
    action: record.action,
    targetType: record.targetType,
    targetId: record.targetId,
    ...(record.details ? { details: record.details } : {}),
    ipAddress: request ? request.client.address : null,
    requestId: request ? request.requestId : null,
  };
}
