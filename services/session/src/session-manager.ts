import { Code, ConnectError } from '@connectrpc/connect';
import type { Logger } from '@wxmesh/rpc';
import type { EventSink } from './adapters/event-sink.js';
import type { SessionStore } from './adapters/session-store.js';
import { sessionEnded, sessionStarted } from './domain/events.js';
import {
  checkAttributes,
  isLive,
  newRecord,
  type EndReason,
  type SessionPolicy,
  type SessionRecord,
} from './domain/session-record.js';
import {
  formatToken,
  newCredentials,
  parseToken,
  secretDigest,
  secretMatches,
  type RandomBytes,
} from './domain/token.js';

/** A live session as handlers see it. */
export interface SessionView {
  readonly openid: string;
  readonly sessionId: string;
  readonly record: SessionRecord;
}

/** How the manager closes live channels of a session that ended (wired to presence). */
export type SessionEndedHook = (openid: string, sessionId: string, reason: EndReason) => Promise<void>;

const UNKNOWN_TOKEN = 'session token is unknown, expired or revoked; log in again';

/**
 * Session lifecycle: create / resolve / touch / end, and the sweeper pass that expires sessions
 * and re-emits events a crash left pending.
 *
 * Durability of the events: a session's SessionStarted and SessionEnded are owed until Kafka
 * acknowledges them. A new session carries a "start pending" flag and an ended one stays as a
 * tombstone; both are in the due index, leased a little ahead, before the state change. The
 * normal path emits and then settles; if the process dies in between, the sweeper finds the entry
 * when its lease runs out and emits again with the same event id.
 *
 * Deadlines: the state-changing operations take the served call's signal and check it before each
 * write that starts a change (ioredis takes no signal), so nothing is created, slid or ended for a
 * caller that has stopped waiting. Once a change is committed its own bookkeeping (events, settle,
 * schedule) runs to the end regardless: it is idempotent, and cutting it would only leave the
 * events to the sweeper.
 */
