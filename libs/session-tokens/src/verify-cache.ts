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

/** The state of one verification cache, shared by the units below. */
interface VerifyCacheState<V extends CachedSession> {
  readonly options: VerifyCacheOptions;
  readonly endedMemory: number;
  readonly entries: LRUCache<string, V>;
  /** Session id -> key of its cached entry (one token per session). */
  readonly bySession: Map<string, string>;
  /** Ended session id -> the epoch it ended at, oldest first. */
  readonly ended: Map<string, number>;
  /** The epoch of the newest ended session the memory has forgotten. */
  forgottenEpoch: number;
  /** Bumped by every SessionEnded. */
  epoch: number;
  /** Bumped by every health change. */
  generation: number;
  healthy: boolean;
  /** Until when the feed has proven it saw everything (epoch ms). */
  freshUntil: number;
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
  const state = createVerifyCacheState<V>(options);
  return {
    keyOf: (token) => hash('sha256', token, 'base64url'),
    serving: () => isServing(state),
    get: (key) => (isServing(state) ? state.entries.get(key) : undefined),
    begin: () => ({ generation: state.healthy ? state.generation : -1, epoch: state.epoch }),
    store: (ticket, key, value, expiresAtMs) => storeAnswer(state, ticket, key, value, expiresAtMs),
    invalidate: (sessionId) => invalidateSession(state, sessionId),
    feedFreshUntil: (until) => markFeedFresh(state, until),
    feedDown: () => markFeedDown(state),
    get size() {
      return state.entries.size;
    },
  };
}

/** Checks the options and makes an empty cache that is not serving yet. */
function createVerifyCacheState<V extends CachedSession>(options: VerifyCacheOptions): VerifyCacheState<V> {
  const { now, ttlMs, maxEntries } = options;
  if (!Number.isSafeInteger(maxEntries) || maxEntries < 1)
    throw new Error(`createVerifyCache: maxEntries must be a positive integer, got ${maxEntries}`);
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 1)
    throw new Error(`createVerifyCache: ttlMs must be a positive integer, got ${ttlMs}`);
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
  return {
    options,
    endedMemory: options.endedMemory ?? 10_000,
    entries,
    bySession,
    ended: new Map(),
    forgottenEpoch: 0,
    epoch: 0,
    generation: 0,
    healthy: false,
    freshUntil: Number.NEGATIVE_INFINITY,
  };
}

/** Serving while the feed's last proof of health has not lapsed; a lapsed proof counts as down. */
function isServing<V extends CachedSession>(state: VerifyCacheState<V>): boolean {
  if (!state.healthy) return false;
  if (state.options.now() < state.freshUntil) return true;
  markFeedDown(state);
  return false;
}

function markFeedFresh<V extends CachedSession>(state: VerifyCacheState<V>, until: number): void {
  state.freshUntil = until;
  if (state.healthy) return;
  state.healthy = true;
  state.generation++;
  state.options.onServingChange?.(true);
}

/** The feed is down: everything cached may be stale, so all of it goes and serving stops. */
function markFeedDown<V extends CachedSession>(state: VerifyCacheState<V>): void {
  state.freshUntil = Number.NEGATIVE_INFINITY;
  if (!state.healthy) return;
  state.healthy = false;
  state.generation++;
  const removed = state.entries.size;
  state.bySession.clear();
  state.entries.clear();
  state.options.onInvalidated?.('feed_down', removed);
  state.options.onServingChange?.(false);
}

/** {@link VerifyCache.store}: keeps the answer unless the ticket shows it may be stale. */
function storeAnswer<V extends CachedSession>(
  state: VerifyCacheState<V>,
  ticket: VerifyTicket,
  key: string,
  value: V,
  expiresAtMs: number,
): boolean {
  const refuse = () => (state.options.onStoreRefused?.(), false);
  if (!isServing(state) || ticket.generation !== state.generation) return refuse();
  if (state.ended.has(value.sessionId) || state.forgottenEpoch > ticket.epoch) return refuse();
  // lru-cache serves an entry while its age is <= ttl; gone at the limit itself.
  const ttl = Math.min(state.options.ttlMs, expiresAtMs - state.options.now()) - 1;
  if (ttl < 1) return false;
  const previous = state.bySession.get(value.sessionId);
  if (previous !== undefined && previous !== key) state.entries.delete(previous);
  state.entries.set(key, value, { ttl });
  state.bySession.set(value.sessionId, key);
  return true;
}

/** {@link VerifyCache.invalidate}: drops the session's entry and remembers that it ended. */
function invalidateSession<V extends CachedSession>(state: VerifyCacheState<V>, sessionId: string): void {
  rememberEnded(state, sessionId);
  const key = state.bySession.get(sessionId);
  if (key !== undefined) state.entries.delete(key);
  state.options.onInvalidated?.('session_ended', key === undefined ? 0 : 1);
}

/** Records the session as ended at a new epoch; past `endedMemory`, forgets the oldest. */
function rememberEnded<V extends CachedSession>(state: VerifyCacheState<V>, sessionId: string): void {
  state.epoch++;
  state.ended.delete(sessionId);
  state.ended.set(sessionId, state.epoch);
  if (state.ended.size > state.endedMemory) {
    const [oldest, at] = state.ended.entries().next().value!;
    state.ended.delete(oldest);
    state.forgottenEpoch = at;
  }
}
