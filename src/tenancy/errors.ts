/**
 * Thrown before anything reaches the database when an operation would cross or blur the
 * tenant boundary: data naming another organization, a change of `organizationId`, raw SQL
 * through a scoped client, an operation the scoped client does not know how to scope.
 */
export class TenantViolation extends Error {
  readonly code = 'TENANT_VIOLATION';
  override readonly name = 'TenantViolation';
}

/** An id that is not a well-formed UUID. Callers treat it like an id that does not exist. */
export class InvalidId extends Error {
  readonly code = 'INVALID_ID';
  override readonly name = 'InvalidId';
}
