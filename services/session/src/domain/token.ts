import { createHash, timingSafeEqual } from 'node:crypto';

/** Bytes of randomness in a session id (not secret: it names the session in lists and events). */
const SESSION_ID_BYTES = 16;
/** Bytes of randomness in a token's secret part: 256 bits, far above the 128 the contract asks. */
const SECRET_BYTES = 32;
const OPENID = /^[0-9A-Za-z_-]{1,128}$/;
const SESSION_ID = /^[0-9A-Za-z_-]{22}$/;
const SECRET = /^[0-9A-Za-z_-]{43}$/;

/** A random source, injectable so tests control ids. */
export type RandomBytes = (size: number) => Buffer;

/** What a session token carries. */
export interface TokenParts {
  readonly openid: string;
  readonly sessionId: string;
  readonly secret: string;
}

/**
 * A session token is `<openid>.<session_id>.<secret>`.
 *
 * The openid (the user's own id, which the mini-program already has) names the user's
 * hash-tagged keys, so a token resolves in one round trip with no index and no scan, and in
 * Redis Cluster it lands on the user's slot. The secret is 256 random bits; Redis stores only its
 * SHA-256, so a copy of the store does not yield usable tokens.
 */
export function formatToken(parts: TokenParts): string {
  return `${parts.openid}.${parts.sessionId}.${parts.secret}`;
}

/** The parts of a well-formed token, or undefined (the caller answers "unknown token"). */
export function parseToken(token: string): TokenParts | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  const [openid, sessionId, secret] = parts as [string, string, string];
  if (!OPENID.test(openid) || !SESSION_ID.test(sessionId) || !SECRET.test(secret)) return undefined;
  return { openid, sessionId, secret };
}

/** A fresh session id and token secret. */
export function newCredentials(random: RandomBytes): { sessionId: string; secret: string } {
  return {
    sessionId: random(SESSION_ID_BYTES).toString('base64url'),
    secret: random(SECRET_BYTES).toString('base64url'),
  };
}

/** What the store keeps of a secret. */
export function secretDigest(secret: string): string {
  return createHash('sha256').update(secret).digest('base64url');
}

/** Constant-time check of a presented secret against the stored digest. */
export function secretMatches(secret: string, digest: string): boolean {
  const presented = Buffer.from(secretDigest(secret));
  const stored = Buffer.from(digest);
  return presented.length === stored.length && timingSafeEqual(presented, stored);
}
