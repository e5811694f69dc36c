import {
  sessionVerifierFrom,
  type SessionTokenVerifier,
  type SessionVerifyClient,
  type VerifiedSession,
} from '@wxmesh/rpc';
import { startVerifyCache, type StartVerifyCacheOptions } from './start-verify-cache.js';
import type { VerifyCache } from './verify-cache.js';
import { SESSION_TOKEN_CACHE_METRICS, type VerifyCacheMetrics } from './verify-cache-metrics.js';

/** What {@link cachedSessionVerifier} is built from: a started cache, its metrics, and the lookup behind it. */
export interface CachedSessionVerifierParts {
  readonly cache: VerifyCache<VerifiedSession>;
  readonly metrics: VerifyCacheMetrics;
  /**
   * Where a miss goes, e.g. `sessionVerifierFrom(<auth-verify peer client>)`: the session with its
   * expiry (`expiresAt`, epoch ms), or undefined for a token with no live session.
   */
  readonly lookup: SessionTokenVerifier;
}

/**
 * The kit's Bearer check over a warm cache: a repeat token is a SHA-256 and an LRU lookup, and
 * `lookup` is asked only on a miss, or on every call while the cache does not serve (its feed is
 * down). What the lookup answers is passed on as it is; only a live session that says when it
 * expires is kept, until `min(now + ttl, expiresAt)`, so an entry never outlives its session.
 * Unknown tokens and failures (auth-verify unreachable) are never cached: a token revoked or not yet
 * known is asked about again, and an outage keeps its code.
 *
 * A miss takes a ticket before the lookup, so a SessionEnded that races it (seen by this process's
 * feed before the answer comes back) keeps the answer out of the cache.
 */
export function cachedSessionVerifier(parts: CachedSessionVerifierParts): SessionTokenVerifier {
  const { cache, metrics, lookup } = parts;
  return async (token, signal) => {
    if (!cache.serving()) {
      metrics.lookup('bypass');
      return lookup(token, signal);
    }
    const key = cache.keyOf(token);
    const hit = cache.get(key);
    metrics.lookup(hit === undefined ? 'miss' : 'hit');
    if (hit !== undefined) return hit;
    const ticket = cache.begin();
    const session = await lookup(token, signal);
    if (session?.expiresAt !== undefined) cache.store(ticket, key, session, session.expiresAt);
    return session;
  };
}

/** Options of {@link startSessionTokenCache}. */
export interface SessionTokenCacheOptions extends StartVerifyCacheOptions {
  /** Where a miss goes; see {@link CachedSessionVerifierParts.lookup}. */
  readonly lookup: SessionTokenVerifier;
}

/** A running session-token cache; see {@link startSessionTokenCache}. */
export interface SessionTokenCache {
  /** The kit's `verifySessionToken` (return it from `runService`'s build). */
  readonly verifySessionToken: SessionTokenVerifier;
  readonly cache: VerifyCache<VerifiedSession>;
  /** Stops the SessionEnded feed (put it in the service's closers); lookups then bypass the cache. */
  stop(): Promise<void>;
}

/**
 * Verifies session tokens in this process, against the same kind of warm cache auth-verify keeps:
 * starts the cache and its private SessionEnded feed ({@link startVerifyCache}) and puts it in
 * front of `lookup` ({@link cachedSessionVerifier}). For a service that accepts Bearer tokens at its
 * edge and would otherwise ask auth-verify on every call.
 *
 * A revoked token stops verifying here when this process's feed sees its SessionEnded (the event's
 * trip through Kafka); a delayed event is bounded by `ttlMs`, a broken feed by `feedStaleMs`.
 */
export async function startSessionTokenCache(options: SessionTokenCacheOptions): Promise<SessionTokenCache> {
  const { cache, metrics, stop } = await startVerifyCache<VerifiedSession>(options);
  return {
    verifySessionToken: cachedSessionVerifier({ cache, metrics, lookup: options.lookup }),
    cache,
    stop,
  };
}

/** Options of {@link startBearerCheck}. */
export interface BearerCheckOptions extends Pick<StartVerifyCacheOptions, 'kafka' | 'logger' | 'now'> {
  /** A peer client of auth-verify offering VerifySession; {@link BearerCheck.stop} closes it. */
  readonly authVerify: SessionVerifyClient & { close(): void };
  /** This service's name, which names its feed's consumer group. */
  readonly service: string;
  /** The service's {@link sessionTokenCacheConfig} fields; `VERIFY_CACHE_TTL=0` turns the cache off. */
  readonly config: { VERIFY_CACHE_TTL: number; VERIFY_CACHE_MAX: number; VERIFY_CACHE_FEED_STALE: number };
}

/** A running Bearer check; see {@link startBearerCheck}. */
export interface BearerCheck {
  /** The kit's `verifySessionToken` (return it from `runService`'s build). */
  readonly verifySessionToken: SessionTokenVerifier;
  /** Stops the feed and closes the auth-verify client (put it in the service's closers). */
  stop(): Promise<void>;
}

/**
 * The Bearer check of a service that is not auth-verify: auth-verify.VerifySession behind this
 * process's own warm cache ({@link startSessionTokenCache}, metrics `wxmesh_session_token_cache_*`),
 * or, with `VERIFY_CACHE_TTL=0`, a VerifySession call on every Bearer call.
 */
export async function startBearerCheck(options: BearerCheckOptions): Promise<BearerCheck> {
  const { authVerify, config } = options;
  const lookup = sessionVerifierFrom(authVerify);
  if (config.VERIFY_CACHE_TTL === 0)
    return { verifySessionToken: lookup, stop: async () => authVerify.close() };
  const tokens = await startSessionTokenCache({
    kafka: options.kafka,
    logger: options.logger,
    now: options.now,
    ttlMs: config.VERIFY_CACHE_TTL,
    maxEntries: config.VERIFY_CACHE_MAX,
    feedStaleMs: config.VERIFY_CACHE_FEED_STALE,
    metricsPrefix: SESSION_TOKEN_CACHE_METRICS,
    groupPrefix: `${options.service}.session-token-cache`,
    lookup,
  });
  return {
    verifySessionToken: tokens.verifySessionToken,
    stop: async () => {
      await tokens.stop();
      authVerify.close();
    },
  };
}
