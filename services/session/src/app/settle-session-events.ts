import { sessionEnded, sessionStarted } from '../domain/events.js';
import { nextExpiry, type SessionRecord } from '../domain/session-record.js';
import type { SessionDeps } from './session-deps.js';

/** Once a tombstone's SessionEnded is out: stop sweeping it and close its live channels. */
async function closeEndedSession(
  deps: SessionDeps,
  openid: string,
  sessionId: string,
  record: SessionRecord,
) {
  await deps.store.unschedule(openid, sessionId);
  await deps
    .onSessionEnded(openid, sessionId, record.endReason ?? 'expiry')
    .catch((err: unknown) =>
      deps.logger.warn({ err, sessionId }, 'could not close the ended session’s channels'),
    );
}

/**
 * Once a live session's events are out: schedule the sweeper for its expiry. Whoever ended the
 * session since the snapshot (an eviction, a revocation) scheduled it a lease ahead after its
 * state change; if that came before this schedule, it was just overwritten. Put it back, so the
 * sweeper still emits SessionEnded if that path fails.
 */
async function scheduleLiveSession(
  deps: SessionDeps,
  openid: string,
  sessionId: string,
  record: SessionRecord,
) {
  await deps.store.schedule(openid, sessionId, nextExpiry(record));
  if ((await deps.store.get(openid, sessionId))?.state === 'ended') {
    await deps.store.schedule(openid, sessionId, deps.now() + deps.eventLeaseMs);
  }
}

/**
 * Emits the events a snapshot of a session owes (SessionStarted while pending, SessionEnded for a
 * tombstone) and settles them in the store; false when Kafka did not acknowledge (the sweeper
 * emits them again later, with the same event ids).
 */
export async function settleSessionEvents(
  deps: SessionDeps,
  openid: string,
  sessionId: string,
  record: SessionRecord,
): Promise<boolean> {
  const owed = [];
  const ended = record.state === 'ended';
  if (record.startPending) owed.push(sessionStarted(openid, sessionId, record));
  if (ended) owed.push(sessionEnded(openid, sessionId, record));
  if (owed.length > 0 && !(await deps.events.emit(...owed))) return false;
  await deps.store.settle(openid, sessionId, ended);
  if (ended) await closeEndedSession(deps, openid, sessionId, record);
  else await scheduleLiveSession(deps, openid, sessionId, record);
  return true;
}
