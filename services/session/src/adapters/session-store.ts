import type { Redis } from 'ioredis';
import type { EndReason, SessionRecord } from '../domain/session-record.js';
import { DUE_SHARDS, dueShard, keys } from './keys.js';

// Every script touches the one key it is given (a user's sessions hash). Records are JSON in the
// SessionRecord shape; cjson keeps 14 significant digits, enough for epoch milliseconds.
const LUA_END_EXPIRED = `
local function end_expired(key, sid, rec, now)
  if rec.s == 'live' and (rec.e <= now or rec.m <= now) then
    rec.s = 'ended'; rec.r = 'expiry'; rec.x = now
    redis.call('HSET', key, sid, cjson.encode(rec))
    return true
  end
  return false
end
local function keep_for(key, until_ms, now, retention)
  local wanted = until_ms - now + retention
  if redis.call('PTTL', key) < wanted then redis.call('PEXPIRE', key, wanted) end
end
`;

const CREATE = `${LUA_END_EXPIRED}
local now, cap, retention = tonumber(ARGV[1]), tonumber(ARGV[4]), tonumber(ARGV[5])
local all = redis.call('HGETALL', KEYS[1])
local live, ended = {}, {}
for i = 1, #all, 2 do
  local sid, rec = all[i], cjson.decode(all[i + 1])
  if end_expired(KEYS[1], sid, rec, now) then
    table.insert(ended, sid); table.insert(ended, 'expiry')
  elseif rec.s == 'live' then
    table.insert(live, { sid, rec.c, rec })
  end
end
table.sort(live, function(x, y) if x[2] == y[2] then return x[1] < y[1] end return x[2] < y[2] end)
while #live >= cap do
  local victim = table.remove(live, 1)
  local rec = victim[3]
  rec.s = 'ended'; rec.r = 'eviction'; rec.x = now
  redis.call('HSET', KEYS[1], victim[1], cjson.encode(rec))
  table.insert(ended, victim[1]); table.insert(ended, 'eviction')
end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
keep_for(KEYS[1], tonumber(ARGV[6]), now, retention)
return ended
`;

const TOUCH = `${LUA_END_EXPIRED}
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return false end
local rec, now = cjson.decode(raw), tonumber(ARGV[3])
if rec.s ~= 'live' or rec.d ~= ARGV[2] then return false end
if end_expired(KEYS[1], ARGV[1], rec, now) then return false end
rec.l = now
rec.e = math.min(now + tonumber(ARGV[4]), rec.m)
local encoded = cjson.encode(rec)
redis.call('HSET', KEYS[1], ARGV[1], encoded)
keep_for(KEYS[1], rec.e, now, tonumber(ARGV[5]))
return encoded
`;

// ARGV: session id, digest ('' = do not check), reason, now. Returns the record when this call
// ended a live session, false otherwise (unknown, already ended, or just found expired).
const END = `${LUA_END_EXPIRED}
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return false end
local rec, now = cjson.decode(raw), tonumber(ARGV[4])
if rec.s ~= 'live' or (ARGV[2] ~= '' and rec.d ~= ARGV[2]) then return false end
if end_expired(KEYS[1], ARGV[1], rec, now) then return false end
rec.s = 'ended'; rec.r = ARGV[3]; rec.x = now
local encoded = cjson.encode(rec)
redis.call('HSET', KEYS[1], ARGV[1], encoded)
return encoded
`;

// What the sweeper should do about a session: returns false when it is gone, else its record
// (turned into an expiry tombstone first when its time has passed).
const RECONCILE = `${LUA_END_EXPIRED}
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return false end
local rec = cjson.decode(raw)
if end_expired(KEYS[1], ARGV[1], rec, tonumber(ARGV[2])) then return cjson.encode(rec) end
return raw
`;

// After the events are out: drop a tombstone, or clear a live session's "started" flag.
const SETTLE = `
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local rec = cjson.decode(raw)
if rec.s == 'ended' and ARGV[2] == '1' then redis.call('HDEL', KEYS[1], ARGV[1]); return 1 end
if rec.p then rec.p = nil; redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(rec)) end
return 1
`;

// Claims up to ARGV[3] due entries by pushing their time a lease ahead, so that concurrent
// sweepers on other replicas do not take the same ones.
const CLAIM = `
local due = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[3]))
for _, member in ipairs(due) do redis.call('ZADD', KEYS[1], ARGV[2], member) end
return due
`;

interface SessionScripts {
  sessionCreate(
    key: string,
    now: number,
    sid: string,
    rec: string,
    cap: number,
    retention: number,
    until: number,
  ): Promise<string[]>;
  sessionTouch(
    key: string,
    sid: string,
    digest: string,
    now: number,
    idle: number,
    retention: number,
  ): Promise<string | null>;
  sessionEnd(
    key: string,
    sid: string,
    digest: string,
    reason: EndReason,
    now: number,
  ): Promise<string | null>;
  sessionReconcile(key: string, sid: string, now: number): Promise<string | null>;
  sessionSettle(key: string, sid: string, endedEmitted: '0' | '1'): Promise<number>;
  sessionClaim(key: string, now: number, leaseUntil: number, limit: number): Promise<string[]>;
}

