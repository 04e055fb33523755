import { createRemoteJWKSet, type JWTPayload, jwtVerify, SignJWT } from 'jose';
import { isUuid } from '../tenancy/ids.ts';

export const ISSUER = 'scopegraph';
export const AUDIENCE = 'scopegraph-api';
const TTL = '12h';
/** The claim that names the organization; `sub` names the user. */
const ORG_CLAIM = 'org';

export type VerifiedClaims = Readonly<{
  userId: string;
  organizationId: string;
  /** `iat` and `exp`, in seconds since the epoch. */
  issuedAt: number;
  expiresAt: number;
}>;

export type TokenService = Readonly<{
  issue: (claims: Pick<VerifiedClaims, 'userId' | 'organizationId'>) => Promise<string>;
  /** The claims of a valid token, or null: the reason is deliberately not reported. */
  verify: (token: string) => Promise<VerifiedClaims | null>;
}>;

export type TokenOptions = Readonly<{
  secret: string;
  jwks?: Readonly<{ url: string; issuer: string; audience: string }> | undefined;
}>;

/**
 * Own tokens are HS256 with the API's secret. When an identity provider is configured, its
 * tokens (verified against its JWKS, issuer and audience) are accepted as well. Only the listed
 * algorithms are accepted, so `alg: none` and algorithm confusion fail verification.
 */
export function createTokenService(options: TokenOptions): TokenService {
  const key = new TextEncoder().encode(options.secret);
  const remote = options.jwks ? createRemoteJWKSet(new URL(options.jwks.url)) : undefined;

  async function verifyOwn(token: string): Promise<JWTPayload> {
    const { payload } = await jwtVerify(token, key, {
      algorithms: ['HS256'],
      issuer: ISSUER,
      audience: AUDIENCE,
      requiredClaims: ['sub', 'iat', 'exp', ORG_CLAIM],
    });
    return payload;
  }

  async function verifyExternal(token: string): Promise<JWTPayload> {
    if (!remote || !options.jwks) throw new Error('no identity provider');
    const { payload } = await jwtVerify(token, remote, {
      algorithms: ['RS256', 'ES256', 'EdDSA'],
      issuer: options.jwks.issuer,
      audience: options.jwks.audience,
      requiredClaims: ['sub', 'iat', 'exp', ORG_CLAIM],
    });
    return payload;
  }

  return Object.freeze({
    issue: ({ userId, organizationId }) =>
      new SignJWT({ [ORG_CLAIM]: organizationId })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(userId)
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setIssuedAt()
        .setExpirationTime(TTL)
        .sign(key),
    verify: async (token) => {
      let payload: JWTPayload;
      try {
        payload = await verifyOwn(token);
      } catch {
        try {
          payload = await verifyExternal(token);
        } catch {
          return null;
        }
      }
      const organizationId = payload[ORG_CLAIM];
      if (!isUuid(payload.sub) || !isUuid(organizationId)) return null;
      if (typeof payload.iat !== 'number' || typeof payload.exp !== 'number') return null;
      return {
        userId: payload.sub,
        organizationId,
        issuedAt: payload.iat,
        expiresAt: payload.exp,
      };
    },
  });
}
