import { type JWTPayload, jwtVerify, SignJWT } from 'jose';
import { ISSUER } from '../auth/tokens.ts';

/**
 * A platform admin's credential: an HS256 JWT signed with the API's secret, like a member's
 * token, but for another audience (`scopegraph-admin`), with the `platform: 'admin'` claim and no
 * organization. A member's token fails here (wrong audience, no claim) and this one fails at
 * /graphql (wrong audience, no `org` claim): one secret, two credentials that never stand in for
 * each other.
 */
export const ADMIN_AUDIENCE = 'scopegraph-admin';
const TTL_SECONDS = 3600;
const PLATFORM_CLAIM = 'platform';
const MAX_NAME = 200;

export type PlatformAdmin = Readonly<{ name: string }>;

export type AdminCredentials = Readonly<{
  /** A token for `name` (e.g. an email), valid for one hour. */
  issue: (name: string) => Promise<string>;
  /** The admin of a valid token, or null: the reason is deliberately not reported. */
  verify: (token: string) => Promise<PlatformAdmin | null>;
}>;

export function createAdminCredentials(secret: string): AdminCredentials {
  if (secret.length < 32) throw new Error('The admin credential secret must be 32+ characters');
  const key = new TextEncoder().encode(secret);
  return Object.freeze({
    issue: (name) => {
      if (!isAdminName(name)) throw new Error(`Not a usable admin name: ${JSON.stringify(name)}`);
      return new SignJWT({ [PLATFORM_CLAIM]: 'admin' })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(name)
        .setIssuer(ISSUER)
        .setAudience(ADMIN_AUDIENCE)
        .setIssuedAt()
        .setExpirationTime(`${TTL_SECONDS}s`)
        .sign(key);
    },
    verify: async (token) => {
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, key, {
          algorithms: ['HS256'],
          issuer: ISSUER,
          audience: ADMIN_AUDIENCE,
          requiredClaims: ['sub', 'iat', 'exp', PLATFORM_CLAIM],
          // However far `exp` is set, no admin token lives longer than an hour.
          maxTokenAge: TTL_SECONDS,
        }));
      } catch {
        return null;
      }
      // A token naming an organization is a member's, whatever else it claims.
      if (payload[PLATFORM_CLAIM] !== 'admin' || 'org' in payload) return null;
      return isAdminName(payload.sub) ? Object.freeze({ name: payload.sub }) : null;
    },
  });
}

/** A name the audit log can carry as is: trimmed, printable, at most 200 characters. */
export function isAdminName(name: unknown): name is string {
  return (
    typeof name === 'string' &&
    name.length > 0 &&
    name.length <= MAX_NAME &&
    name.trim() === name &&
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are the point
    !/[\u0000-\u001f\u007f]/.test(name)
  );
}
