export { bearerTokenConfig, sessionTokenCacheConfig } from './config.js';
export {
  createSessionEndedFeed,
  type SessionEndedFeed,
  type SessionEndedFeedOptions,
} from './session-ended-feed.js';
export {
  cachedSessionVerifier,
  startBearerCheck,
  startSessionTokenCache,
  type BearerCheck,
  type BearerCheckOptions,
  type CachedSessionVerifierParts,
  type SessionTokenCache,
  type SessionTokenCacheOptions,
} from './session-token-cache.js';
export {
  startVerifyCache,
  type RunningVerifyCache,
  type StartVerifyCacheOptions,
} from './start-verify-cache.js';
export {
  createVerifyCache,
  type CachedSession,
  type VerifyCache,
  type VerifyCacheOptions,
  type VerifyTicket,
} from './verify-cache.js';
export {
  AUTH_VERIFY_CACHE_METRICS,
  createVerifyCacheMetrics,
  SESSION_TOKEN_CACHE_METRICS,
  type VerifyCacheMetrics,
} from './verify-cache-metrics.js';