/** A session that ended, with the record it had. */
export interface EndedSession {
  readonly sessionId: string;
  readonly reason: EndReason;
}

/** A due-index entry: one user's session the sweeper must look at. */
export interface DueEntry {
  readonly openid: string;
  readonly sessionId: string;
}

/**
 * Sessions in Redis. Each state change is one Lua script on the user's hash, so concurrent
 * creates, touches and revocations on any replica serialise per user; reads are one HGET.
 * The due index (sharded, outside the user's slot) is only a schedule for the sweeper: every
 * decision is re-checked against the user's hash.
 */
export function createSessionStore(redis: Redis, options: { retentionMs: number }) {
  const { retentionMs } = options;
  const scripts: Record<keyof SessionScripts, [string, number]> = {
    sessionCreate: [CREATE, 1],
    sessionTouch: [TOUCH, 1],
    sessionEnd: [END, 1],
    sessionReconcile: [RECONCILE, 1],
    sessionSettle: [SETTLE, 1],
    sessionClaim: [CLAIM, 1],
  };
  for (const [name, [lua, numberOfKeys]] of Object.entries(scripts)) {
    if (!(name in redis)) redis.defineCommand(name, { lua, numberOfKeys });
  }
  const r = redis as unknown as SessionScripts & Redis;
  const parse = (raw: string | null): SessionRecord | undefined =>
    raw === null ? undefined : (JSON.parse(raw) as SessionRecord);
  const dueMember = (openid: string, sid: string) => `${openid} ${sid}`;

  return {
    /** Stores a new session, ending expired ones and evicting the oldest beyond `cap`. */
    async create(openid: string, sessionId: string, record: SessionRecord, cap: number, now: number) {
      const ended = await r.sessionCreate(
        keys.sessions(openid),
        now,
        sessionId,
        JSON.stringify(record),
        cap,
        retentionMs,
        Math.min(record.e, record.m),
      );
      const out: EndedSession[] = [];
      for (let i = 0; i < ended.length; i += 2)
        out.push({ sessionId: ended[i]!, reason: ended[i + 1] as EndReason });
      return out;
    },

    /** The stored record, live or not; the caller checks the secret and expiry. */
    async get(openid: string, sessionId: string): Promise<SessionRecord | undefined> {
      return parse(await r.hget(keys.sessions(openid), sessionId));
    },

    /** Every stored record of a user (live and tombstones). */
    async all(openid: string): Promise<Map<string, SessionRecord>> {
      const raw = await r.hgetall(keys.sessions(openid));
      return new Map(Object.entries(raw).map(([sid, json]) => [sid, JSON.parse(json) as SessionRecord]));
    },

    /** Slides a live session's idle expiry; undefined when unknown, ended, expired or the digest differs. */
    async touch(openid: string, sessionId: string, digest: string, idleTtlMs: number, now: number) {
      return parse(
        await r.sessionTouch(keys.sessions(openid), sessionId, digest, now, idleTtlMs, retentionMs),
      );
    },

    /** Ends a live session (a tombstone until its event is out); undefined when this call ended nothing. */
    async end(openid: string, sessionId: string, digest: string, reason: EndReason, now: number) {
      return parse(await r.sessionEnd(keys.sessions(openid), sessionId, digest, reason, now));
    },

    /** The record as the sweeper should see it (an overdue live session becomes an expiry tombstone). */
    async reconcile(openid: string, sessionId: string, now: number) {
      return parse(await r.sessionReconcile(keys.sessions(openid), sessionId, now));
    },

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
      await r.zadd(keys.due(dueShard(openid)), at, dueMember(openid, sessionId));
    },

    /** Removes a session from the sweeper's schedule. */
    async unschedule(openid: string, sessionId: string): Promise<void> {
      await r.zrem(keys.due(dueShard(openid)), dueMember(openid, sessionId));
    },

    /** Claims due entries across all shards, leasing each until `leaseUntil`. */
    async claimDue(now: number, leaseUntil: number, limitPerShard: number): Promise<DueEntry[]> {
      const shards = await Promise.all(
        Array.from({ length: DUE_SHARDS }, (_, shard) =>
          r.sessionClaim(keys.due(shard), now, leaseUntil, limitPerShard),
        ),
      );
      return shards.flat().map((member) => {
        const [openid, sessionId] = member.split(' ') as [string, string];
        return { openid, sessionId };
      });
    },
  };
}

export type SessionStore = ReturnType<typeof createSessionStore>;
