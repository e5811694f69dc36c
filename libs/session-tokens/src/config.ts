import { duration, durationOrOff, hostPort, integer } from '@wxmesh/config';

/**
 * The cache's configuration fields, the same in every service that keeps one; spread them into
 * `defineConfig`:
 *
 * - `VERIFY_CACHE_TTL` (default 30s; `0` or `off` turns the cache and its Kafka feed off): longest
 *   a verified token is served from memory, and so how long a revocation whose event is delayed
 *   can be missed. Never past the session's own expiry.
 * - `VERIFY_CACHE_MAX` (default 100,000): most cached tokens, least recently used evicted first.
 * - `VERIFY_CACHE_FEED_STALE` (default 3s): the invalidation feed counts as down after this long
 *   without a completed Kafka fetch; the cache is then cleared and bypassed until it fetches again.
 *   It bounds how long a revocation can be missed when the feed breaks.
 */
export const sessionTokenCacheConfig = {
  VERIFY_CACHE_TTL: durationOrOff().default(30_000),
  VERIFY_CACHE_MAX: integer({ min: 1 }).default(100_000),
  VERIFY_CACHE_FEED_STALE: duration().default(3_000),
};

/**
 * The fields of a service whose http port also accepts mini-program users signed in with
 * `Authorization: Bearer <session token>`; spread them into `defineConfig`. `AUTH_VERIFY_ADDR` is
 * auth-verify's grpc address (`host:port`): set, Bearer tokens are verified by its VerifySession
 * behind this process's own warm cache ({@link sessionTokenCacheConfig}); unset, the service knows
 * users only by the cloud gateway's `X-WX-*` identity.
 */
export const bearerTokenConfig = {
  AUTH_VERIFY_ADDR: hostPort().optional(),
  ...sessionTokenCacheConfig,
};