export function createSessionManager(deps: {
  store: SessionStore;
  events: EventSink;
  policy: SessionPolicy;
  now: () => number;
  random: RandomBytes;
  /** How long the normal path has to emit before the sweeper takes over. */
  eventLeaseMs: number;
  onSessionEnded: SessionEndedHook;
  logger: Logger;
}) {
  const { store, events, policy, now, random, eventLeaseMs, onSessionEnded, logger } = deps;

  /** Emits what a record owes and settles it; false when Kafka did not acknowledge. */
  async function flush(openid: string, sessionId: string, record: SessionRecord): Promise<boolean> {
    const owed = [];
    const ended = record.s === 'ended';
    if (record.p) owed.push(sessionStarted(openid, sessionId, record));
    if (ended) owed.push(sessionEnded(openid, sessionId, record));
    if (owed.length > 0 && !(await events.emit(...owed))) return false;
    await store.settle(openid, sessionId, ended);
    if (ended) {
      await store.unschedule(openid, sessionId);
      await onSessionEnded(openid, sessionId, record.r ?? 'expiry').catch((err: unknown) =>
        logger.warn({ err, sessionId }, 'could not close the ended session’s channels'),
      );
    } else {
      await store.schedule(openid, sessionId, Math.min(record.e, record.m));
      // Whoever ended the session since the snapshot (an eviction, a revocation) scheduled it a
      // lease ahead after its state change; if that came before the line above, it was just
      // overwritten. Put it back, so the sweeper still emits SessionEnded if that path fails.
      if ((await store.get(openid, sessionId))?.s === 'ended') {
        await store.schedule(openid, sessionId, now() + eventLeaseMs);
      }
    }
    return true;
  }

  async function find(token: string): Promise<SessionView | undefined> {
    const parts = parseToken(token);
    if (parts === undefined) return undefined;
    const record = await store.get(parts.openid, parts.sessionId);
    if (record === undefined || !secretMatches(parts.secret, record.d) || !isLive(record, now()))
      return undefined;
    return { openid: parts.openid, sessionId: parts.sessionId, record };
  }

  async function resolve(token: string): Promise<SessionView> {
    const session = await find(token);
    if (session === undefined) throw new ConnectError(UNKNOWN_TOKEN, Code.NotFound);
    return session;
  }

  async function endSession(
    openid: string,
    sessionId: string,
    digest: string,
    reason: EndReason,
    signal?: AbortSignal,
  ) {
    signal?.throwIfAborted();
    const at = now();
    // Scheduled before the state change (a crash right after it must not leave the tombstone
    // unscheduled) and again after it (a concurrent flush of the live session may have moved
    // the entry to the session's expiry in between).
    await store.schedule(openid, sessionId, at + eventLeaseMs);
    // Only the lease was written yet: for a live session the sweeper just moves it back to expiry.
    signal?.throwIfAborted();
    const record = await store.end(openid, sessionId, digest, reason, at);
    if (record === undefined) return false;
    await store.schedule(openid, sessionId, at + eventLeaseMs);
    await flush(openid, sessionId, record);
    return true;
  }

  return {
    /**
     * Creates a session; returns it, its token, and the sessions evicted to stay within the cap.
     * Nothing is written once `signal` (the served call's) has fired.
     */
    async create(
      input: {
        appid: string;
        openid: string;
        unionid: string;
        attributes: Record<string, string>;
      },
      signal?: AbortSignal,
    ) {
      checkAttributes(input.attributes, policy.attributesMaxBytes);
      signal?.throwIfAborted();
      const { sessionId, secret } = newCredentials(random);
      const at = now();
      const record = newRecord(policy, { ...input, digest: secretDigest(secret) }, at);
      await store.schedule(input.openid, sessionId, at + eventLeaseMs);
      // Only the lease was written yet: the sweeper unschedules a lease with no session behind it.
      signal?.throwIfAborted();
      const ended = await store.create(input.openid, sessionId, record, policy.maxPerUser, at);
      await Promise.all(ended.map((e) => store.schedule(input.openid, e.sessionId, at + eventLeaseMs)));
      // Ended sessions first: one user's events share a partition, so a consumer sees the
      // evictions before the session that caused them.
      const endedRecords = await Promise.all(ended.map((e) => store.get(input.openid, e.sessionId)));
      for (const [i, e] of ended.entries()) {
        const old = endedRecords[i];
        if (old !== undefined) await flush(input.openid, e.sessionId, old);
      }
      await flush(input.openid, sessionId, record);
      return {
        session: { openid: input.openid, sessionId, record: { ...record, p: undefined } } as SessionView,
        token: formatToken({ openid: input.openid, sessionId, secret }),
        evicted: ended.filter((e) => e.reason === 'eviction').map((e) => e.sessionId),
      };
    },

    /** The live session behind a token; undefined for unknown, expired or revoked tokens. */
    find,

    /** The live session behind a token; NotFound otherwise. */
    resolve,

    /**
     * Slides the session's idle expiry; NotFound for unknown, expired or revoked tokens. Nothing
     * is slid once `signal` has fired.
     */
    async touch(token: string, signal?: AbortSignal): Promise<SessionView> {
      const parts = parseToken(token);
      if (parts === undefined) throw new ConnectError(UNKNOWN_TOKEN, Code.NotFound);
      signal?.throwIfAborted();
      const record = await store.touch(
        parts.openid,
        parts.sessionId,
        secretDigest(parts.secret),
        policy.idleTtlMs,
        now(),
      );
      if (record === undefined) throw new ConnectError(UNKNOWN_TOKEN, Code.NotFound);
      return { openid: parts.openid, sessionId: parts.sessionId, record };
    },

    /** Ends the session a token names; false when it was not live. */
    async revokeByToken(token: string, reason: EndReason, signal?: AbortSignal): Promise<boolean> {
      const parts = parseToken(token);
      if (parts === undefined) return false;
      return endSession(parts.openid, parts.sessionId, secretDigest(parts.secret), reason, signal);
    },

    /** Ends a session by user and id (operator or service action); false when it was not live. */
    revokeById(openid: string, sessionId: string, reason: EndReason, signal?: AbortSignal): Promise<boolean> {
      return endSession(openid, sessionId, '', reason, signal);
    },

    /** The user's live sessions, oldest first. */
    async list(openid: string): Promise<SessionView[]> {
      const at = now();
      const all = await store.all(openid);
      return [...all]
        .filter(([, record]) => isLive(record, at))
        .sort(([a, x], [b, y]) => x.c - y.c || (a < b ? -1 : 1))
        .map(([sessionId, record]) => ({ openid, sessionId, record }));
    },

    /**
     * One sweeper pass: claims due sessions (any replica may run it; leases keep them apart),
     * expires the overdue ones and emits whatever events are owed. Returns how many it handled.
     */
    async sweep(limitPerShard = 100): Promise<number> {
      const at = now();
      const due = await store.claimDue(at, at + eventLeaseMs, limitPerShard);
      for (const { openid, sessionId } of due) {
        try {
          const record = await store.reconcile(openid, sessionId, at);
          if (record === undefined) await store.unschedule(openid, sessionId);
          else await flush(openid, sessionId, record);
        } catch (err) {
          logger.warn({ err, sessionId }, 'sweeper could not settle a session; it stays due');
        }
      }
      return due.length;
    },
  };
}

export type SessionManager = ReturnType<typeof createSessionManager>;
