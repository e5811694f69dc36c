import type { EndReason, SessionView } from '../domain/session-record.js';
import { createSession, type NewSession } from './create-session.js';
import { revokeSessionById, revokeSessionByToken } from './end-session.js';
import { findSession, resolveSession } from './find-session.js';
import { listSessions } from './list-sessions.js';
import type { SessionDeps } from './session-deps.js';
import { sweepSessions } from './sweep-sessions.js';
import { touchSession } from './touch-session.js';

export type { SessionDeps, SessionEndedHook } from './session-deps.js';

/**
 * The session lifecycle use cases bound to their dependencies: create / find / touch / revoke /
 * list, and the sweeper pass that expires sessions and re-emits events a crash left pending.
 *
 * Durability of the events: a session's SessionStarted and SessionEnded are owed until Kafka
 * acknowledges them. A new session carries a "start pending" flag and an ended one stays as a
 * tombstone; both are in the due index, leased a little ahead, before the state change. The
 * normal path emits and then settles; if the process dies in between, the sweeper finds the entry
 * when its lease runs out and emits again with the same event id.
 *
 * Deadlines: the state-changing use cases take the served call's signal and check it before each
 * write that starts a change (ioredis takes no signal), so nothing is created, slid or ended for a
 * caller that has stopped waiting. Once a change is committed its own bookkeeping (events, settle,
 * schedule) runs to the end regardless: it is idempotent, and cutting it would only leave the
 * events to the sweeper.
 */
export function createSessions(deps: SessionDeps) {
  return {
    /** See {@link createSession}. */
    create: (input: NewSession, signal?: AbortSignal) => createSession(deps, input, signal),
    /** The live session behind a token; undefined for unknown, expired or revoked tokens. */
    find: (token: string) => findSession(deps, token),
    /** The live session behind a token; NotFound otherwise. */
    resolve: (token: string) => resolveSession(deps, token),
    /** See {@link touchSession}. */
    touch: (token: string, signal?: AbortSignal) => touchSession(deps, token, signal),
    /** Ends the session a token names; false when it was not live. */
    revokeByToken: (token: string, reason: EndReason, signal?: AbortSignal) =>
      revokeSessionByToken(deps, token, reason, signal),
    /** Ends a session by user and id (operator or service action); false when it was not live. */
    revokeById: (openid: string, sessionId: string, reason: EndReason, signal?: AbortSignal) =>
      revokeSessionById(deps, { openid, sessionId }, reason, signal),
    /** The user's live sessions, oldest first. */
    list: (openid: string): Promise<SessionView[]> => listSessions(deps, openid),
    /** See {@link sweepSessions}. */
    sweep: (limitPerShard?: number) => sweepSessions(deps, limitPerShard),
  };
}

/** The session use cases as handlers and the sweeper call them. */
export type Sessions = ReturnType<typeof createSessions>;
