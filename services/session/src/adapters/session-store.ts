import type { RedisClient as Redis } from '@wxmesh/redis';
import type { EndReason, SessionRecord } from '../domain/session-record.js';
import {
  decodeDueMember,
  decodeEndedSessions,
  decodeOptionalSessionRecord,
  decodeSessionRecord,
  encodeDueMember,
  encodeSessionRecord,
  type DueEntry,
  type EndedSession,
} from './session-codec.js';
import { CLAIM_LUA, CREATE_LUA, END_LUA, RECONCILE_LUA, SETTLE_LUA, TOUCH_LUA } from './session-lua.js';
import { DUE_SHARDS, dueShard, keys } from './keys.js';
import { withScripts } from './redis-scripts.js';

export type { DueEntry, EndedSession } from './session-codec.js';

/** The session scripts as ioredis commands (see session-lua.ts for their arguments). */
interface SessionScripts {
  sessionCreate(...args: [key: string, now: number, sid: string, rec: string, cap: number, retention: number, until: number]): Promise<string[]>; // prettier-ignore
  sessionTouch(...args: [key: string, sid: string, digest: string, now: number, idle: number, retention: number]): Promise<string | null>; // prettier-ignore
  sessionEnd(...args: [key: string, sid: string, digest: string, reason: EndReason, now: number]): Promise<string | null>; // prettier-ignore
  sessionReconcile(key: string, sid: string, now: number): Promise<string | null>;
  sessionSettle(key: string, sid: string, endedEmitted: '0' | '1'): Promise<number>;
  sessionClaim(key: string, now: number, leaseUntil: number, limit: number): Promise<string[]>;
}

/** The store's explicit state: the connection with its scripts, and how long tombstones may stay. */
interface SessionStoreState {
  readonly redis: SessionScripts & Redis;
  readonly retentionMs: number;
}

const SCRIPTS: Record<keyof SessionScripts, string> = {
  sessionCreate: CREATE_LUA,
  sessionTouch: TOUCH_LUA,
  sessionEnd: END_LUA,
  sessionReconcile: RECONCILE_LUA,
  sessionSettle: SETTLE_LUA,
  sessionClaim: CLAIM_LUA,
};

/** Stores a new session, ending expired ones and evicting the oldest beyond `cap`. */
async function createRecord(
  { redis, retentionMs }: SessionStoreState,
  openid: string,
  sessionId: string,
  record: SessionRecord,
  limits: { cap: number; now: number },
): Promise<EndedSession[]> {
  const ended = await redis.sessionCreate(
    keys.sessions(openid),
    limits.now,
    sessionId,
    encodeSessionRecord(record),
    limits.cap,
    retentionMs,
    Math.min(record.expiresAt, record.maxExpiresAt),
  );
  return decodeEndedSessions(ended);
}

/** Every stored record of a user (live and tombstones). */
async function allRecords({ redis }: SessionStoreState, openid: string): Promise<Map<string, SessionRecord>> {
  const raw = await redis.hgetall(keys.sessions(openid));
  return new Map(Object.entries(raw).map(([sid, json]) => [sid, decodeSessionRecord(json)]));
}

/** Claims due entries across all shards, leasing each until `leaseUntil`. */
async function claimDueEntries(
  { redis }: SessionStoreState,
  now: number,
  leaseUntil: number,
  limitPerShard: number,
): Promise<DueEntry[]> {
  const shards = await Promise.all(
    Array.from({ length: DUE_SHARDS }, (_, shard) =>
      redis.sessionClaim(keys.due(shard), now, leaseUntil, limitPerShard),
    ),
  );
  return shards.flat().map(decodeDueMember);
}

/** The due-index shard key and member of a session. */
function dueEntry(openid: string, sessionId: string): [key: string, member: string] {
  return [keys.due(dueShard(openid)), encodeDueMember({ openid, sessionId })];
}

/**
 * Sessions in Redis. Each state change is one Lua script on the user's hash, so concurrent
 * creates, touches and revocations on any replica serialise per user; reads are one HGET.
 * The due index (sharded, outside the user's slot) is only a schedule for the sweeper: every
 * decision is re-checked against the user's hash.
 */
export function createSessionStore(redis: Redis, options: { retentionMs: number }) {
  const state: SessionStoreState = {
    redis: withScripts<SessionScripts>(redis, SCRIPTS),
    retentionMs: options.retentionMs,
  };
  const r = state.redis;

  return {
    /** Stores a new session, ending expired ones and evicting the oldest beyond `cap`. */
    create: (openid: string, sessionId: string, record: SessionRecord, cap: number, now: number) =>
      createRecord(state, openid, sessionId, record, { cap, now }),

    /** The stored record, live or not; the caller checks the secret and expiry. */
    get: async (openid: string, sessionId: string): Promise<SessionRecord | undefined> =>
      decodeOptionalSessionRecord(await r.hget(keys.sessions(openid), sessionId)),

    /** Every stored record of a user (live and tombstones). */
    all: (openid: string) => allRecords(state, openid),

    /** Slides a live session's idle expiry; undefined when unknown, ended, expired or the digest differs. */
    touch: async (openid: string, sessionId: string, digest: string, idleTtlMs: number, now: number) =>
      decodeOptionalSessionRecord(
        await r.sessionTouch(keys.sessions(openid), sessionId, digest, now, idleTtlMs, state.retentionMs),
      ),

    /** Ends a live session (a tombstone until its event is out); undefined when this call ended nothing. */
    end: async (openid: string, sessionId: string, digest: string, reason: EndReason, now: number) =>
      decodeOptionalSessionRecord(await r.sessionEnd(keys.sessions(openid), sessionId, digest, reason, now)),

    /** The record as the sweeper should see it (an overdue live session becomes an expiry tombstone). */
    reconcile: async (openid: string, sessionId: string, now: number) =>
      decodeOptionalSessionRecord(await r.sessionReconcile(keys.sessions(openid), sessionId, now)),

    /**
     * The events of a snapshot of the session are out: clear its pending-start flag and, when
     * the snapshot's SessionEnded was among them, drop its tombstone. A session that ended after
     * the snapshot keeps its tombstone: its SessionEnded is still owed.
     */
    async settle(openid: string, sessionId: string, endedEmitted: boolean): Promise<void> {
      await r.sessionSettle(keys.sessions(openid), sessionId, endedEmitted ? '1' : '0');
    },

    /** Asks the sweeper to look at a session at `at` (epoch ms). */
    async schedule(openid: string, sessionId: string, at: number): Promise<void> {
      const [key, member] = dueEntry(openid, sessionId);
      await r.zadd(key, at, member);
    },

    /** Removes a session from the sweeper's schedule. */
    async unschedule(openid: string, sessionId: string): Promise<void> {
      await r.zrem(...dueEntry(openid, sessionId));
    },

    /** Claims due entries across all shards, leasing each until `leaseUntil`. */
    claimDue: (now: number, leaseUntil: number, limitPerShard: number) =>
      claimDueEntries(state, now, leaseUntil, limitPerShard),
  };
}

export type SessionStore = ReturnType<typeof createSessionStore>;
