import { describe, expect, it } from 'vitest';
import { isDatabaseUnavailable } from '../../../src/db/availability.ts';

/** Which database errors the API answers with 503 SERVICE_UNAVAILABLE, and which it does not. */

describe('what counts as "database unavailable"', () => {
  const prismaError = (code: string, message: string) =>
    Object.assign(new Error(message), { code });

  it('no connection for a transaction within maxWait (how a hung server shows): 503', () => {
    // Prisma's own wording (client runtime, TransactionManagerError); see the frozen-server case.
    const noConnection = 'Transaction API error: Unable to start a transaction in the given time.';
    expect(isDatabaseUnavailable(prismaError('P2028', noConnection))).toBe(true);
    // The pool's answers once connectionTimeoutMillis is set.
    const cause = new Error('Connection terminated unexpectedly');
    expect(
      isDatabaseUnavailable(
        new Error('Connection terminated due to connection timeout', { cause }),
      ),
    ).toBe(true);
    expect(isDatabaseUnavailable(new Error('timeout exceeded when trying to connect'))).toBe(true);
  });

  it('a transaction used after it ended is a bug, not an outage', () => {
    const closed =
      'Transaction API error: Transaction already closed: ' +
      'A query cannot be executed on a committed transaction.';
    expect(isDatabaseUnavailable(prismaError('P2028', closed))).toBe(false);
    expect(isDatabaseUnavailable(prismaError('P2003', 'Foreign key constraint violated'))).toBe(
      false,
    );
  });
});
