import type { Redis } from 'ioredis';
import { keys } from './keys.js';

/** One live channel as recorded in its user's presence hash. */
export interface PresenceEntry {
  /** replica holding the channel */
  r: string;
  /** session the channel belongs to */
  s: string;
  /** appid of that session */
  a: string;
  /** attached at (epoch ms) */
  t: number;
}

/** A user's presence as read: channels on replicas that are alive now. */
export interface UserPresence {
  readonly openid: string;
  /** Live channels by replica id. */
  readonly replicas: ReadonlyMap<string, number>;
  readonly channelCount: number;
  /** Epoch ms: now when online; when last seen otherwise; undefined if never. */
  readonly lastSeenAt: number | undefined;
}

const SEEN = '@seen';

const LIVE_SET = `
local live = {}
for i = ARGV_LIVE_FROM, #ARGV do live[ARGV[i]] = true end
local function count_live(key)
  local all, n = redis.call('HGETALL', key), 0
  for i = 1, #all, 2 do
    if all[i] ~= '${SEEN}' and live[cjson.decode(all[i + 1]).r] then n = n + 1 end
  end
  return n
end
`;
const liveSet = (from: number) => LIVE_SET.replace('ARGV_LIVE_FROM', String(from));

// ARGV: channel id, entry JSON, now, retention, live replica ids... -> live channels before this one.
const ATTACH = `${liveSet(5)}
local before = count_live(KEYS[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2], '${SEEN}', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return before
`;

// ARGV: channel id, now, retention, live replica ids... -> live channels left, or -1 when the
// channel was already gone (withdrawn or reaped: whoever removed it reported it).
const DETACH = `${liveSet(4)}
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return -1 end
local left = count_live(KEYS[1])
if left == 0 then redis.call('HSET', KEYS[1], '${SEEN}', ARGV[2]) end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return left
`;

// ARGV: replica id, its last heartbeat, live replica ids... -> {removed, live channels left}.
const REMOVE_REPLICA = `${liveSet(3)}
local all, removed = redis.call('HGETALL', KEYS[1]), 0
for i = 1, #all, 2 do
  if all[i] ~= '${SEEN}' and cjson.decode(all[i + 1]).r == ARGV[1] then
    redis.call('HDEL', KEYS[1], all[i]); removed = removed + 1
  end
end
local left = count_live(KEYS[1])
if removed > 0 and left == 0 then
  local seen = tonumber(redis.call('HGET', KEYS[1], '${SEEN}') or '0')
  if tonumber(ARGV[2]) > seen then redis.call('HSET', KEYS[1], '${SEEN}', ARGV[2]) end
end
return { removed, left }
`;

interface PresenceScripts {
  presenceAttach(
    key: string,
    channelId: string,
    entry: string,
    now: number,
    retention: number,
    ...live: string[]
  ): Promise<number>;
  presenceDetach(
    key: string,
    channelId: string,
    now: number,
    retention: number,
    ...live: string[]
  ): Promise<number>;
  presenceRemoveReplica(
    key: string,
    replicaId: string,
    lastSeen: number,
    ...live: string[]
  ): Promise<[number, number]>;
}

/**
 * Presence in Redis: who has live channels on which replica.
 *
 * Replicas heartbeat into one sorted set (score = last heartbeat); a channel counts only while
 * its replica's heartbeat is younger than `ttlMs`, so a killed replica's users read as offline
 * after the TTL with no cleanup needed first. Survivors then reap its entries (and report the
 * users offline); a replica that stops cleanly withdraws its heartbeat first, so its users read
 * as offline at once.
 */
