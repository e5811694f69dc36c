import { isLive, type SessionView } from '../domain/session-record.js';
import { parseToken, secretMatches } from '../domain/token.js';
import { unknownTokenError, type SessionDeps } from './session-deps.js';

/** The live session behind a token; undefined for unknown, malformed, expired or revoked tokens. */
export async function findSession(
  deps: Pick<SessionDeps, 'store' | 'now'>,
  token: string,
): Promise<SessionView | undefined> {
  const parts = parseToken(token);
  if (parts === undefined) return undefined;
  const record = await deps.store.get(parts.openid, parts.sessionId);
  if (
    record === undefined ||
    !secretMatches(parts.secret, record.secretDigest) ||
    !isLive(record, deps.now())
  )
    return undefined;
  return { openid: parts.openid, sessionId: parts.sessionId, record };
}

/** The live session behind a token; NotFound otherwise. */
export async function resolveSession(
  deps: Pick<SessionDeps, 'store' | 'now'>,
  token: string,
): Promise<SessionView> {
  const session = await findSession(deps, token);
  if (session === undefined) throw unknownTokenError();
  return session;
}
