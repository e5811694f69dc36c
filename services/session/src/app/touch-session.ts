import type { SessionView } from '../domain/session-record.js';
import { parseToken, secretDigest } from '../domain/token.js';
import { unknownTokenError, type SessionDeps } from './session-deps.js';

/**
 * Slides the session's idle expiry (never past its max age); NotFound for unknown, expired or
 * revoked tokens. Nothing is slid once `signal` has fired.
 */
export async function touchSession(
  deps: SessionDeps,
  token: string,
  signal?: AbortSignal,
): Promise<SessionView> {
  const parts = parseToken(token);
  if (parts === undefined) throw unknownTokenError();
  signal?.throwIfAborted();
  const { openid, sessionId } = parts;
  const record = await deps.store.touch(
    openid,
    sessionId,
    secretDigest(parts.secret),
    deps.policy.idleTtlMs,
    deps.now(),
  );
  if (record === undefined) throw unknownTokenError();
  return { openid, sessionId, record };
}
