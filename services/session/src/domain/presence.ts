/** One live channel as its user's presence records it. */
export interface PresenceEntry {
  /** The replica holding the channel. */
  readonly replicaId: string;
  /** The session the channel belongs to. */
  readonly sessionId: string;
  /** The appid of that session. */
  readonly appid: string;
  /** When the channel was attached (epoch ms). */
  readonly attachedAt: number;
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

/** What is stored of one user's presence: its channels and when it was last seen. */
export interface StoredPresence {
  readonly entries: readonly PresenceEntry[];
  /** When the user was last seen online (epoch ms), undefined if never recorded. */
  readonly lastSeenAt: number | undefined;
}

/** A replica's last heartbeat (epoch ms), undefined for a replica not registered. */
export type HeartbeatOf = (replicaId: string) => number | undefined;

/** True when the replica's last heartbeat is younger than `ttlMs` at `now`. */
export function replicaAlive(heartbeat: number | undefined, now: number, ttlMs: number): boolean {
  return heartbeat !== undefined && heartbeat > now - ttlMs;
}

/**
 * A user's presence at `now`: only channels on replicas alive now count. A channel on a lapsed
 * replica moves "last seen" up to that replica's last heartbeat: the user was there until then.
 */
export function summarizePresence(
  openid: string,
  stored: StoredPresence,
  heartbeatOf: HeartbeatOf,
  now: number,
  ttlMs: number,
): UserPresence {
  const replicas = new Map<string, number>();
  let lastSeen = stored.lastSeenAt;
  for (const entry of stored.entries) {
    const beat = heartbeatOf(entry.replicaId);
    if (replicaAlive(beat, now, ttlMs))
      replicas.set(entry.replicaId, (replicas.get(entry.replicaId) ?? 0) + 1);
    else if (beat !== undefined && (lastSeen === undefined || beat > lastSeen)) lastSeen = beat;
  }
  let channelCount = 0;
  for (const n of replicas.values()) channelCount += n;
  return { openid, replicas, channelCount, lastSeenAt: channelCount > 0 ? now : lastSeen };
}
