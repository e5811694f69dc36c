import type { PresenceEntry, StoredPresence } from '../domain/presence.js';

/*
 * The storage codec of the presence keyspace: the only code that knows how presence is stored.
 * A user's presence hash (`wxm:session:{openid}:presence`) maps channel id → entry JSON with short
 * field names (r replica · s session · a appid · t attached at), plus the field `@seen` (last
 * seen, epoch ms). A replica's channel set holds `<openid> <channel id>` members. The Lua
 * scripts in presence-lua.ts read the same fields.
 */

/** The presence hash field holding "last seen" rather than a channel. */
export const SEEN_FIELD = '@seen';

/** A presence entry as stored. */
interface StoredEntry {
  r: string;
  s: string;
  a: string;
  t: number;
}

/** The stored JSON of a channel's presence entry. */
export function encodePresenceEntry(entry: PresenceEntry): string {
  const stored: StoredEntry = { r: entry.replicaId, s: entry.sessionId, a: entry.appid, t: entry.attachedAt };
  return JSON.stringify(stored);
}

/** The presence entry a stored JSON value holds. */
export function decodePresenceEntry(json: string): PresenceEntry {
  const stored = JSON.parse(json) as StoredEntry;
  return { replicaId: stored.r, sessionId: stored.s, appid: stored.a, attachedAt: stored.t };
}

/** A user's presence hash (as HGETALL returns it) as channels and last seen. */
export function decodePresenceHash(hash: Record<string, string>): StoredPresence {
  const entries: PresenceEntry[] = [];
  for (const [field, value] of Object.entries(hash)) {
    if (field !== SEEN_FIELD) entries.push(decodePresenceEntry(value));
  }
  const seen = hash[SEEN_FIELD];
  return { entries, lastSeenAt: seen === undefined ? undefined : Number(seen) };
}

/** The member of a replica's channel set naming one of its channels. */
export function encodeReplicaChannel(openid: string, channelId: string): string {
  return `${openid} ${channelId}`;
}

/** The distinct users named by a replica's channel set. */
export function decodeReplicaUsers(members: readonly string[]): string[] {
  return [...new Set(members.map((member) => member.split(' ', 1)[0]!))];
}

/** A `ZRANGEBYSCORE ... WITHSCORES` reply of the heartbeat set as replicas and heartbeats. */
export function decodeHeartbeats(
  flat: readonly string[],
): Array<{ replicaId: string; lastHeartbeat: number }> {
  const out = [];
  for (let i = 0; i < flat.length; i += 2)
    out.push({ replicaId: flat[i]!, lastHeartbeat: Number(flat[i + 1]) });
  return out;
}
