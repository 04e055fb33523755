import { BadUserInput } from '../../errors.ts';
import { PAGE_SIZE } from '../../schema/pagination.ts';
import { isUuid } from '../../tenancy/ids.ts';

const MAX_REASON = 500;

export function organizationIdOf(id: string, field = 'id'): string {
  if (!isUuid(id)) throw new BadUserInput('Invalid organization id', field);
  return id.toLowerCase();
}

export function pageSize(value: number | null | undefined, field: string): number {
  const size = value ?? PAGE_SIZE.default;
  if (size < 1 || size > PAGE_SIZE.max) {
    throw new BadUserInput(`${field} must be between 1 and ${PAGE_SIZE.max}`, field);
  }
  return size;
}

export function reasonOf(reason: string): string {
  const trimmed = reason.trim();
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are the point
  const printable = !/[\u0000-\u0008\u000b-\u001f\u007f]/.test(trimmed);
  if (!trimmed || trimmed.length > MAX_REASON || !printable) {
    throw new BadUserInput(`A reason of 1 to ${MAX_REASON} printable characters`, 'reason');
  }
  return trimmed;
}
