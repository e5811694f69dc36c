import { Code, ConnectError } from '@connectrpc/connect';

/** How sessions live and die; from configuration. */
export interface SessionPolicy {
  /** A session expires this long after its last create/touch ... */
  readonly idleTtlMs: number;
  /** ... and this long after creation, whatever its use. */
  readonly maxAgeMs: number;
  /** Live sessions per user; one more evicts the oldest. */
  readonly maxPerUser: number;
  /** Total UTF-8 bytes of attribute keys and values. */
  readonly attributesMaxBytes: number;
}

/** Why a session ended, as stored (and mapped to `SessionEndReason` in events). */
export type EndReason = 'logout' | 'expiry' | 'eviction' | 'revocation';

/**
 * A session as the service knows it. Times are epoch milliseconds. An ended record is a tombstone
 * kept until its SessionEnded event is out. How it is stored is the storage codec's business
 * (adapters/session-codec.ts).
 */
export interface SessionRecord {
  readonly appid: string;
  /** '' when the user has none. */
  readonly unionid: string;
  readonly createdAt: number;
  /** When the session was last created or touched. */
  readonly lastActiveAt: number;
  /** The idle expiry, never after `maxExpiresAt`. */
  readonly expiresAt: number;
  /** The absolute expiry, fixed at creation. */
  readonly maxExpiresAt: number;
  /** SHA-256 of the token's secret: the store never holds the secret itself. */
  readonly secretDigest: string;
  readonly attributes: Record<string, string>;
  readonly state: 'live' | 'ended';
  /** Why it ended, once ended. */
  readonly endReason?: EndReason;
  /** When it ended, once ended. */
  readonly endedAt?: number;
  /** True while the SessionStarted event is not yet acknowledged by Kafka. */
  readonly startPending?: true;
}

/** A session as use cases and handlers see it: its user, its id and its record. */
export interface SessionView {
  readonly openid: string;
  readonly sessionId: string;
  readonly record: SessionRecord;
}

/** The record of a session created at `now`. */
export function newRecord(
  policy: SessionPolicy,
  input: { appid: string; unionid: string; secretDigest: string; attributes: Record<string, string> },
  now: number,
): SessionRecord {
  const maxExpiresAt = now + policy.maxAgeMs;
  return {
    appid: input.appid,
    unionid: input.unionid,
    createdAt: now,
    lastActiveAt: now,
    expiresAt: Math.min(now + policy.idleTtlMs, maxExpiresAt),
    maxExpiresAt,
    secretDigest: input.secretDigest,
    attributes: input.attributes,
    state: 'live',
    startPending: true,
  };
}

/** True when the record is a session a caller may use at `now`. */
export function isLive(record: SessionRecord, now: number): boolean {
  return record.state === 'live' && now < record.expiresAt && now < record.maxExpiresAt;
}

/** When the sweeper must next look at a live session: its earlier expiry. */
export function nextExpiry(record: SessionRecord): number {
  return Math.min(record.expiresAt, record.maxExpiresAt);
}

/** The sessions live at `now`, oldest first (ties broken by session id, so the order is total). */
export function liveOldestFirst(
  openid: string,
  records: ReadonlyMap<string, SessionRecord>,
  now: number,
): SessionView[] {
  return [...records]
    .filter(([, record]) => isLive(record, now))
    .sort(([a, x], [b, y]) => x.createdAt - y.createdAt || (a < b ? -1 : 1))
    .map(([sessionId, record]) => ({ openid, sessionId, record }));
}

/** The UTF-8 size of the attributes, keys and values together. */
export function attributesBytes(attributes: Record<string, string>): number {
  let bytes = 0;
  for (const [key, value] of Object.entries(attributes))
    bytes += Buffer.byteLength(key) + Buffer.byteLength(value);
  return bytes;
}

/**
 * Rejects attributes over the total-size limit (the per-key and per-value limits are in the
 * contract and checked before the handler runs).
 */
export function checkAttributes(attributes: Record<string, string>, maxBytes: number): void {
  const bytes = attributesBytes(attributes);
  if (bytes > maxBytes) {
    throw new ConnectError(
      `attributes: ${bytes} bytes of keys and values in total, over the ${maxBytes}-byte limit; keep sessions small and store bulk data elsewhere`,
      Code.InvalidArgument,
    );
  }
}
