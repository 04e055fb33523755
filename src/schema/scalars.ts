import { BadUserInput } from '../errors.ts';

/** The DateTime scalar, for the tenant schema and the admin schema (src/admin/schema/builder.ts). */
export const DATE_TIME_SCALAR = {
  description: 'An ISO-8601 timestamp in UTC, e.g. 2026-11-23T09:30:00.000Z',
  serialize: (value: Date) => value.toISOString(),
  parseValue: (value: unknown) => {
    const date = typeof value === 'string' ? new Date(value) : null;
    if (!date || Number.isNaN(date.getTime())) throw new BadUserInput('Invalid DateTime');
    return date;
  },
};
