import { checkAttributes, newRecord, type SessionView } from '../domain/session-record.js';
import { formatToken, newCredentials, secretDigest } from '../domain/token.js';
import type { EndedSession } from '../adapters/session-store.js';
import type { SessionDeps } from './session-deps.js';
import { settleSessionEvents } from './settle-session-events.js';

/** Who a new session is for, and what it carries. */
export interface NewSession {
  readonly appid: string;
  readonly openid: string;
  readonly unionid: string;
  readonly attributes: Record<string, string>;
}

/** A created session, its token (shown only now), and the sessions evicted to stay within the cap. */
export interface CreatedSession {
  readonly session: SessionView;
  readonly token: string;
  readonly evicted: string[];
}

/**
 * Reports the sessions a create ended (expired or evicted): each is scheduled a lease ahead, then
 * its SessionEnded emitted. They go before the new session's SessionStarted: one user's events
 * share a partition, so a consumer sees the evictions before the session that caused them.
 */
async function reportEndedSessions(deps: SessionDeps, openid: string, ended: EndedSession[], at: number) {
  await Promise.all(ended.map((e) => deps.store.schedule(openid, e.sessionId, at + deps.eventLeaseMs)));
  const records = await Promise.all(ended.map((e) => deps.store.get(openid, e.sessionId)));
  for (const [i, e] of ended.entries()) {
    const record = records[i];
    if (record !== undefined) await settleSessionEvents(deps, openid, e.sessionId, record);
  }
}

/**
 * Creates a session; returns it, its token, and the sessions evicted to stay within the cap.
 * Nothing is written once `signal` (the served call's) has fired.
 */
export async function createSession(
  deps: SessionDeps,
  input: NewSession,
  signal?: AbortSignal,
): Promise<CreatedSession> {
  checkAttributes(input.attributes, deps.policy.attributesMaxBytes);
  signal?.throwIfAborted();
  const { sessionId, secret } = newCredentials(deps.random);
  const at = deps.now();
  const record = newRecord(deps.policy, { ...input, secretDigest: secretDigest(secret) }, at);
  await deps.store.schedule(input.openid, sessionId, at + deps.eventLeaseMs);
  // Only the lease was written yet: the sweeper unschedules a lease with no session behind it.
  signal?.throwIfAborted();
  const ended = await deps.store.create(input.openid, sessionId, record, deps.policy.maxPerUser, at);
  await reportEndedSessions(deps, input.openid, ended, at);
  await settleSessionEvents(deps, input.openid, sessionId, record);
  return {
    session: { openid: input.openid, sessionId, record: { ...record, startPending: undefined } },
    token: formatToken({ openid: input.openid, sessionId, secret }),
    evicted: ended.filter((e) => e.reason === 'eviction').map((e) => e.sessionId),
  };
}
