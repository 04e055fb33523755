// The credentials benchmark's server (bench/credentials.ts): scopegraph as shipped, except that
// the credential rate limits and lockout are off, so that every bad sign-in of the flood reaches
// password hashing, and the hashing cap is HASH_CAP (a number, or `off`).
import {
  type CredentialPolicy,
  DEFAULT_CREDENTIAL_POLICY,
} from '../../src/auth/credential-guard.ts';
import { DEFAULT_HASHING } from '../../src/auth/passwords.ts';
import { createTokenService } from '../../src/auth/tokens.ts';
import { openDatabase } from '../../src/db/database.ts';
import { createApi } from '../../src/http/yoga.ts';
import { createLogger } from '../../src/logging.ts';
import { type Handler, reportStartupFailure, serve, serverEnv } from './common.ts';

const UNLIMITED = { limit: Number.MAX_SAFE_INTEGER, windowSeconds: 1 };
const NO_LIMITS: CredentialPolicy = {
  signInPerAddress: UNLIMITED,
  signInPerAccount: UNLIMITED,
  signUpPerAddress: UNLIMITED,
  createMemberPerOrganization: UNLIMITED,
  changePasswordPerUser: UNLIMITED,
  lockout: {
    ...DEFAULT_CREDENTIAL_POLICY.lockout,
    fromAddress: { after: Number.MAX_SAFE_INTEGER, baseSeconds: 0, maxSeconds: 0 },
    anyAddress: { after: Number.MAX_SAFE_INTEGER, baseSeconds: 0, maxSeconds: 0 },
  },
};

try {
  const env = serverEnv();
  const cap = process.env.HASH_CAP ?? String(DEFAULT_HASHING.concurrency);
  const hashing =
    cap === 'off'
      ? { concurrency: Number.POSITIVE_INFINITY, queue: 0 }
      : { ...DEFAULT_HASHING, concurrency: Number.parseInt(cap, 10) };
  const database = await openDatabase({ url: env.databaseUrl, poolSize: env.poolSize });
  const api = createApi({
    database,
    tokens: createTokenService({ secret: env.jwtSecret }),
    logger: createLogger(env.logLevel),
    introspection: false,
    graphiql: false,
    credentials: { policy: NO_LIMITS, hashing },
  });
  serve(`credentials-${cap}`, api.yoga as unknown as Handler, async () => {
    await api.close();
    await database.close();
  });
} catch (error) {
  reportStartupFailure(error);
}
