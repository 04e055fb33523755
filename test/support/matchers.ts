import { expect } from 'vitest';
import type { GraphQLResponse } from './api.ts';

/**
 * Custom matchers for the assertions the tests write many times, registered for every test
 * file by vitest.config.ts (`setupFiles`).
 *
 * `expect(response).toFailWith('NOT_FOUND')` passes exactly when
 * `expect(codes(response)).toEqual(['NOT_FOUND'])` does: the answer's errors, in order, carry
 * exactly these `extensions.code`s (no code, no error, or one more is a failure). An answer
 * that never came (null: a stream that ended without a frame) fails too.
 */
declare module 'vitest' {
  interface Matchers<T> {
    toFailWith(...codes: string[]): T;
  }
}

expect.extend({
  toFailWith(received: GraphQLResponse | null, ...expected: string[]) {
    const actual = (received?.errors ?? []).map((error) => error.extensions?.code);
    const pass = this.equals(actual, expected);
    return {
      pass,
      message: () =>
        `expected the answer's error codes ${pass ? 'not ' : ''}to be ` +
        `${this.utils.printExpected(expected)}, got ${this.utils.printReceived(actual)}` +
        (pass ? '' : `\n${this.utils.stringify(received?.errors ?? received?.data ?? received)}`),
      actual,
      expected,
    };
  },
});
