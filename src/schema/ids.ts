import { BadUserInput } from '../errors.ts';
import { isUuid } from '../tenancy/ids.ts';

/**
 * Global ids are base64url("<Type>:<uuid>"). They carry no organization: a foreign id
 * resolves like a missing one. Malformed ids are the client's error (BAD_USER_INPUT), never a
 * masked internal error.
 */
export function encodeGlobalId(typename: string, id: string | number | bigint): string {
  return Buffer.from(`${typename}:${id}`, 'utf8').toString('base64url');
}

export function decodeGlobalId(globalId: string): { typename: string; id: string } {
  const decoded = /^[A-Za-z0-9_-]{1,200}={0,2}$/.test(globalId)
    ? Buffer.from(globalId, 'base64url').toString('utf8')
    : '';
  const separator = decoded.indexOf(':');
  const typename = decoded.slice(0, separator);
  const id = decoded.slice(separator + 1);
  if (separator < 1 || !/^[A-Z][A-Za-z]*$/.test(typename) || !isUuid(id)) {
    throw new BadUserInput('Invalid id', 'id');
  }
  return { typename, id: id.toLowerCase() };
}

/** The uuid inside a global id of `typename`; an id of another type is the client's error. */
export function idOf(globalId: string, typename: string, field = 'id'): string {
  let decoded: { typename: string; id: string };
  try {
    decoded = decodeGlobalId(globalId);
  } catch {
    throw new BadUserInput(`Invalid ${typename} id`, field);
  }
  if (decoded.typename !== typename) throw new BadUserInput(`Invalid ${typename} id`, field);
  return decoded.id;
}
