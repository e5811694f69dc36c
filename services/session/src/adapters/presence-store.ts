import type { RedisClient as Redis } from '@wxmesh/redis';
import { summarizePresence, type PresenceEntry, type UserPresence } from '../domain/presence.js';
import {
  decodeHeartbeats,
  decodePresenceHash,
  decodeReplicaUsers,
  encodePresenceEntry,
  encodeReplicaChannel,
} from './presence-codec.js';
import { ATTACH_LUA, DETACH_LUA, REMOVE_REPLICA_LUA } from './presence-lua.js';
import { keys } from './keys.js';
import { withScripts } from './redis-scripts.js';

export type { PresenceEntry, UserPresence } from '../domain/presence.js';

/** The presence scripts as ioredis commands (see presence-lua.ts for their arguments). */
interface PresenceScripts {
  presenceAttach(...args: [key: string, channelId: string, entry: string, now: number, retention: number, ...live: string[]]): Promise<number>; // prettier-ignore
  presenceDetach(...args: [key: string, channelId: string, now: number, retention: number, ...live: string[]]): Promise<number>; // prettier-ignore
  presenceRemoveReplica(...args: [key: string, replicaId: string, lastSeen: number, ...live: string[]]): Promise<[number, number]>; // prettier-ignore
}

/** The store's explicit state: the connection with its scripts, the heartbeat TTL, the retention. */
interface PresenceStoreState {
  readonly redis: PresenceScripts & Redis;
  readonly ttlMs: number;
  readonly retentionMs: number;
}

const SCRIPTS: Record<keyof PresenceScripts, string> = {
  presenceAttach: ATTACH_LUA,
  presenceDetach: DETACH_LUA,
  presenceRemoveReplica: REMOVE_REPLICA_LUA,
};

/** Records a channel; resolves with the user's live channels before it (0: the user just came online). */
async function attachChannel(
  { redis, retentionMs }: PresenceStoreState,
  openid: string,
  channelId: string,
  entry: PresenceEntry,
  live: string[],
  now: number,
): Promise<number> {
  await redis.sadd(keys.replicaChannels(entry.replicaId), encodeReplicaChannel(openid, channelId));
  const json = encodePresenceEntry(entry);
  return redis.presenceAttach(keys.presence(openid), channelId, json, now, retentionMs, ...live);
}

/** Removes a channel; resolves with the live channels left, or -1 when it was already removed. */
async function detachChannel(
  { redis, retentionMs }: PresenceStoreState,
  channel: { openid: string; channelId: string; replicaId: string },
  live: string[],
  now: number,
): Promise<number> {
  const { openid, channelId, replicaId } = channel;
  const left = await redis.presenceDetach(keys.presence(openid), channelId, now, retentionMs, ...live);
  await redis.srem(keys.replicaChannels(replicaId), encodeReplicaChannel(openid, channelId));
  return left;
}

/** The last heartbeat of each replica (undefined for one not registered). */
async function heartbeatsOf(
  redis: Redis,
  replicaIds: readonly string[],
): Promise<Map<string, number | undefined>> {
  const heartbeats = new Map<string, number | undefined>();
  if (replicaIds.length === 0) return heartbeats;
  const scores = await redis.zmscore(keys.replicas, ...replicaIds);
  replicaIds.forEach((id, i) => heartbeats.set(id, scores[i] == null ? undefined : Number(scores[i])));
  return heartbeats;
}

/** Presence of each user (in order), counting only channels on replicas alive at `now`. */
async function readPresence(
  { redis, ttlMs }: PresenceStoreState,
  openids: readonly string[],
  now: number,
): Promise<UserPresence[]> {
  const hashes = await Promise.all(openids.map((openid) => redis.hgetall(keys.presence(openid))));
  const stored = hashes.map(decodePresenceHash);
  const replicaIds = new Set(stored.flatMap((user) => user.entries.map((entry) => entry.replicaId)));
  const heartbeats = await heartbeatsOf(redis, [...replicaIds]);
  return openids.map((openid, i) =>
    summarizePresence(openid, stored[i]!, (id) => heartbeats.get(id), now, ttlMs),
  );
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
  const state: PresenceStoreState = { redis: withScripts<PresenceScripts>(redis, SCRIPTS), ...options };
  const r = state.redis;

  return {
    /** Records a heartbeat; false when the replica was not registered (new, or reaped as dead). */
    heartbeat: async (replicaId: string, now: number): Promise<boolean> =>
      (await r.zadd(keys.replicas, now, replicaId)) === 0,

    /** Removes the replica's heartbeat: from now on its channels read as offline everywhere. */
    async withdraw(replicaId: string): Promise<void> {
      await r.zrem(keys.replicas, replicaId);
    },

    /** Ids of replicas alive at `now`. */
    liveReplicas: (now: number): Promise<string[]> =>
      r.zrangebyscore(keys.replicas, `(${now - state.ttlMs}`, '+inf'),

    /** Replicas whose heartbeat is older than the TTL, with that heartbeat. */
    deadReplicas: async (now: number) =>
      decodeHeartbeats(await r.zrangebyscore(keys.replicas, '-inf', now - state.ttlMs, 'WITHSCORES')),

    /** Takes a dead replica off the heartbeat set; true for exactly one of the replicas racing to reap it. */
    claimDead: async (replicaId: string): Promise<boolean> => (await r.zrem(keys.replicas, replicaId)) === 1,

    /** Records a channel; resolves with the user's live channels before it (0: the user just came online). */
    attach: (openid: string, channelId: string, entry: PresenceEntry, live: string[], now: number) =>
      attachChannel(state, openid, channelId, entry, live, now),

    /** Removes a channel; resolves with the live channels left, or -1 when it was already removed. */
    detach: (openid: string, channelId: string, replicaId: string, live: string[], now: number) =>
      detachChannel(state, { openid, channelId, replicaId }, live, now),

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
    replicaUsers: async (replicaId: string): Promise<string[]> =>
      decodeReplicaUsers(await r.smembers(keys.replicaChannels(replicaId))),

    /** Forgets a replica's bookkeeping once its users are reaped. */
    async dropReplica(replicaId: string): Promise<void> {
      await r.del(keys.replicaChannels(replicaId));
    },

    /** Presence of each user (in order), counting only channels on replicas alive at `now`. */
    read: (openids: readonly string[], now: number) => readPresence(state, openids, now),
  };
}

export type PresenceStore = ReturnType<typeof createPresenceStore>;
