import {
  type CredentialPolicy,
  DEFAULT_CREDENTIAL_POLICY,
} from '../../src/auth/credential-guard.ts';

/**
 * Every request made in-process has no client address, so a whole test file shares one
 * address bucket: it signs up and in far more often than a person would. The production
 * policy with every budget multiplied, for the tests (and `npm run fuzz`) that are not about the
 * limits.
 */
export const GENEROUS_CREDENTIAL_POLICY: CredentialPolicy = {
  ...Object.fromEntries(
    Object.entries(DEFAULT_CREDENTIAL_POLICY).map(([name, value]) => [
      name,
      'limit' in value ? { ...value, limit: value.limit * 1000 } : value,
    ]),
  ),
  lockout: {
    ...DEFAULT_CREDENTIAL_POLICY.lockout,
    fromAddress: { ...DEFAULT_CREDENTIAL_POLICY.lockout.fromAddress, after: 1000 },
    anyAddress: { ...DEFAULT_CREDENTIAL_POLICY.lockout.anyAddress, after: 1000 },
  },
} as CredentialPolicy;
