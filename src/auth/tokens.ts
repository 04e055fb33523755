import { createRemoteJWKSet, type JWTPayload, jwtVerify, SignJWT } from 'jose';
import { isUuid } from '../tenancy/ids.ts';

export const ISSUER = 'scopegraph';
export const AUDIENCE = 'scopegraph-api';
/** How long a member token lives, and the longest lifetime (exp − iat) accepted from anyone. */
export const TOKEN_TTL_SECONDS = 12 * 3600;
/** How far in the future an `iat` may be (another machine's clock running ahead). */
export const CLOCK_TOLERANCE_SECONDS = 30;
/** Verified tokens kept per process, and for how long at most (see `remember`). */
const VERIFIED_TOKENS = 10_000;
const VERIFIED_TTL_MS = 60_000;
/** The claim that names the organization; `sub` names the user. */
const ORG_CLAIM = 'org';

export type VerifiedClaims = Readonly<{
  userId: string;
  organizationId: string;
  /**
   * `iat` and `exp`, in seconds since the epoch. This API's `iat` has milliseconds (a fraction,
   * as JWT's NumericDate allows), so a token issued right after a password change is told apart
   * from one issued just before it in the same second.
   */
  issuedAt: number;
  expiresAt: number;
}>;

export type TokenService = Readonly<{
  /** A token issued `at` (default now), valid for TOKEN_TTL_SECONDS. */
  issue: (claims: Pick<VerifiedClaims, 'userId' | 'organizationId'>, at?: Date) => Promise<string>;
  /** The claims of a valid token, or null: the reason is deliberately not reported. */
  verify: (token: string) => Promise<VerifiedClaims | null>;
  /** A download link's token for one export: its own audience, so it is never a member token. */
  issueExportLink: (claims: ExportLinkClaims, ttlSeconds: number) => Promise<string>;
  /** The claims of a valid, unexpired link token, or null. Single use is the database's job. */
  verifyExportLink: (token: string) => Promise<ExportLinkClaims | null>;
}>;

export type ExportLinkClaims = Readonly<{
  organizationId: string;
  exportId: string;
  tokenId: string;
}>;

const EXPORT_LINK_AUDIENCE = 'scopegraph-export-download';

export type TokenOptions = Readonly<{
  secret: string;
  jwks?: Readonly<{ url: string; issuer: string; audience: string }> | undefined;
}>;

/**
 * Own tokens are HS256 with the API's secret. When an identity provider is configured, its
 * tokens (verified against its JWKS, issuer and audience) are accepted as well. Only the listed
 * algorithms are accepted, so `alg: none` and algorithm confusion fail verification.
 *
 * Whoever signed it, a token whose `iat` is in the future, or that claims to live longer than
 * TOKEN_TTL_SECONDS (however far its `exp`), is refused: a leaked signing key or a provider's
 * long-lived token cannot make a credential that outlives the API's own.
 */
export function createTokenService(options: TokenOptions): TokenService {
  // Imported once: given the raw bytes, jose imports them again on every sign and verify (jose
  // 6.2; a verify took 60 µs with the bytes, 37 µs with this key, measured on this machine).
  const imported = crypto.subtle.importKey(
    'raw',
    new TextEncoder().encode(options.secret),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign', 'verify'],
  );
  const remote = options.jwks ? createRemoteJWKSet(new URL(options.jwks.url)) : undefined;
  const verified = new Map<string, { claims: VerifiedClaims; until: number }>();

  async function verifyOwn(token: string): Promise<JWTPayload> {
    const { payload } = await jwtVerify(token, await imported, {
      algorithms: ['HS256'],
      issuer: ISSUER,
      audience: AUDIENCE,
      requiredClaims: ['sub', 'iat', 'exp', ORG_CLAIM],
      maxTokenAge: TOKEN_TTL_SECONDS,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
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
      maxTokenAge: TOKEN_TTL_SECONDS,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
    });
    return payload;
  }

  return Object.freeze({
    issue: async ({ userId, organizationId }, at = new Date()) => {
      const issuedAt = at.getTime() / 1000;
      return new SignJWT({ [ORG_CLAIM]: organizationId })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(userId)
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setIssuedAt(issuedAt)
        .setExpirationTime(Math.floor(issuedAt) + TOKEN_TTL_SECONDS)
        .sign(await imported);
    },
    issueExportLink: async ({ organizationId, exportId, tokenId }, ttlSeconds) =>
      new SignJWT({ [ORG_CLAIM]: organizationId })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(exportId)
        .setJti(tokenId)
        .setIssuer(ISSUER)
        .setAudience(EXPORT_LINK_AUDIENCE)
        .setIssuedAt()
        .setExpirationTime(`${ttlSeconds}s`)
        .sign(await imported),
    verifyExportLink: async (token) => {
      try {
        const { payload } = await jwtVerify(token, await imported, {
          algorithms: ['HS256'],
          issuer: ISSUER,
          audience: EXPORT_LINK_AUDIENCE,
          requiredClaims: ['sub', 'jti', 'exp', ORG_CLAIM],
        });
        const organizationId = payload[ORG_CLAIM];
        if (!isUuid(payload.sub) || !isUuid(organizationId) || !isUuid(payload.jti)) return null;
        return { organizationId, exportId: payload.sub, tokenId: payload.jti };
      } catch {
        return null;
      }
    },
    verify: async (token) => {
      const hit = verified.get(token);
      if (hit && Date.now() < hit.until) return hit.claims;
      if (hit) verified.delete(token);
      const claims = await verifyUncached(token);
      if (claims) remember(token, claims);
      return claims;
    },
  });

  /**
   * Tokens verified lately, by their exact text: a member's requests carry the same token, and
   * checking its signature again (WebCrypto's HMAC, a job on libuv's pool) was ~4 % of the CPU
   * of a read. An entry lasts until the token would stop verifying (its `exp`, or `iat` plus
   * TOKEN_TTL_SECONDS, each with the clock tolerance jose allows) and never longer than
   * VERIFIED_TTL_MS, so a provider's key withdrawn from its JWKS stops working within that.
   * A changed character is another text, verified afresh; refusals are not kept.
   */
  function remember(token: string, claims: VerifiedClaims): void {
    const until =
      Math.min(claims.expiresAt, claims.issuedAt + TOKEN_TTL_SECONDS) + CLOCK_TOLERANCE_SECONDS;
    if (verified.size >= VERIFIED_TOKENS) verified.delete(verified.keys().next().value as string);
    verified.set(token, { claims, until: Math.min(until * 1000, Date.now() + VERIFIED_TTL_MS) });
  }

  async function verifyUncached(token: string): Promise<VerifiedClaims | null> {
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
    // maxTokenAge bounds now − iat; this bounds what the token claims for itself.
    if (payload.exp - payload.iat > TOKEN_TTL_SECONDS) return null;
    return Object.freeze({
      userId: payload.sub,
      organizationId,
      issuedAt: payload.iat,
      expiresAt: payload.exp,
    });
  }
}
