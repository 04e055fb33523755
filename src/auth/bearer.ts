/**
 * The token of an `Authorization: Bearer <token>` header, or null for anything else. A token is
 * one RFC 6750 b64token of at most 4 KiB (ours are ~400 bytes): no spaces, no second scheme.
 */
export function bearerToken(authorization: string | null | undefined): string | null {
  const match = /^Bearer ([A-Za-z0-9._~+/=-]{1,4096})$/.exec(authorization ?? '');
  return match?.[1] ?? null;
}
