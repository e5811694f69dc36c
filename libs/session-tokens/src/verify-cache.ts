import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';

/**
 * What the cache holds for a verified token: any answer that names its session (the identity, the
 * expiry...), kept as it is and returned on a hit. The session id is what a SessionEnded names.
 */
export interface CachedSession {
  readonly sessionId: string;
}

/**
 * Taken by {@link VerifyCache.begin} before a lookup (session, or auth-verify) and handed back to
 * {@link VerifyCache.store}: it proves nothing that could make the answer stale happened between.
 */
export interface VerifyTicket {
  readonly generation: number;
  readonly epoch: number;
}

/** Options of {@link createVerifyCache}. */
export interface VerifyCacheOptions {
  /** Most entries kept; the least recently used goes first. */
  readonly maxEntries: number;
  /** Longest an entry is served; an entry never outlives its session's own expiry either. */
  readonly ttlMs: number;
  /** Ended sessions remembered to refuse racing stores (default 10,000); see {@link VerifyCache.store}. */
  readonly endedMemory?: number;
  /** Clock in epoch milliseconds (the one session's expiry times are compared with). */
  readonly now: () => number;
  /** Told when the cache starts or stops serving (feed healthy / unhealthy). */
  readonly onServingChange?: (serving: boolean) => void;
  /** Told how many entries an invalidation removed, and why. */
  readonly onInvalidated?: (cause: 'session_ended' | 'feed_down', entries: number) => void;
  /** Told when a store was refused because the answer may be stale. */
  readonly onStoreRefused?: () => void;
}

/** The verification cache; see {@link createVerifyCache}. */
export interface VerifyCache<V extends CachedSession> {
  /** The key of a token: its SHA-256, so the token itself is never held in memory. */
  keyOf(token: string): string;
  /** True while the invalidation feed is healthy; false means bypass (nothing is served or stored). */
  serving(): boolean;
  /** The cached answer, or undefined (a miss, an expired entry, or not serving). */
  get(key: string): V | undefined;
  /** Call right before the lookup; pass the ticket to {@link store} with the answer. */
  begin(): VerifyTicket;
  /**
   * Keeps a successful answer until `min(now + ttl, expiresAtMs)`. Refused (false) when the
   * feed was not healthy the whole time since `ticket`, when this session ended meanwhile (or
   * may have: the memory of ended sessions overflowed), or when it has already expired.
   */
  store(ticket: VerifyTicket, key: string, value: V, expiresAtMs: number): boolean;
  /** The session ended (revoked, evicted, expired, logged out): drop it and remember that it did. */
  invalidate(sessionId: string): void;
  /** The feed is healthy and has proven it up to `until`; starts serving if it was not. */
  feedFreshUntil(until: number): void;
  /** The feed is down: clears everything and bypasses until {@link feedFreshUntil}. */
  feedDown(): void;
  /** Entries held now. */
  readonly size: number;
}

/**
 * An in-process cache of verified session tokens, kept correct by the SessionEnded feed.
 *
 * Keys are SHA-256 digests of tokens (a hit needs the exact token, secret included; the token is
 * never stored). Values are served only while the feed is healthy: the feed's adapter proves
 * health with {@link VerifyCache.feedFreshUntil} and reports loss with {@link VerifyCache.feedDown};
 * once the proof lapses the cache clears itself and bypasses, because events produced while the
 * feed was blind may never be seen.
 *
 * A miss that races an invalidation is handled with a ticket: every health change bumps a
 * generation, every SessionEnded bumps an epoch and is remembered (bounded FIFO) per session id.
 * A store is refused if the generation moved, if that session ended, or if an ended session
 * newer than the ticket was forgotten. Failures are never stored (the caller stores only answers).
 */
export function createVerifyCache<V extends CachedSession>(options: VerifyCacheOptions): VerifyCache<V> {
  const { now, ttlMs, maxEntries } = options;
  const endedMemory = options.endedMemory ?? 10_000;
  if (!Number.isSafeInteger(maxEntries) || maxEntries < 1)
    throw new Error(`createVerifyCache: maxEntries must be a positive integer, got ${maxEntries}`);
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 1)
    throw new Error(`createVerifyCache: ttlMs must be a positive integer, got ${ttlMs}`);

  // session id -> key of its cached entry (one token per session).
  const bySession = new Map<string, string>();
  const entries = new LRUCache<string, V>({
    max: maxEntries,
    ttl: ttlMs,
    // Exact to the millisecond on the injected clock (no cached "now").
    ttlResolution: 0,
    perf: { now },
    dispose: (value, key) => {
      if (bySession.get(value.sessionId) === key) bySession.delete(value.sessionId);
    },
  });
  // Ended session id -> the epoch it ended at, oldest first.
  const ended = new Map<string, number>();
  let forgottenEpoch = 0;
  let epoch = 0;
  let generation = 0;
  let healthy = false;
  let freshUntil = Number.NEGATIVE_INFINITY;

  function clear(): number {
    const n = entries.size;
    bySession.clear();
    entries.clear();
    return n;
  }

  function feedDown(): void {
    freshUntil = Number.NEGATIVE_INFINITY;
    if (!healthy) return;
    healthy = false;
    generation++;
    const n = clear();
    options.onInvalidated?.('feed_down', n);
    options.onServingChange?.(false);
  }

  function serving(): boolean {
    if (!healthy) return false;
    if (now() < freshUntil) return true;
    feedDown();
    return false;
  }

  return {
    keyOf: (token) => hash('sha256', token, 'base64url'),
    serving,
    get(key) {
      return serving() ? entries.get(key) : undefined;
    },
    begin: () => ({ generation: healthy ? generation : -1, epoch }),
    store(ticket, key, value, expiresAtMs) {
      const refuse = () => (options.onStoreRefused?.(), false);
      if (!serving() || ticket.generation !== generation) return refuse();
      if (ended.has(value.sessionId) || forgottenEpoch > ticket.epoch) return refuse();
      // lru-cache serves an entry while its age is <= ttl; gone at the limit itself.
      const ttl = Math.min(ttlMs, expiresAtMs - now()) - 1;
      if (ttl < 1) return false;
      const previous = bySession.get(value.sessionId);
      if (previous !== undefined && previous !== key) entries.delete(previous);
      entries.set(key, value, { ttl });
      bySession.set(value.sessionId, key);
      return true;
    },
    invalidate(sessionId) {
      epoch++;
      ended.delete(sessionId);
      ended.set(sessionId, epoch);
      if (ended.size > endedMemory) {
        const [oldest, at] = ended.entries().next().value!;
        ended.delete(oldest);
        forgottenEpoch = at;
      }
      const key = bySession.get(sessionId);
      if (key !== undefined) entries.delete(key);
      options.onInvalidated?.('session_ended', key === undefined ? 0 : 1);
    },
    feedFreshUntil(until) {
      freshUntil = until;
      if (healthy) return;
      healthy = true;
      generation++;
      options.onServingChange?.(true);
    },
    feedDown,
    get size() {
      return entries.size;
    },
  };
}
