import type { EndReason, SessionRecord } from '../domain/session-record.js';

/*
 * The storage codec of the sessions keyspace (`wxm:session:{openid}:sessions`, one JSON value per
 * session): the only code that knows the stored record's short field names. The Lua scripts in
 * session-lua.ts read and write the same fields:
 *   a appid · u unionid · c created at · l last active at · e idle expiry · m max expiry ·
 *   d secret digest · at attributes · s state ('live' | 'ended') · r end reason · x ended at ·
 *   p 1 while SessionStarted is pending
 * The field order below is the order records have always been written in, so a record encodes to
 * the same bytes as before.
 */

/** A session record as stored. */
interface StoredSession {
  a: string;
  u: string;
  c: number;
  l: number;
  e: number;
  m: number;
  d: string;
  at: Record<string, string>;
  s: 'live' | 'ended';
  r?: EndReason;
  x?: number;
  p?: 1;
}

/** The stored JSON of a session record. */
export function encodeSessionRecord(record: SessionRecord): string {
  const stored: StoredSession = {
    a: record.appid,
    u: record.unionid,
    c: record.createdAt,
    l: record.lastActiveAt,
    e: record.expiresAt,
    m: record.maxExpiresAt,
    d: record.secretDigest,
    at: record.attributes,
    s: record.state,
    r: record.endReason,
    x: record.endedAt,
    p: record.startPending ? 1 : undefined,
  };
  return JSON.stringify(stored);
}

/** The session record a stored JSON value holds (written by {@link encodeSessionRecord} or Lua). */
export function decodeSessionRecord(json: string): SessionRecord {
  const { a, u, c, l, e, m, d, at, s, r, x, p } = JSON.parse(json) as StoredSession;
  const ended = { ...(r !== undefined ? { endReason: r } : {}), ...(x !== undefined ? { endedAt: x } : {}) };
  const base = { appid: a, unionid: u, createdAt: c, lastActiveAt: l, expiresAt: e, maxExpiresAt: m };
  return {
    ...base,
    secretDigest: d,
    attributes: at,
    state: s,
    ...ended,
    ...(p ? { startPending: true as const } : {}),
  };
}

/** A stored value, or Redis's nil, as a record. */
export function decodeOptionalSessionRecord(json: string | null): SessionRecord | undefined {
  return json === null ? undefined : decodeSessionRecord(json);
}

/** A session the create script ended, and why. */
export interface EndedSession {
  readonly sessionId: string;
  readonly reason: EndReason;
}

/** The create script's reply: `[session id, reason, session id, reason, ...]`. */
export function decodeEndedSessions(flat: readonly string[]): EndedSession[] {
  const ended: EndedSession[] = [];
  for (let i = 0; i < flat.length; i += 2)
    ended.push({ sessionId: flat[i]!, reason: flat[i + 1] as EndReason });
  return ended;
}

/** A session in the due index, as the sweeper reads it back. */
export interface DueEntry {
  readonly openid: string;
  readonly sessionId: string;
}

/** The due-index member naming a session: `<openid> <session id>`. */
export function encodeDueMember(entry: DueEntry): string {
  return `${entry.openid} ${entry.sessionId}`;
}

/** The session a due-index member names. */
export function decodeDueMember(member: string): DueEntry {
  const [openid, sessionId] = member.split(' ') as [string, string];
  return { openid, sessionId };
}
