import { checkRedisConfig, defineConfig, domainServiceConfig, duration, hostPort, url } from '@wxmesh/config';
import { sessionTokenCacheConfig } from '@wxmesh/session-tokens';
import { z } from 'zod';

/** auth-verify's configuration. */
export const authConfigSchema = defineConfig({
  ...domainServiceConfig,
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
  /** VerifySession's cache: `VERIFY_CACHE_TTL` (`0` off), `VERIFY_CACHE_MAX`, `VERIFY_CACHE_FEED_STALE`. */
  ...sessionTokenCacheConfig,
}).superRefine(checkRedisConfig);

export type AuthConfig = z.output<typeof authConfigSchema>;
