import type { SessionTokenVerifier, VerifiedSession } from '@wxmesh/rpc';
import type { SessionManager, SessionView } from '../session-manager.js';

/** A live session as the kit's edge knows its caller: who the token vouches for, never the token. */
export function verifiedSession({ sessionId, openid, record }: SessionView): VerifiedSession {
  return { sessionId, openid, appid: record.a, unionid: record.u };
}

/**
 * Verifies `Authorization: Bearer <session token>` on session's own http port. Session is the
 * system of record for tokens, so it reads them itself (one Redis read, nothing cached) instead of
 * asking auth-verify, which would only ask back here: a revoked or expired token is refused the
 * moment it ends. Unknown, expired and revoked tokens resolve to undefined (the kit answers
 * Unauthenticated); a Redis failure rejects, so an outage is not mistaken for a sign-in prompt.
 */
export function createSessionTokenVerifier(sessions: Pick<SessionManager, 'find'>): SessionTokenVerifier {
  return async (token) => {
    const session = await sessions.find(token);
    return session === undefined ? undefined : verifiedSession(session);
  };
}
