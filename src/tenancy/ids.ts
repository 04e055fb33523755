import { InvalidId } from './errors.ts';

declare const brand: unique symbol;

/** A string the compiler tells apart from every other string (and from other brands). */
type Brand<T, B extends string> = T & { readonly [brand]: B };

export type OrganizationId = Brand<string, 'OrganizationId'>;
export type UserId = Brand<string, 'UserId'>;

const UUID_PATTERN = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const UUID = new RegExp(`^${UUID_PATTERN}$`, 'i');
/** Every UUID inside a text, for `text.matchAll` (the leak checks scan answers with it). */
export const UUIDS_IN_TEXT = new RegExp(UUID_PATTERN, 'gi');

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}

function parseUuid(value: unknown, what: string): string {
  if (!isUuid(value)) throw new InvalidId(`${what} must be a UUID`);
  return value.toLowerCase();
}

export function parseOrganizationId(value: unknown): OrganizationId {
  return parseUuid(value, 'An organization id') as OrganizationId;
}

export function parseUserId(value: unknown): UserId {
  return parseUuid(value, 'A user id') as UserId;
}
