import type { EndReason } from '../domain/session-record.js';
import { parseToken, secretDigest } from '../domain/token.js';
import type { SessionDeps } from './session-deps.js';
import { settleSessionEvents } from './settle-session-events.js';

/**
 * Ends a live session (a tombstone until SessionEnded is out); false when this call ended nothing.
 * `digest` '' skips the secret check (a revocation by id). The tombstone is scheduled a lease
 * ahead before the state change (a crash right after it must not leave it unscheduled) and again
 * after it (a concurrent settle of the live session may have moved the entry to its expiry).
 */
async function endSession(
  deps: SessionDeps,
  session: { openid: string; sessionId: string; digest: string },
  reason: EndReason,
  signal?: AbortSignal,
): Promise<boolean> {
  const { openid, sessionId, digest } = session;
  signal?.throwIfAborted();
  const at = deps.now();
  await deps.store.schedule(openid, sessionId, at + deps.eventLeaseMs);
  // Only the lease was written yet: for a live session the sweeper just moves it back to expiry.
  signal?.throwIfAborted();
  const record = await deps.store.end(openid, sessionId, digest, reason, at);
  if (record === undefined) return false;
  await deps.store.schedule(openid, sessionId, at + deps.eventLeaseMs);
  await settleSessionEvents(deps, openid, sessionId, record);
  return true;
}

/** Ends the session a token names; false when it was not live (or the token is malformed or wrong). */
export async function revokeSessionByToken(
  deps: SessionDeps,
  token: string,
  reason: EndReason,
  signal?: AbortSignal,
): Promise<boolean> {
  const parts = parseToken(token);
  if (parts === undefined) return false;
  const session = { openid: parts.openid, sessionId: parts.sessionId, digest: secretDigest(parts.secret) };
  return endSession(deps, session, reason, signal);
}

/** Ends a session by user and id (an operator's or the user's own action); false when it was not live. */
export function revokeSessionById(
  deps: SessionDeps,
  session: { openid: string; sessionId: string },
  reason: EndReason,
  signal?: AbortSignal,
): Promise<boolean> {
  return endSession(deps, { ...session, digest: '' }, reason, signal);
}
