import { liveOldestFirst, type SessionView } from '../domain/session-record.js';
import type { SessionDeps } from './session-deps.js';

/** The user's live sessions, oldest first. */
export async function listSessions(
  deps: Pick<SessionDeps, 'store' | 'now'>,
  openid: string,
): Promise<SessionView[]> {
  const at = deps.now();
  return liveOldestFirst(openid, await deps.store.all(openid), at);
}
