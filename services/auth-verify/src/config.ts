import {
  boolean,
  hostPort,
  commonServiceConfig,
  defineConfig,
  duration,
  envField,
  integer,
  kafkaBrokers,
  redisUrl,
  url,
} from '@wxmesh/config';
import { z } from 'zod';

/** auth-verify's configuration. */
export const authConfigSchema = defineConfig({
  ...commonServiceConfig,
  REDIS_URL: redisUrl(),
  KAFKA_BROKERS: kafkaBrokers(),
  EVENTS_CREATE_TOPICS: boolean().default(true),
  /** The session service's grpc address. */
  SESSION_ADDR: hostPort(),
  /** WeChat's API host; the sandbox's URL in local runs and tests. */
  WECHAT_API_BASE_URL: url({ protocols: ['http:', 'https:'] }).default('https://api.weixin.qq.com'),
  /** File of `appid=AppSecret` lines, one per app; hot-reloaded. */
  WECHAT_APP_SECRET_FILE: z.string().trim().min(1),
  /** File holding the 32-byte AES-256-GCM key (base64) that encrypts session_keys and OAuth tokens at rest. */
  SESSION_KEY_ENCRYPTION_KEY_FILE: z.string().trim().min(1),
  /** Budget of one WeChat call. */
  WECHAT_TIMEOUT: duration().default(3_000),
  /** Breaker on WeChat: how long it stays open before a half-open probe. */
  WECHAT_BREAKER_RESET: duration().default(10_000),
  /** Refresh the central access_token / jsapi_ticket this long before it expires. */
  TOKEN_REFRESH_BEFORE: duration().default(300_000),
  /** How long a mesh OAuth refresh token lives. */
  OAUTH_REFRESH_TTL: duration().default(30 * 24 * 3600_000),
  /** A rotated refresh token presented again within this window is a concurrent duplicate, not a theft. */
  OAUTH_REUSE_GRACE: duration().default(2_000),
  /** How long the encrypted session_key is kept (the login session's max age). */
  SESSION_KEY_TTL: duration().default(30 * 24 * 3600_000),
  /**
   * Longest a VerifySession answer is served from this process's cache (never past the session's
   * own expiry); `0` turns the cache and its Kafka feed off.
   */
  VERIFY_CACHE_TTL: durationOrOff().default(30_000),
  /** Most cached VerifySession answers (least recently used evicted first). */
  VERIFY_CACHE_MAX: integer({ min: 1 }).default(100_000),
  /**
   * The cache's invalidation feed counts as down after this long without a completed Kafka fetch;
   * the cache is then cleared and bypassed until the feed fetches again. It bounds how long a
   * revocation can be missed when the feed breaks.
   */
  VERIFY_CACHE_FEED_STALE: duration().default(3_000),
});

/** `0` (off) or a positive duration. */
function durationOrOff() {
  const positive = duration();
  return envField('0 (off) or a duration such as 500ms, 30s or 5m', (raw) =>
    raw === '0' ? 0 : positive.safeParse(raw).data,
  );
}

export type AuthConfig = z.output<typeof authConfigSchema>;
