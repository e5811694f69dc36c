/**
 * The session service's Redis keyspace (`wxm:session:`). Per-user keys carry the openid as a
 * hash tag, so one user's keys share a Redis Cluster slot and every script touches only keys of
 * one slot, declared in KEYS.
 */
export const keys = {
  /** HASH session_id → SessionRecord JSON: all of a user's sessions, bounded by the per-user cap. */
  sessions: (openid: string) => `wxm:session:{${openid}}:sessions`,
  /** HASH channel_id → PresenceEntry JSON, plus `@seen` (last seen, epoch ms). */
  presence: (openid: string) => `wxm:session:{${openid}}:presence`,
  /** ZSET `openid session_id` → when the sweeper should next look at that session. */
  due: (shard: number) => `wxm:session:due:{${shard}}`,
  /** ZSET replica_id → its last heartbeat (epoch ms). */
  replicas: 'wxm:session:replicas',
  /** SET `openid channel_id` of the channels a replica holds, so a dead replica can be reaped. */
  replicaChannels: (replicaId: string) => `wxm:session:replica:{${replicaId}}:channels`,
  /** Pub/sub channel a replica listens on for deliveries, acks and session ends. */
  relay: (replicaId: string) => `wxm:session:relay:${replicaId}`,
};

/** Shards of the due index; a constant because changing it would orphan entries. */
export const DUE_SHARDS = 16;

/** The due-index shard of a user (FNV-1a of the openid). */
export function dueShard(openid: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < openid.length; i++) {
    hash ^= openid.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % DUE_SHARDS;
}
