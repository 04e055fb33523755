import { describe, expect, it } from 'vitest';
import type { GraphQLResponse } from './api.ts';

/** The custom matchers (./matchers.ts) refuse everything `toEqual` on the codes would refuse. */
describe('toFailWith', () => {
  const failed = (...codes: (string | undefined)[]): GraphQLResponse => ({
    data: null,
    errors: codes.map((code) => ({ message: 'x', extensions: code ? { code } : {} })),
  });

  it('passes on exactly these codes, in order', () => {
    expect(failed('NOT_FOUND')).toFailWith('NOT_FOUND');
    expect(failed('FORBIDDEN', 'NOT_FOUND')).toFailWith('FORBIDDEN', 'NOT_FOUND');
  });

  it('fails on another code, a missing code, one code more, or no error at all', () => {
    expect(failed('FORBIDDEN')).not.toFailWith('NOT_FOUND');
    expect(failed(undefined)).not.toFailWith('NOT_FOUND');
    expect(failed('NOT_FOUND', 'NOT_FOUND')).not.toFailWith('NOT_FOUND');
    expect(failed('NOT_FOUND', 'FORBIDDEN')).not.toFailWith('FORBIDDEN', 'NOT_FOUND');
    expect({ data: { post: null } }).not.toFailWith('NOT_FOUND');
    expect(null).not.toFailWith('NOT_FOUND');
    expect(() => expect({ data: {} }).toFailWith('NOT_FOUND')).toThrow(
      /expected the answer's error codes to be .*NOT_FOUND/s,
    );
  });
});
