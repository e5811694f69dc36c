import type { SessionTokenVerifier, VerifiedSession } from '@wxmesh/rpc';
import type { SessionView } from '../domain/session-record.js';
import type { Sessions } from './sessions.js';

/** A live session as the kit's edge knows its caller: who the token vouches for, never the token. */
export function verifiedSession({ sessionId, openid, record }: SessionView): VerifiedSession {
  return { sessionId, openid, appid: record.appid, unionid: record.unionid };
}

/**
 * Verifies `Authorization: Bearer <session token>` on session's own http port. Session is the
 * system of record for tokens, so it reads them itself (one Redis read, nothing cached) instead of
 * asking auth-verify, which would only ask back here: a revoked or expired token is refused the
 * moment it ends. Unknown, expired and revoked tokens resolve to undefined (the kit answers
 * Unauthenticated); a Redis failure rejects, so an outage is not mistaken for a sign-in prompt.
 */
export function createSessionTokenVerifier(sessions: Pick<Sessions, 'find'>): SessionTokenVerifier {
  return async (token) => {
    const session = await sessions.find(token);
    return session === undefined ? undefined : verifiedSession(session);
  };
}
