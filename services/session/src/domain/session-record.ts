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
 * A session as stored: one JSON value per session in the user's `sessions` hash, short field
 * names because the Lua scripts read and write the same shape. Times are epoch milliseconds.
 */
export interface SessionRecord {
  /** appid */
  a: string;
  /** unionid ('' when none) */
  u: string;
  /** created at */
  c: number;
  /** last created/touched at */
  l: number;
  /** idle expiry (never after `m`) */
  e: number;
  /** absolute max-age expiry */
  m: number;
  /** SHA-256 of the token secret */
  d: string;
  /** attributes */
  at: Record<string, string>;
  /** live or ended (an ended record is a tombstone kept until its SessionEnded event is out) */
  s: 'live' | 'ended';
  /** end reason, once ended */
  r?: EndReason;
  /** ended at */
  x?: number;
  /** 1 while the SessionStarted event is not yet acknowledged by Kafka */
  p?: 1;
}

/** The record of a session created at `now`. */
export function newRecord(
  policy: SessionPolicy,
  input: { appid: string; unionid: string; digest: string; attributes: Record<string, string> },
  now: number,
): SessionRecord {
  const maxExpiry = now + policy.maxAgeMs;
  return {
    a: input.appid,
    u: input.unionid,
    c: now,
    l: now,
    e: Math.min(now + policy.idleTtlMs, maxExpiry),
    m: maxExpiry,
    d: input.digest,
    at: input.attributes,
    s: 'live',
    p: 1,
  };
}

/** True when the record is a session a caller may use at `now`. */
export function isLive(record: SessionRecord, now: number): boolean {
  return record.s === 'live' && now < record.e && now < record.m;
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