export function createPresenceStore(redis: Redis, options: { ttlMs: number; retentionMs: number }) {
  const { ttlMs, retentionMs } = options;
  const scripts: Record<keyof PresenceScripts, string> = {
    presenceAttach: ATTACH,
    presenceDetach: DETACH,
    presenceRemoveReplica: REMOVE_REPLICA,
  };
  for (const [name, lua] of Object.entries(scripts)) {
    if (!(name in redis)) redis.defineCommand(name, { lua, numberOfKeys: 1 });
  }
  const r = redis as unknown as PresenceScripts & Redis;

  const store = {
    /** Records a heartbeat; false when the replica was not registered (new, or reaped as dead). */
    async heartbeat(replicaId: string, now: number): Promise<boolean> {
      return (await r.zadd(keys.replicas, now, replicaId)) === 0;
    },

    /** Removes the replica's heartbeat: from now on its channels read as offline everywhere. */
    async withdraw(replicaId: string): Promise<void> {
      await r.zrem(keys.replicas, replicaId);
    },

    /** Ids of replicas alive at `now`. */
    async liveReplicas(now: number): Promise<string[]> {
      return r.zrangebyscore(keys.replicas, `(${now - ttlMs}`, '+inf');
    },

    /** Replicas whose heartbeat is older than the TTL, with that heartbeat. */
    async deadReplicas(now: number): Promise<Array<{ replicaId: string; lastHeartbeat: number }>> {
      const flat = await r.zrangebyscore(keys.replicas, '-inf', now - ttlMs, 'WITHSCORES');
      const out = [];
      for (let i = 0; i < flat.length; i += 2)
        out.push({ replicaId: flat[i]!, lastHeartbeat: Number(flat[i + 1]) });
      return out;
    },

    /** Takes a dead replica off the heartbeat set; true for exactly one of the replicas racing to reap it. */
    async claimDead(replicaId: string): Promise<boolean> {
      return (await r.zrem(keys.replicas, replicaId)) === 1;
    },

    /** Records a channel; resolves with the user's live channels before it (0: the user just came online). */
    async attach(openid: string, channelId: string, entry: PresenceEntry, live: string[], now: number) {
      await r.sadd(keys.replicaChannels(entry.r), `${openid} ${channelId}`);
      return r.presenceAttach(
        keys.presence(openid),
        channelId,
        JSON.stringify(entry),
        now,
        retentionMs,
        ...live,
      );
    },

    /** Removes a channel; resolves with the live channels left, or -1 when it was already removed. */
    async detach(openid: string, channelId: string, replicaId: string, live: string[], now: number) {
      const left = await r.presenceDetach(keys.presence(openid), channelId, now, retentionMs, ...live);
      await r.srem(keys.replicaChannels(replicaId), `${openid} ${channelId}`);
      return left;
    },

    /** Removes every channel a (dead or withdrawing) replica holds for a user. */
    async removeReplica(openid: string, replicaId: string, lastSeen: number, live: string[]) {
      const [removed, left] = await r.presenceRemoveReplica(
        keys.presence(openid),
        replicaId,
        lastSeen,
        ...live,
      );
      return { removed, left };
    },

    /** The users with channels on a replica, by its own bookkeeping. */
    async replicaUsers(replicaId: string): Promise<string[]> {
      const members = await r.smembers(keys.replicaChannels(replicaId));
      return [...new Set(members.map((m) => m.split(' ', 1)[0]!))];
    },

    /** Forgets a replica's bookkeeping once its users are reaped. */
    async dropReplica(replicaId: string): Promise<void> {
      await r.del(keys.replicaChannels(replicaId));
    },

    /** Presence of each user (in order), counting only channels on replicas alive at `now`. */
    async read(openids: readonly string[], now: number): Promise<UserPresence[]> {
      const hashes = await Promise.all(openids.map((openid) => r.hgetall(keys.presence(openid))));
      const replicaIds = new Set<string>();
      const entries = hashes.map((hash) => {
        const list: PresenceEntry[] = [];
        for (const [field, value] of Object.entries(hash)) {
          if (field === SEEN) continue;
          const entry = JSON.parse(value) as PresenceEntry;
          list.push(entry);
          replicaIds.add(entry.r);
        }
        return list;
      });
      const ids = [...replicaIds];
      const heartbeats = new Map<string, number | undefined>();
      if (ids.length > 0) {
        const scores = await r.zmscore(keys.replicas, ...ids);
        ids.forEach((id, i) => heartbeats.set(id, scores[i] == null ? undefined : Number(scores[i])));
      }
      const alive = (id: string) => {
        const beat = heartbeats.get(id);
        return beat !== undefined && beat > now - ttlMs;
      };
      return openids.map((openid, i) => {
        const replicas = new Map<string, number>();
        let lastSeen = hashes[i]![SEEN] === undefined ? undefined : Number(hashes[i]![SEEN]);
        for (const entry of entries[i]!) {
          if (alive(entry.r)) replicas.set(entry.r, (replicas.get(entry.r) ?? 0) + 1);
          else {
            const beat = heartbeats.get(entry.r);
            if (beat !== undefined && (lastSeen === undefined || beat > lastSeen)) lastSeen = beat;
          }
        }
        let channelCount = 0;
        for (const n of replicas.values()) channelCount += n;
        return { openid, replicas, channelCount, lastSeenAt: channelCount > 0 ? now : lastSeen };
      });
    },
  };
  return store;
}

export type PresenceStore = ReturnType<typeof createPresenceStore>;
