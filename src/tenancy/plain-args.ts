import { TenantViolation } from './errors.ts';

/** The arguments of a Prisma operation, or any object nested in them. */
export type Args = Record<string, unknown>;

export function isPlainObject(value: unknown): value is Args {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

export function requireObject(value: unknown, what: string): Args {
  if (!isPlainObject(value)) throw new TenantViolation(`Expected an object for ${what}`);
  return value;
}

export function mapOneOrMany<T>(value: unknown, fn: (item: unknown) => T): T | T[] {
  return Array.isArray(value) ? value.map(fn) : fn(value);
}
